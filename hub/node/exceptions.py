"""Errors of the participant runtime and the offices on it. One root; each carries the code
that goes on the wire or the screen."""

from __future__ import annotations

__all__ = [
    "ApplicationRefused",
    "BadRequest",
    "EnrollmentRefused",
    "NoRecord",
    "NotIdentified",
    "OfficeError",
]


class OfficeError(Exception):
    code = "office.error"

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class EnrollmentRefused(OfficeError):
    """The network did not give this office a token for the number presented."""


class NotIdentified(OfficeError):
    """A login failed: the network named no holder of the authentication certificate (J-LIS
    refused it, the hub refused the office, or no answer came in time)."""


class NoRecord(OfficeError):
    """Raised by a provider that has the person but not what was asked (e.g. that fiscal year)."""

    def __init__(self, reason: str) -> None:
        super().__init__("office.no_record", reason)


class BadRequest(OfficeError):
    """Raised by a provider when the question itself is incomplete (e.g. no fiscal year)."""

    def __init__(self, reason: str) -> None:
        super().__init__("office.bad_request", reason)


class ApplicationRefused(OfficeError):
    """An office does not accept an electronic application (e.g. its signature does not verify);
    ``code`` says why, for the resident's screen (``nta.signature_invalid``, ...)."""
