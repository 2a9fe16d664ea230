"""The relying party's side: check a signed application or a login against the CA.

:mod:`verify` (the pure path and revocation checks), :mod:`status` (OCSP request and response)
and :mod:`client` (the I/O: fetch a CRL, ask the responder, verify a signed application).
"""
