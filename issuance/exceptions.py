"""The certificate issuance centre's errors and refusal codes: each says, in Japanese and
English, what the kiosk's screen shows."""

from __future__ import annotations

from typing import Final

__all__ = [
    "ISSUANCE_BAD_OPTIONS",
    "ISSUANCE_BAD_PDF",
    "ISSUANCE_BAD_REQUEST",
    "ISSUANCE_BAD_RESPONSE",
    "ISSUANCE_CARD_REFUSED",
    "ISSUANCE_CLOSED",
    "ISSUANCE_NOT_ISSUED",
    "ISSUANCE_PDF_MODIFIED",
    "ISSUANCE_PDF_SIGNATURE",
    "ISSUANCE_PDF_UNTRUSTED",
    "ISSUANCE_QR_MISMATCH",
    "ISSUANCE_QR_UNREADABLE",
    "ISSUANCE_UNAVAILABLE",
    "ISSUANCE_UNKNOWN_KIND",
    "IssuanceError",
    "IssuanceRefused",
]

ISSUANCE_BAD_REQUEST: Final = "issuance.bad_request"  # a kiosk's request that does not parse
ISSUANCE_CLOSED: Final = "issuance.closed"  # outside 6:30–23:00 or on 12/29–1/3
ISSUANCE_UNKNOWN_KIND: Final = "issuance.unknown_kind"  # not a certificate the kiosk issues
ISSUANCE_BAD_OPTIONS: Final = "issuance.bad_options"  # options the certificate does not take
ISSUANCE_BAD_RESPONSE: Final = "issuance.bad_response"  # the card's answer to the challenge
ISSUANCE_CARD_REFUSED: Final = "issuance.card_refused"  # the certificate: revoked, expired …
ISSUANCE_NOT_ISSUED: Final = "issuance.not_issued"  # the municipality answered no certificate
ISSUANCE_UNAVAILABLE: Final = "issuance.unavailable"  # J-LIS or the municipality did not answer
# ``verify.py``: a certificate PDF that is not what the municipality signed
ISSUANCE_BAD_PDF: Final = "issuance.bad_pdf"
ISSUANCE_PDF_SIGNATURE: Final = "issuance.pdf_signature"
ISSUANCE_PDF_MODIFIED: Final = "issuance.pdf_modified"
ISSUANCE_PDF_UNTRUSTED: Final = "issuance.pdf_untrusted"
ISSUANCE_QR_MISMATCH: Final = "issuance.qr_mismatch"
ISSUANCE_QR_UNREADABLE: Final = "issuance.qr_unreadable"


class IssuanceError(Exception):
    """The root: ``code`` is the refusal's, ``str()`` the sentence for the screen."""

    code = "issuance.error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class IssuanceRefused(IssuanceError):
    """A request the centre (or the municipality, or J-LIS) refuses, with why."""
