"""The deadline sweeper: a forwarded query that no office answered in time is timed out.

Every hub process runs one. Every ``SWEEP_EVERY`` (sooner when the nearest deadline it read is
nearer) it takes the deadlines that fell due from the shared store (``hub.records.deadlines``,
where ``Forwarder.wait`` left them), up to ``SWEEP_LIMIT`` in one transaction that no other
sweeper shares, and for each:

- no access record under its key: the ``Finisher`` records ``timed_out`` and replies (durable
  before the reply; the first outcome recorded wins, so an answer that lands meanwhile is kept
  and nothing is sent twice);
- a ``timed_out`` record that this sweeper wrote but could not reply to (its publish failed:
  it keeps the key, ``_unsent``): the finisher sends the recorded time-out again;
- any other record (the query was answered; or timed out by the answer path — an answer taken
  after the deadline — or by another sweeper, each of which replied): nothing;
- a context that does not open, or is not its key's: logged and dropped.

Then all of them are deleted and the transaction commits — but a row whose time-out could not
be finished (the broker gone, say: logged) stays for a later sweep, which finds its time-out
recorded and sends it. A sweeper that dies mid-way leaves all its rows to the next sweep (its
transaction rolls back); a time-out it recorded and never sent is not sent by another (none
can tell it from one the answer path recorded and sent: a copy each time a late answer came
was found in CI), and the requester has concluded as much at its own deadline. A time-out
comes at most a sweep late.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from uuid import UUID

from hub.log import get_logger
from hub.records import DeadlineStore, Due, InvalidRecord
from hub.routing.context import ContextSealer
from hub.routing.exceptions import ForgedContext
from hub.routing.finish import Finisher, record_key
from hub.tracing import OFF, Tracing, current, parent
from hub.wire import TimedOut

__all__ = ["SWEEP_EVERY", "SWEEP_LIMIT", "Sweeper"]

log = get_logger("hub.deadlines")
SWEEP_EVERY = 0.25
"""Seconds between sweeps at most: how late a time-out may be recorded."""
SWEEP_LIMIT = 256
"""Deadlines one sweep takes at most (a full sweep is followed by another at once)."""
UNSENT_MOST = 10_000  # keys of time-outs recorded and not yet sent, kept at most (see _finish)


class Sweeper:
    def __init__(
        self,
        *,
        store: DeadlineStore,
        sealer: ContextSealer,
        finisher: Finisher,
        clock: Callable[[], dt.datetime],
        tracing: Tracing = OFF,
        every: float = SWEEP_EVERY,
        limit: int = SWEEP_LIMIT,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._finisher = finisher
        self._clock = clock
        self._tracer = tracing.tracer
        self._every = every
        self._limit = limit
        self._task: asyncio.Task[None] | None = None
        self._unsent: set[UUID] = set()  # keys whose time-out this sweeper failed to finish

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                pause = await self.sweep()
            except Exception as exc:  # noqa: BLE001 - the database gone: the next sweep retries
                log.warning("deadlines.sweep_failed", error=repr(exc))
                pause = self._every
            await asyncio.sleep(pause)

    async def sweep(self) -> float:
        """One sweep: finish the due deadlines; seconds until the next one should start."""
        now = self._clock()
        nearest = await self._store.nearest()
        if nearest is None or nearest > now:
            ahead = self._every if nearest is None else (nearest - now).total_seconds()
            return min(self._every, ahead)
        async with self._store.due(now, self._limit) as due:
            ended = await asyncio.gather(
                *(self._finish(d) for d in due.rows), return_exceptions=True
            )
            for row, failed in zip(due.rows, ended, strict=True):
                if isinstance(failed, asyncio.CancelledError):
                    raise failed  # stopped: the whole sweep is left to the next
                if isinstance(failed, Exception):  # the broker gone, say: to a later sweep
                    log.warning("deadline.retry", key=str(row.key), error=repr(failed))
                    due.left.add(row.key)
                    if len(self._unsent) >= UNSENT_MOST:  # rows another process took since
                        self._unsent.clear()
                    self._unsent.add(row.key)
                else:
                    self._unsent.discard(row.key)
        return 0.0 if len(due.rows) >= self._limit and not due.left else self._every

    async def _finish(self, due: Due) -> None:
        if due.outcome is not None and not (due.outcome == "timed_out" and due.key in self._unsent):
            return  # answered, or timed out and replied elsewhere: the row just goes
        try:
            ctx = self._sealer.open(due.context)
        except ForgedContext as exc:
            log.warning("deadline.refused", code=exc.code, reason=str(exc), key=str(due.key))
            return
        if record_key(ctx.requester, ctx.query_id) != due.key:
            why = "a deadline's context is not its key's query"
            log.warning("deadline.refused", code=ForgedContext.code, reason=why, key=str(due.key))
            return
        with current(self._tracer.start_span("timeout", context=parent(ctx.traceparent))):
            outcome = TimedOut(reason=f"{ctx.provider} did not answer before the deadline")
            try:
                await self._finisher.finish(ctx, outcome, redelivered=due.outcome is not None)
            except InvalidRecord as exc:  # never recordable: not the hub's own (a bug)
                log.warning("deadline.unrecordable", key=str(due.key), reason=str(exc))
