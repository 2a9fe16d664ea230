"""The portal's errors, and the codes of the applications it refuses itself.

A login the card, its certificate or the challenge cannot make raises :class:`LoginRefused`
(:class:`ChallengeRefused` when the response does not answer its pre-login; its ``code`` is for
the log); a client over the login limits, :class:`TooMany` (a 429); a hub or an office that
does not answer, :class:`Unavailable`. An application whose signer the portal cannot read, or
who is not the resident logged in, is refused with one of the codes below (``portal/README.md``,
"Error codes").
"""

from __future__ import annotations

import math
from typing import Final

__all__ = [
    "PORTAL_BAD_SIGNATURE",
    "PORTAL_SIGNER_MISMATCH",
    "ChallengeRefused",
    "LoginRefused",
    "TooMany",
    "Unavailable",
    "UnreadableSignature",
]


class LoginRefused(Exception):
    """The card, its certificate or the challenge cannot log in; ``str`` says why."""


class ChallengeRefused(LoginRefused):
    """A login response that does not answer its pre-login; ``code`` is for the log."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class TooMany(Exception):
    """Refused until ``wait`` seconds have passed; ``scope`` (client, portal, pending, store)
    is for the log."""

    def __init__(self, scope: str, wait: float) -> None:
        super().__init__(f"too many login requests ({scope}): retry in {wait:.0f} s")
        self.scope = scope
        self.wait = wait

    @property
    def retry_after(self) -> int:
        """Whole seconds, at least one (the ``Retry-After`` header)."""
        return max(1, math.ceil(self.wait))


class Unavailable(Exception):
    """The hub or an office did not answer; ``str`` names what is unavailable."""


class UnreadableSignature(Exception):
    """A signed application whose signer cannot be read; ``str`` says why."""


PORTAL_BAD_SIGNATURE: Final = "portal.bad_signature"  # no signer could be read from it
PORTAL_SIGNER_MISMATCH: Final = "portal.signer_mismatch"  # signed with another person's card
