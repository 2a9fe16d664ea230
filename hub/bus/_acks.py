"""Acks of one AMQP channel, sent together.

A quorum queue writes every settlement to its Raft log, so at a few hundred messages a second
one ack per message is one log write (and fsync) per message. Acks are on no reply's path, so
they can wait a little: `AckBatch` holds a channel's acks for at most ``linger`` seconds (or
until ``most`` are waiting) and then sends the longest run of settled deliveries from the oldest
as one ``multiple`` ack; a delivery settled behind one still being handled is acked on its own,
so a slow handler never holds the others' acks back. Nacks go at once, through the same ordered
sender (a ``multiple`` ack sent before a nack below it would settle the failed message). What a
crash loses is only acks, so the broker redelivers messages already handled, which every
handler already treats as idempotent.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

__all__ = ["AckBatch"]

Ack = Callable[[int, bool], Awaitable[None]]  # (delivery tag, multiple)
Nack = Callable[[int, bool], Awaitable[None]]  # (delivery tag, requeue)
Later = Callable[[float, Callable[[], None]], asyncio.TimerHandle]  # the loop's call_later
# At a low rate each linger ends in an ack of its own (a timer, a task, a frame, a write, and a
# settlement in the queue's log). 0.2 s instead saved about 5 % of the hub's CPU at 1 in flight
# but doubled the p99 at half the peak in query_bench (121–177 ms against 69 ms, bench/README.md,
# issue 19), so 0.05 s. At a high rate ``most`` sends them first. A crash redelivers what was
# handled in the last linger.
LINGER = 0.05


class AckBatch:
    def __init__(
        self,
        ack: Ack,
        nack: Nack,
        *,
        linger: float = LINGER,
        most: int = 64,
        call_later: Later | None = None,
    ) -> None:
        """``call_later``: how the linger is timed; the running loop's unless given."""
        self._ack = ack
        self._nack = nack
        self._linger = linger
        self._most = most
        self._call_later = call_later
        self._open: dict[int, bool] = {}  # delivered and not yet settled: tag → handled
        self._ready = 0
        self._timer: asyncio.TimerHandle | None = None
        self._outbox: list[Callable[[], Awaitable[None]]] = []
        self._sender: asyncio.Task[None] | None = None
        self._closed = False

    def delivered(self, tag: int) -> None:
        self._open[tag] = False

    def ack(self, tag: int) -> None:
        if self._open.get(tag) is not False:
            return
        self._open[tag] = True
        self._ready += 1
        if self._ready >= self._most:
            self._spawn()
        elif self._timer is None and not self._closed:
            later = self._call_later or asyncio.get_running_loop().call_later
            self._timer = later(self._linger, self._spawn)

    def nack(self, tag: int, *, requeue: bool) -> None:
        if self._open.get(tag) is not False:
            return
        del self._open[tag]
        self._outbox.append(functools.partial(self._nack, tag, requeue))
        self._start()

    def take(self) -> list[tuple[int, bool]]:
        """The acks to send now, as (tag, multiple): one for the settled run from the oldest,
        one each for those settled behind a delivery still being handled."""
        out: list[tuple[int, bool]] = []
        run_end: int | None = None
        blocked = False
        for tag, done in sorted(self._open.items()):
            if not done:
                blocked = True
            elif blocked:
                out.append((tag, False))
                del self._open[tag]
            else:
                run_end = tag
                del self._open[tag]
        if run_end is not None:
            out.insert(0, (run_end, True))
        self._ready = 0
        return out

    async def flush(self, grace: float = 5.0) -> None:
        """Send every settlement now (before the channel closes), waiting at most ``grace``
        seconds: a channel that cannot take them any more loses them (they are redelivered)."""
        self._spawn()
        sender = self._sender
        if sender is not None:
            done, _ = await asyncio.wait({sender}, timeout=grace)
            if not done:
                self.close()

    def close(self) -> None:
        """The channel is gone: whatever is still held or queued is lost with it."""
        self._closed = True
        self._cancel_timer()
        self._outbox.clear()
        if self._sender is not None:
            self._sender.cancel()

    def _spawn(self) -> None:
        self._cancel_timer()
        self._outbox += [functools.partial(self._ack, *a) for a in self.take()]
        self._start()

    def _start(self) -> None:
        if self._outbox and self._sender is None and not self._closed:
            self._sender = asyncio.ensure_future(self._send_all())

    async def _send_all(self) -> None:
        """One sender, in order: a multiple ack overtaking a single ack or a nack below it
        would settle a message twice (a channel error) or settle the failed one."""
        try:
            while self._outbox:
                await self._outbox.pop(0)()
        finally:
            self._sender = None

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
