"""Errors of the participant runtime and the offices on it. One root; each carries the code
that goes on the wire or the screen. The codes of the node's own answers and dead letters are
the constants below, each named after its code (``hub/node/README.md``, "Error codes")."""

from __future__ import annotations

from typing import Final

__all__ = [
    "OFFICE_BACK_PRESSURE",
    "OFFICE_NOT_A_PROVIDER",
    "OFFICE_NOT_FROM_HUB",
    "OFFICE_NO_APPLICATIONS",
    "OFFICE_NO_JLIS_KEY",
    "OFFICE_SYSTEM_ERROR",
    "OFFICE_TIMED_OUT",
    "OFFICE_UNEXPECTED",
    "OFFICE_UNREADABLE_ANSWER",
    "OFFICE_UNSENDABLE_ANSWER",
    "ApplicationRefused",
    "BadRequest",
    "EnrollmentRefused",
    "NoRecord",
    "NotIdentified",
    "OfficeError",
    "QueryRefused",
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

    code = "office.no_record"

    def __init__(self, reason: str) -> None:
        super().__init__(NoRecord.code, reason)


class BadRequest(OfficeError):
    """Raised by a provider when the question itself is incomplete (e.g. no fiscal year)."""

    code = "office.bad_request"

    def __init__(self, reason: str) -> None:
        super().__init__(BadRequest.code, reason)


class ApplicationRefused(OfficeError):
    """An office does not accept an electronic application (e.g. its signature does not verify);
    ``code`` says why, for the resident's screen (``nta.signature_invalid``, ...)."""


class QueryRefused(OfficeError):
    """A provider refuses to answer a lawful query for a reason of its own data (a resident under
    a DV support measure asking at a kiosk, ...): answered ``Refused`` with ``code`` and the
    sentence, which the requester shows (``agencies/municipality/issuance.py``)."""


# the node's own answers (runtime.py): to its office's calls, and to the hub for its office
OFFICE_TIMED_OUT: Final = "office.timed_out"  # no reply to an enrollment or a login in time
OFFICE_NO_JLIS_KEY: Final = "office.no_jlis_key"  # nothing to seal a number to for J-LIS
OFFICE_UNREADABLE_ANSWER: Final = "office.unreadable_answer"  # an answer not sealed for it
OFFICE_NOT_A_PROVIDER: Final = "office.not_a_provider"
OFFICE_UNSENDABLE_ANSWER: Final = "office.unsendable_answer"
OFFICE_NO_APPLICATIONS: Final = "office.no_applications"
OFFICE_SYSTEM_ERROR: Final = "office.system_error"
OFFICE_BACK_PRESSURE: Final = "office.back_pressure"  # every send of a query rejected (full queue)
# why a message was dead-lettered
OFFICE_NOT_FROM_HUB: Final = "office.not_from_hub"
OFFICE_UNEXPECTED: Final = "office.unexpected"
