"""The kiosk's errors: one root, each with its code (README "Error codes")."""

from __future__ import annotations

from typing import Final

__all__ = [
    "KIOSK_CENTRE_ANSWER",
    "KIOSK_CENTRE_UNAVAILABLE",
    "KIOSK_CROSS_SITE",
    "CentreRefused",
    "FormRefused",
    "KioskError",
]

# the centre cannot be reached, or answers something that is not its API
KIOSK_CENTRE_UNAVAILABLE: Final = "kiosk.centre_unavailable"
KIOSK_CENTRE_ANSWER: Final = "kiosk.centre_answer"
# a POST from another site than the kiosk's own page, or to another host name
KIOSK_CROSS_SITE: Final = "kiosk.cross_site"


class KioskError(Exception):
    code = "kiosk.error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FormRefused(KioskError):
    """A form the kiosk's own pages never send: a missing or unknown field, a stale screen."""

    code = "kiosk.bad_form"


class CentreRefused(KioskError):
    """The centre's refusal (its ``code`` and Japanese ``message``), or the kiosk's own
    ``kiosk.centre_*`` when the centre cannot be asked."""

    code = "kiosk.centre_refused"

    def __init__(self, refusal: str, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal
