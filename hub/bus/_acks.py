"""Acks of one AMQP channel, sent together.

A quorum queue writes every settlement to its Raft log, so at a few hundred messages a second
one ack per message is one log write (and fsync) per message. Acks are on no reply's path, so
they can wait a little: `AckBatch` holds a channel's acks for at most ``linger`` seconds (or
until ``most`` are waiting) and then sends the longest run of settled deliveries from the oldest
as one ``multiple`` ack; a delivery settled behind one still being handled is acked on its own,
so a slow handler never holds the others' acks back. Nacks go at once (they are rare and the
broker must act on them). What a crash loses is only acks, so the broker redelivers messages
already handled, which every handler already treats as idempotent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["AckBatch"]

Send = Callable[[int, bool], Awaitable[None]]  # (delivery tag, multiple)


class AckBatch:
    def __init__(self, send: Send, *, linger: float = 0.05, most: int = 64) -> None:
        self._send = send
        self._linger = linger
        self._most = most
        self._open: dict[int, bool] = {}  # delivered and not yet acked: tag → handled
        self._ready = 0
        self._timer: asyncio.TimerHandle | None = None
        self._outbox: list[tuple[int, bool]] = []
        self._sender: asyncio.Future[None] | None = None

    def delivered(self, tag: int) -> None:
        self._open[tag] = False

    def ack(self, tag: int) -> None:
        if self._open.get(tag) is not False:
            return
        self._open[tag] = True
        self._ready += 1
        if self._ready >= self._most:
            self._spawn()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._linger, self._spawn)

    def forget(self, tag: int) -> None:
        """A delivery settled otherwise (a nack): never ack it."""
        if self._open.pop(tag, False):
            self._ready -= 1

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

    async def flush(self) -> None:
        """Send every ack now (before the channel closes)."""
        self._spawn()
        if self._sender is not None:
            await asyncio.shield(self._sender)

    def _spawn(self) -> None:
        self._cancel_timer()
        self._outbox += self.take()
        if self._outbox and self._sender is None:
            self._sender = asyncio.ensure_future(self._send_all())

    async def _send_all(self) -> None:
        """One sender, in order: a multiple ack overtaking a single one below it would make
        the single one an unknown tag (a channel error)."""
        try:
            while self._outbox:
                tag, multiple = self._outbox.pop(0)
                await self._send(tag, multiple)
        finally:
            self._sender = None

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
