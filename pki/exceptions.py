"""The PKI's errors: one root, :class:`PkiError`, each with a wire-style ``code``.

Operators and clients read the code (``pki.revoked``, ``pki.expired`` …) and the one-line
message; the HTTP layer maps each family to a status. Messages never carry personal data.
The codes no exception carries are the constants at the end (``pki/README.md``, "Error codes").
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "JLIS_BAD_CERTIFICATE",
    "JLIS_CERTIFICATE_REVOKED",
    "PKI_HTTP",
    "PKI_METHOD",
    "PKI_TOO_LARGE",
    "BadSignature",
    "DocumentMismatch",
    "Expired",
    "InvalidCertificate",
    "Malformed",
    "NotOnFile",
    "NotYetValid",
    "PkiError",
    "PolicyRefused",
    "RevocationUnknown",
    "Revoked",
    "StateError",
    "Unauthorized",
    "Unavailable",
    "UnknownCa",
    "WrongCa",
    "WrongKeyUsage",
    "WrongPolicy",
]


class PkiError(Exception):
    """Root of every error the PKI raises on purpose."""

    code = "pki.error"
    http_status = 500
    retry_after: int | None = None  # seconds: the HTTP answer's Retry-After, when one is due

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Malformed(PkiError):
    """Input that does not parse: truncated DER, bad PEM, wrong JSON shape."""

    code = "pki.malformed"
    http_status = 400


class PolicyRefused(PkiError):
    """Well-formed input the policy refuses (e.g. personal data for an authentication cert)."""

    code = "pki.refused"
    http_status = 422


class UnknownCa(PkiError):
    code = "pki.unknown_ca"
    http_status = 404


class NotOnFile(PkiError):
    code = "pki.not_found"
    http_status = 404


class Unauthorized(PkiError):
    code = "pki.unauthorized"
    http_status = 401


class StateError(PkiError):
    """The state directory is unusable: a key that will not decrypt, a file readable by others."""

    code = "pki.state"


class Unavailable(PkiError):
    """What an answer needs is out of reach for now (J-LIS's office stopped before a new
    certificate's link was written, or its store out of reach): nothing was handed out, ask
    again — after ``retry_after`` seconds when given (the HTTP answer's ``Retry-After``)."""

    code = "pki.unavailable"
    http_status = 503

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidCertificate(PkiError):
    """Base of every reason a signature or certificate does not verify."""

    code = "pki.invalid"
    http_status = 422


class Expired(InvalidCertificate):
    code = "pki.expired"


class NotYetValid(InvalidCertificate):
    code = "pki.not_yet_valid"


class Revoked(InvalidCertificate):
    code = "pki.revoked"


class WrongCa(InvalidCertificate):
    code = "pki.wrong_ca"


class WrongKeyUsage(InvalidCertificate):
    code = "pki.wrong_key_usage"


class WrongPolicy(InvalidCertificate):
    code = "pki.wrong_policy"


class BadSignature(InvalidCertificate):
    code = "pki.bad_signature"


class DocumentMismatch(InvalidCertificate):
    code = "pki.document_mismatch"


class RevocationUnknown(InvalidCertificate):
    """No usable revocation information (CRL stale or unsigned, OCSP unreachable)."""

    code = "pki.revocation_unknown"


# the HTTP API's answers to a request it has no route or method for, or a body too large
PKI_METHOD: Final = "pki.method"
PKI_TOO_LARGE: Final = "pki.too_large"
PKI_HTTP: Final = "pki.http"  # any other HTTP error
# the office ``jlis-pki`` (``ca/office.py``) refusing to name a certificate's holder
JLIS_BAD_CERTIFICATE: Final = "jlis.bad_certificate"
JLIS_CERTIFICATE_REVOKED: Final = "jlis.certificate_revoked"
