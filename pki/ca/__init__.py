"""The certification authority's side: issue, revoke, publish (CRL, OCSP), and its office.

:mod:`hierarchy` (root and issuing CAs), :mod:`keystore` (keys at rest), :mod:`ledger`
(certificates and revocations), :mod:`authority` (:class:`CertificationAuthority`),
:mod:`revocation` and :mod:`validity` (pure policies), :mod:`crl` (built here, checked by the
relying party too) and :mod:`ocsp` (the responder), :mod:`verifiers` (who may ask OCSP),
:mod:`api` and :mod:`server` (the HTTP service), :mod:`selfrevoke` (a resident revokes with
their own signature), :mod:`office` (the CA's office on the network). Imports nothing of
:mod:`pki.relying`.
"""
