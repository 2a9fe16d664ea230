"""Errors of the season replay: one root, each with a stable code (README "Error codes")."""

from __future__ import annotations

from typing import ClassVar, Final

__all__ = [
    "REPLAY_APPLICATION_REFUSED",
    "REPLAY_APPLICATION_UNANSWERED",
    "REPLAY_FAILED",
    "REPLAY_LOGIN_LIMITED",
    "REPLAY_LOGIN_MISNAMED",
    "REPLAY_LOGIN_REFUSED",
    "REPLAY_LOGIN_UNANSWERED",
    "REPLAY_PAGE_UNAVAILABLE",
    "REPLAY_POPULATION_EXHAUSTED",
    "REPLAY_PORTAL_ERROR",
    "BadOption",
    "BadSeason",
    "LoadtestError",
    "MissingExtra",
    "UnknownSeason",
]

# a message's outcome the replayer gives itself (counted under its code, never raised)
REPLAY_FAILED: Final = "replay.failed"  # the send raised
REPLAY_POPULATION_EXHAUSTED: Final = "replay.population_exhausted"  # no one left to change
REPLAY_PAGE_UNAVAILABLE: Final = "replay.page_unavailable"  # the portal could not show a page
REPLAY_LOGIN_REFUSED: Final = "replay.login_refused"  # the certificate, or no holder named
REPLAY_LOGIN_UNANSWERED: Final = "replay.login_unanswered"  # J-LIS or the hub, not in time
REPLAY_LOGIN_MISNAMED: Final = "replay.login_misnamed"  # named another than the card's holder
REPLAY_LOGIN_LIMITED: Final = "replay.login_limited"  # the portal's login limits (HTTP 429)
REPLAY_PORTAL_ERROR: Final = "replay.portal_error"  # an HTTP answer no page of the portal gives
REPLAY_APPLICATION_UNANSWERED: Final = "replay.application_unanswered"  # not in time
REPLAY_APPLICATION_REFUSED: Final = "replay.application_refused"  # refused, no code given


class LoadtestError(Exception):
    """Root of every error raised by ``loadtest``."""

    code: ClassVar[str] = "loadtest.error"


class BadSeason(LoadtestError, ValueError):
    """A season file that is not valid TOML or breaks the schema; the message names the field."""

    code: ClassVar[str] = "loadtest.bad_season"


class UnknownSeason(LoadtestError, LookupError):
    """No season of that name under ``loadtest/seasons/``."""

    code: ClassVar[str] = "loadtest.unknown_season"


class BadOption(LoadtestError, ValueError):
    """A replay option out of range (a duration, a rate, a compression, both rate and scale)."""

    code: ClassVar[str] = "loadtest.bad_option"


class MissingExtra(LoadtestError, ImportError):
    """The optional extra `loadtest` (hdrhistogram, matplotlib, rich, psutil) is not installed."""

    code: ClassVar[str] = "loadtest.missing_extra"
