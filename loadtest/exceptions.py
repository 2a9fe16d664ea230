"""Errors of the season replay: one root, each with a stable code (README "Error codes")."""

from __future__ import annotations

from typing import ClassVar, Final

__all__ = [
    "REPLAY_FAILED",
    "REPLAY_PAGE_UNAVAILABLE",
    "REPLAY_POPULATION_EXHAUSTED",
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
