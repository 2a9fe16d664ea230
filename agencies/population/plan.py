"""The offices a population is written to, by role, and each office's own local ids (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agencies.population.households import Person

__all__ = ["LocalIds", "Plan", "Row", "age_on", "fiscal_year"]

# (office, collection, local id, holder rrc or None, document, since ISO date or None)
Row = tuple[str, str, str, str | None, dict[str, Any], str | None]


@dataclass(frozen=True, slots=True)
class Plan:
    """The offices of the network by role; a role with no office is simply not written.

    ``municipal``: municipality code → role → office code, roles ``resident``, ``tax``,
    ``child``, ``nhi``, ``care``, ``disability``, ``welfare``, ``child_rearing`` (児童扶養手当,
    the ward's). ``prefectural``: 2-digit
    prefecture code → role → office code, roles ``prefecture`` and ``koiki``. National roles:
    ``jlis`` (the numbering registry), ``pension`` (日本年金機構), ``health`` (協会けんぽ),
    ``employment`` (ハローワーク).
    """

    jlis: str | None = "jlis"
    pension: str | None = None
    health: str | None = None
    employment: str | None = None
    municipal: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    prefectural: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def offices(self) -> list[str]:
        """Every office code the plan writes to, in a stable order."""
        codes = [self.jlis, self.pension, self.health, self.employment]
        for roles in (*self.municipal.values(), *self.prefectural.values()):
            codes += roles.values()
        return sorted({c for c in codes if c})


class LocalIds:
    """Each office's own ids within one chunk of the population: prefix, chunk, counter.

    The chunk (3 digits) makes ids unique across chunks generated independently; the counter
    (5 digits) runs per office within the chunk.
    """

    __slots__ = ("_chunk", "_counts")

    def __init__(self, chunk: int) -> None:
        if not 0 <= chunk < 1000:
            raise ValueError("a chunk number has 3 digits")
        self._chunk = f"{chunk:03d}"
        self._counts: dict[str, int] = {}

    def next(self, office: str, prefix: str) -> str:
        n = self._counts.get(office, 0) + 1
        self._counts[office] = n
        return f"{prefix}{self._chunk}{n:05d}"


def fiscal_year(today: dt.date) -> int:
    """The fiscal year (年度, April–March) that contains ``today``."""
    return today.year if today.month >= 4 else today.year - 1


def age_on(p: Person, on: dt.date) -> int:
    b = dt.date.fromisoformat(p.birth_date)
    return on.year - b.year - ((on.month, on.day) < (b.month, b.day))
