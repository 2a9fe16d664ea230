"""The public-key infrastructure (JPKI): certification authority, CRL, OCSP, verifiers."""
