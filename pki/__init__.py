"""The public-key infrastructure (JPKI): certification authority, CRL, OCSP, verifiers.

The Python API: :class:`CertificationAuthority` (issue, revoke, ``apply_event``, CRLs, OCSP),
``create_app`` for its HTTP service, ``sign_document`` / ``verify_signed`` for electronic
applications, and the pure policies (``revocations_for``, ``validity``). See README.md.
"""

from pki.ca.authority import CertificationAuthority, Issued
from pki.ca.hierarchy import Hierarchy
from pki.ca.revocation import EventKind, RequestReason, ResidentEvent, Revocation, revocations_for
from pki.ca.server import create_app
from pki.ca.validity import validity
from pki.ca.verifiers import Verifier, VerifierKind, VerifierRegistry
from pki.cms import parse_signed, sign_document, sign_document_with
from pki.exceptions import (
    BadSignature,
    DocumentMismatch,
    Expired,
    InvalidCertificate,
    Malformed,
    NotOnFile,
    NotYetValid,
    PkiError,
    PolicyRefused,
    RevocationUnknown,
    Revoked,
    StateError,
    Unauthorized,
    UnknownCa,
    WrongCa,
    WrongKeyUsage,
    WrongPolicy,
)
from pki.facts import Locality, ResidentFacts, Sex, facts_from_certificate
from pki.profiles import POLICY, CaName, CertKind, Endpoints
from pki.relying.client import RevocationChecker, RevocationSource, verify_login, verify_signed
from pki.relying.verify import Trust, VerifiedSignature

__all__ = [
    "POLICY",
    "BadSignature",
    "CaName",
    "CertKind",
    "CertificationAuthority",
    "DocumentMismatch",
    "Endpoints",
    "EventKind",
    "Expired",
    "Hierarchy",
    "InvalidCertificate",
    "Issued",
    "Locality",
    "Malformed",
    "NotOnFile",
    "NotYetValid",
    "PkiError",
    "PolicyRefused",
    "RequestReason",
    "ResidentEvent",
    "ResidentFacts",
    "Revocation",
    "RevocationChecker",
    "RevocationSource",
    "RevocationUnknown",
    "Revoked",
    "Sex",
    "StateError",
    "Trust",
    "Unauthorized",
    "UnknownCa",
    "VerifiedSignature",
    "Verifier",
    "VerifierKind",
    "VerifierRegistry",
    "WrongCa",
    "WrongKeyUsage",
    "WrongPolicy",
    "create_app",
    "facts_from_certificate",
    "parse_signed",
    "revocations_for",
    "sign_document",
    "sign_document_with",
    "validity",
    "verify_login",
    "verify_signed",
]
