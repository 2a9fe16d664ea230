"""Token buckets by key, in one process's memory (pure): the portal's login limits per client
and overall, and the monitor's span rate per source count with these. `refill` and `granted`
are the arithmetic alone, for a bucket kept elsewhere (the hub's quotas of queries and
enrollments, shared by its processes in PostgreSQL, compute the same).

A bucket holds up to ``burst`` tokens and refills at ``per_second``; a key not seen (or
forgotten: at most ``keys`` are remembered, the least recently used go first) has a full one.
Time is the caller's (seconds, any origin), so tests inject it; a clock set back refills
nothing and counts nothing twice.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["Buckets", "Rate", "granted", "refill"]


@dataclass(frozen=True, slots=True)
class Rate:
    """``burst`` at once, then ``per_second`` (0: never refilled)."""

    burst: int
    per_second: float

    def __post_init__(self) -> None:
        if self.burst < 1 or not self.per_second >= 0:
            raise ValueError("a rate needs a burst of at least 1 and a non-negative refill")


class Buckets:
    def __init__(self, rate: Rate, keys: int = 100_000) -> None:
        self.rate = rate
        self._keys = keys
        self._levels: OrderedDict[str, tuple[float, float]] = OrderedDict()  # (tokens, when)

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` has a token (0: it has one now; inf: never); takes nothing."""
        level, _ = self._level(key, now)
        if level >= 1.0:
            return 0.0
        return math.inf if self.rate.per_second == 0 else (1.0 - level) / self.rate.per_second

    def take(self, key: str, now: float, n: int = 1) -> int:
        """Take up to ``n`` whole tokens from ``key``'s bucket; how many it had (for one: 1 or
        0, truthy when taken)."""
        level, at = self._level(key, now)
        taken = granted(level, n)
        self._levels[key] = (level - taken, at)
        self._levels.move_to_end(key)
        while len(self._levels) > self._keys:
            self._levels.popitem(last=False)
        return taken

    def _level(self, key: str, now: float) -> tuple[float, float]:
        """The tokens at ``now``, counted up to when."""
        level, last = self._levels.get(key, (float(self.rate.burst), now))
        return refill(level, last, now, self.rate), max(now, last)


def refill(level: float, last: float, now: float, rate: Rate) -> float:
    """The tokens of a bucket that held ``level`` at ``last``, at ``now`` (a clock set back
    refills nothing)."""
    return min(float(rate.burst), level + max(0.0, now - last) * rate.per_second)


def granted(level: float, n: int) -> int:
    """How many of ``n`` whole tokens a bucket holding ``level`` gives."""
    return min(n, max(0, math.floor(level)))
