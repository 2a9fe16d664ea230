"""How long an office waits before sending a refused or rejected query again (pure), and a
step of an office's own tried again until it is done (:func:`until_done`).

Exponential back-off with jitter: the n-th pause (from 0) is drawn in ``[floor, floor + cap)``
where ``cap = min(most, first × factor^n)`` and ``floor`` is the hub's retry-after (0 for a
publish the broker refused: a full queue says no time). The jitter spreads the offices that were
refused together, so they do not come back together; the floor keeps them from coming back
before the quota has a token again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Backoff", "until_done"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float = 0.05  # seconds: the cap of the first pause
    factor: float = 2.0
    most: float = 5.0  # the largest cap
    attempts: int = 20  # sends of one query at most, whatever its deadline allows

    def __post_init__(self) -> None:
        if not (self.first > 0 and self.factor >= 1 and self.most >= self.first):
            raise ValueError("a back-off needs first > 0, factor >= 1 and most >= first")
        if self.attempts < 1:
            raise ValueError("a back-off allows at least one attempt")

    def pause(self, attempt: int, floor: float, draw: float) -> float:
        """The pause after failed attempt ``attempt`` (0 for the first); ``draw`` in [0, 1)."""
        cap = min(self.most, self.first * self.factor ** min(attempt, 64))
        return max(0.0, floor) + cap * min(max(draw, 0.0), 1.0)


async def until_done(
    step: Callable[[], Awaitable[T]], failed: Callable[[Exception, float], None], backoff: Backoff
) -> T:
    """``step()`` until it returns: after each failure ``failed(error, pause)`` (its log line),
    then the pause, ``backoff``'s whole cap (no jitter, no floor; its ``attempts`` not
    counted). Cancelled with its caller."""
    attempt = 0
    while True:
        try:
            return await step()
        except Exception as exc:  # noqa: BLE001 - the caller's ``failed`` says it
            pause = backoff.pause(attempt, 0.0, 1.0)
            failed(exc, pause)
        await asyncio.sleep(pause)
        attempt += 1
