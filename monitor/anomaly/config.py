"""The anomaly rules as data: ``rules.toml`` in this package (or a file of the operator's),
read once and checked; a malformed file is refused whole (`RulesError`), never half-loaded."""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.exceptions import RulesError

__all__ = [
    "DAYS",
    "JST",
    "SEVERITIES",
    "ChainBreak",
    "Closed",
    "NotHeld",
    "OffHours",
    "OffSeasonReads",
    "RateSpike",
    "RefusalSpike",
    "RepeatedLookups",
    "Rules",
    "Season",
    "load_rules",
]

JST = dt.timezone(dt.timedelta(hours=9), "JST")  # Japan keeps no daylight saving time
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SEVERITIES = ("notice", "warning", "critical")
Severity = Literal["notice", "warning", "critical"]
Positive = Annotated[int, Field(ge=1)]
Share = Annotated[float, Field(gt=0, le=1)]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    severity: Severity
    enabled: bool = True


class RateSpike(_Rule):
    window_minutes: Positive
    baseline_windows: Positive
    min_history: Positive
    k: Annotated[float, Field(ge=0)]
    floor: Positive


class RefusalSpike(_Rule):
    window_minutes: Positive
    min_refused: Positive
    min_share: Share


def _month_day(v: object) -> tuple[int, int]:
    if (
        not isinstance(v, str)
        or len(v) != 5
        or v[2] != "-"
        or not (v.isascii() and v.replace("-", "").isdigit())
    ):
        raise ValueError("a month and day as 'MM-DD'")
    month, day = int(v[:2]), int(v[3:])
    dt.date(2024, month, day)  # a leap year: 02-29 is a day; 02-30 raises
    return month, day


def _within(starts: tuple[int, int], ends: tuple[int, int], day: dt.date) -> bool:
    """Is ``day`` from ``starts`` to ``ends`` (month, day), inclusive, wrapping the year?"""
    md = (day.month, day.day)
    if starts <= ends:
        return starts <= md <= ends
    return md >= starts or md <= ends


class Closed(BaseModel):
    """Days an office is closed every year, month-day to month-day inclusive (may wrap)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    starts: tuple[int, int] = Field(alias="from")
    ends: tuple[int, int] = Field(alias="until")
    why: str

    @field_validator("starts", "ends", mode="before")
    @classmethod
    def _md(cls, v: object) -> tuple[int, int]:
        return _month_day(v)

    def covers(self, day: dt.date) -> bool:
        return _within(self.starts, self.ends, day)


class OffHours(_Rule):
    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...]
    opens: dt.time
    closes: dt.time
    always_open_kinds: tuple[str, ...] = ()
    public_holidays: Literal["", "JP"] = ""  # a country's public holidays are closed days
    closed: tuple[Closed, ...] = ()

    @field_validator("opens", "closes", mode="before")
    @classmethod
    def _clock(cls, v: object) -> dt.time:
        if not isinstance(v, str):
            raise ValueError("a time of day as 'HH:MM'")  # noqa: TRY004 - pydantic wants ValueError
        return dt.time.fromisoformat(v)


class NotHeld(_Rule):
    window_minutes: Positive
    min_count: Positive
    min_share: Share


class OffSeasonReads(_Rule):
    baseline_days: Positive
    min_history: Positive
    k: Annotated[float, Field(ge=0)]
    floor: Positive
    max_tracked: Positive


class RepeatedLookups(_Rule):
    window_minutes: Positive
    min_lookups: Annotated[int, Field(ge=2)]
    max_record_ids: Positive


class ChainBreak(_Rule):
    pass


class Season(BaseModel):
    """Month-day to month-day inclusive (``12-01`` to ``01-31`` wraps the year)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    name: str
    starts: tuple[int, int] = Field(alias="from")
    ends: tuple[int, int] = Field(alias="until")
    affairs: tuple[str, ...] = Field(min_length=1)
    source: str

    @field_validator("starts", "ends", mode="before")
    @classmethod
    def _md(cls, v: object) -> tuple[int, int]:
        return _month_day(v)

    def covers(self, affair: str, day: dt.date) -> bool:
        if "*" not in self.affairs and affair not in self.affairs:
            return False
        return _within(self.starts, self.ends, day)


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rate_spike: RateSpike
    refusal_spike: RefusalSpike
    off_hours: OffHours
    not_held: NotHeld
    off_season_reads: OffSeasonReads
    repeated_lookups: RepeatedLookups
    chain_break: ChainBreak


class Rules(BaseModel):
    """Every rule's parameters and the claim-season calendar."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rules: _Rules
    seasons: tuple[Season, ...] = ()

    def names(self) -> tuple[str, ...]:
        return tuple(type(self.rules).model_fields)

    def in_season(self, affair: str, day: dt.date) -> bool:
        return any(s.covers(affair, day) for s in self.seasons)


def load_rules(path: Path | None = None) -> Rules:
    """The rules of ``path``, or the packaged ``rules.toml``; `RulesError` says what is wrong."""
    where = str(path) if path else "monitor/anomaly/rules.toml"
    try:
        if path is None:
            text = resources.files("monitor.anomaly").joinpath("rules.toml").read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        return Rules.model_validate(tomllib.loads(text))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"{where}: cannot be read as TOML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise RulesError(f"{where}: {problems}") from None
