"""Per-office rate limits: a token bucket per office, in one hub worker's memory (pure).

Enrollment asks J-LIS whether a number belongs to anyone, so unbounded enrollment would make
every office a number oracle; each attempt is recorded, and the bucket bounds how fast an office
can try. Each worker keeps its own buckets: with W hub workers an office may enroll up to W
times the rate (the broker spreads its messages over them). The keys are office codes of the
registry, so the memory is bounded by the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Buckets", "Rate"]


@dataclass(frozen=True, slots=True)
class Rate:
    """``burst`` at once, refilled at ``per_second``. The default allows a register's or the
    pension service's daily enrollments (births, move-ins, new insured: hundreds to a few
    thousand a day) with a wide margin: 1 000 at once, 86 400 a day."""

    burst: int = 1000
    per_second: float = 1.0

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_second < 0:
            raise ValueError("a rate needs a burst of at least 1 and a non-negative refill")


class Buckets:
    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self._levels: dict[str, tuple[float, float]] = {}  # key → (tokens, when last counted)

    def take(self, key: str, now: float) -> bool:
        """Take one token from ``key``'s bucket at ``now`` (seconds); False if it is empty."""
        burst = float(self.rate.burst)
        level, last = self._levels.get(key, (burst, now))
        level = min(burst, level + max(0.0, now - last) * self.rate.per_second)
        allowed = level >= 1.0
        self._levels[key] = (level - 1.0 if allowed else level, now)
        return allowed
