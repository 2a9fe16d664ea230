"""A pool connection kept between the statements of the query path.

asyncpg's ``Pool.acquire`` and ``release`` cost 50–75 µs of client CPU a pair (a queue, a proxy
object, a shielded release task, the idle timer; measured on the machine of bench/README.md):
more than the statement's own round trip. At one query in flight each of the path's statements
(the hub's claim, quota, deadline and record, an office's look-up) is a batch of one, so the hub
paid that four times an answer and the office once. :class:`KeptConnection` keeps the
connection it took for the next statement of the same caller — a batcher's flush, one at a
time — and gives it back to the pool once it has been idle for ``idle`` seconds, or at once
when a statement on it fails (the pool checks a connection given back and replaces a broken
one), or when it is found closed or lost. A second caller while the kept one is in use takes a
connection of the pool as before. ``Pool.close`` waits for every connection: close a pool with
kept connections by :func:`close_pool`, which gives them back first (else the close waits up to
``idle``).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

__all__ = ["IDLE", "KeptConnection", "close_pool"]

T = TypeVar("T")
IDLE = 1.0
"""Seconds a kept connection waits unused before it goes back to the pool."""


class KeptConnection:
    def __init__(self, pool: Any, *, idle: float = IDLE) -> None:
        self._pool = pool
        self._idle = idle
        self._conn: Any = None
        self._busy = False
        self._used = 0.0  # loop time of the last statement's end
        self._timer: asyncio.TimerHandle | None = None
        _kept.add(self)

    async def run(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """``work(connection)``: on the kept connection, or on one of the pool's while the kept
        one is in use."""
        if self._busy:
            async with self._pool.acquire() as conn:
                return await work(conn)
        self._busy = True
        try:
            conn = self._conn
            if conn is not None and _lost(conn):
                self._conn = None
                await self._pool.release(conn)  # the pool replaces it
                conn = None
            if conn is None:
                conn = self._conn = await self._pool.acquire()
            try:
                result = await work(conn)
            except BaseException:
                self._conn = None  # back now: broken, cancelled mid-statement, or simply refused
                await self._pool.release(conn)
                raise
        finally:
            self._busy = False
        loop = asyncio.get_running_loop()
        self._used = loop.time()
        if self._timer is None:
            self._timer = loop.call_at(self._used + self._idle, self._check_idle)
        # one turn of the loop before the batch's callers hear, as the pool's release (a
        # shielded task) gave: the next batch gathers what that turn submits. Without it the
        # batches at the peak were smaller (PostgreSQL commits per answer +23 %, bench/README.md)
        await asyncio.sleep(0)
        return result

    def _check_idle(self) -> None:
        self._timer = None
        conn = self._conn
        if conn is None:
            return
        loop = asyncio.get_running_loop()
        if self._busy:  # in use: its end is a use
            self._timer = loop.call_later(self._idle, self._check_idle)
            return
        if loop.time() < self._used + self._idle:  # used since: look again then
            self._timer = loop.call_at(self._used + self._idle, self._check_idle)
            return
        self._conn = None
        task = loop.create_task(self._pool.release(conn))
        _releasing.add(task)
        task.add_done_callback(_releasing.discard)

    async def release(self) -> None:
        """Give the kept connection back now, unless a statement is running on it."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._conn is not None and not self._busy:
            conn, self._conn = self._conn, None
            await self._pool.release(conn)


def _lost(conn: Any) -> bool:
    """Whether the kept connection is closed, or gone from its proxy: asyncpg's pool detaches
    the proxy of a connection lost while out of the pool (its server gone, its session cut),
    and the proxy then answers every call, ``is_closed`` too, with ``InterfaceError``."""
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:
        return True


async def close_pool(pool: Any) -> None:
    """``pool.close()``, the connections kept from it given back first."""
    for kept in [k for k in _kept if k._pool is pool]:
        await kept.release()
    await pool.close()


_kept: weakref.WeakSet[KeptConnection] = weakref.WeakSet()
_releasing: set[asyncio.Task[None]] = set()  # the idle releases under way (kept referenced)
