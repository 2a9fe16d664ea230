"""The open-model replay: every message leaves when the schedule says, whatever the network does.

``replay`` sleeps until each arrival's due time and starts its send as a task of its own; it
never waits for an answer before sending the next message, so a slow network piles up
messages in flight instead of slowing the arrivals. Latency runs from the due time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from loadtest.exceptions import REPLAY_FAILED
from loadtest.schedule import Arrival, Schedule
from loadtest.stats import Outcome, Stats

__all__ = ["Send", "replay"]

log = logging.getLogger("loadtest.driver")
Send = Callable[[Arrival], Awaitable[Outcome]]


async def replay(
    schedule: Schedule,
    send: Send,
    stats: Stats,
    *,
    tick: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> float:
    """Send every arrival on time; return when all are over (the wall seconds it took).

    ``send`` returns the message's :class:`Outcome` and must not raise (an exception is
    counted as ``failed``, code ``replay.failed``, and logged). ``tick(elapsed)`` runs about
    every 0.25 s.
    """
    t0 = clock()
    tasks: set[asyncio.Task[None]] = set()

    async def one(a: Arrival) -> None:
        try:
            outcome = await send(a)
        except Exception as exc:  # noqa: BLE001 - every failure is counted, the replay goes on
            outcome = Outcome("failed", REPLAY_FAILED)
            log.warning("replay: a send raised %r", exc)
        stats.finished(a.stream, a.at, clock() - t0, outcome)

    next_tick = 0.0
    for a in schedule.arrivals:
        while True:
            now = clock() - t0
            if tick is not None and now >= next_tick:
                tick(now)
                next_tick = now + 0.25
            wait = a.at - now
            if wait <= 0:
                break
            await asyncio.sleep(min(wait, 0.25))
        stats.started(a.at, clock() - t0)
        task = asyncio.create_task(one(a))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.wait(set(tasks), timeout=0.25)
        if tick is not None:
            tick(clock() - t0)
    return clock() - t0
