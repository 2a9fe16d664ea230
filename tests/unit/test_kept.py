"""A pool connection kept between the query path's statements: one acquire for many statements
of one caller, back to the pool when idle, when a statement fails, when found closed; a second
caller meanwhile takes one of the pool's (tests/integration/records and
tests/integration/agencies/test_store_pg.py run the stores on it)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hub.kept import KeptConnection, close_pool


class Conn:
    def __init__(self, n: int) -> None:
        self.n = n
        self.closed = False

    def is_closed(self) -> bool:
        return self.closed


async def held_open(kept: KeptConnection) -> tuple[asyncio.Task[int], asyncio.Event]:
    """A statement running on ``kept`` until the event is set (then: its connection's number)."""
    gate = asyncio.Event()

    async def slow(conn: Conn) -> int:
        await gate.wait()
        return conn.n

    running = asyncio.create_task(kept.run(slow))
    await asyncio.sleep(0)
    return running, gate


class Pool:
    """What KeptConnection uses of an asyncpg pool, counting acquires and releases."""

    def __init__(self) -> None:
        self.made = 0
        self.out: set[Conn] = set()
        self.acquires = 0
        self.released: list[int] = []

    async def _take(self) -> Conn:
        self.acquires += 1
        self.made += 1
        conn = Conn(self.made)
        self.out.add(conn)
        return conn

    def acquire(self) -> Any:
        pool = self

        class Ctx:
            def __await__(self) -> Any:
                return pool._take().__await__()

            async def __aenter__(self) -> Conn:
                self.conn = await pool._take()
                return self.conn

            async def __aexit__(self, *exc: object) -> None:
                await pool.release(self.conn)

        return Ctx()

    async def release(self, conn: Conn) -> None:
        self.out.discard(conn)
        self.released.append(conn.n)


async def number(conn: Conn) -> int:
    return conn.n


async def test_one_acquire_serves_the_statements_of_one_caller() -> None:
    pool = Pool()
    kept = KeptConnection(pool, idle=10)
    assert [await kept.run(number) for _ in range(5)] == [1] * 5
    assert (pool.acquires, pool.released) == (1, [])


async def test_an_idle_connection_goes_back_to_the_pool() -> None:
    pool = Pool()
    kept = KeptConnection(pool, idle=0.05)
    await kept.run(number)
    await asyncio.sleep(0.03)
    await kept.run(number)  # used again: kept for another ``idle`` from now
    await asyncio.sleep(0.03)
    assert pool.released == []
    await asyncio.sleep(0.1)
    assert pool.released == [1] and not pool.out  # Pool.close no longer waits for it
    assert await kept.run(number) == 2  # the next statement takes one again


async def test_a_failed_statement_gives_its_connection_back() -> None:
    pool = Pool()
    kept = KeptConnection(pool, idle=10)

    async def fails(conn: Conn) -> None:
        raise ValueError("unique violation")

    await kept.run(number)
    with pytest.raises(ValueError, match="unique"):
        await kept.run(fails)
    assert pool.released == [1]
    assert await kept.run(number) == 2


async def test_a_cancelled_statement_gives_its_connection_back() -> None:
    pool = Pool()
    kept = KeptConnection(pool, idle=10)
    task = asyncio.create_task(kept.run(lambda conn: asyncio.sleep(10)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.released == [1] and not pool.out


async def test_a_closed_connection_is_given_back_and_replaced() -> None:
    pool = Pool()
    kept = KeptConnection(pool, idle=10)
    await kept.run(number)
    next(iter(pool.out)).closed = True  # the server went away meanwhile
    assert await kept.run(number) == 2
    assert pool.released == [1]


async def test_a_second_caller_meanwhile_takes_one_of_the_pools() -> None:
    pool = Pool()
    kept = KeptConnection(pool, idle=10)
    first, gate = await held_open(kept)
    assert await kept.run(number) == 2  # the kept one is busy: the pool's, given back
    assert pool.released == [2]
    gate.set()
    assert await first == 1
    assert await kept.run(number) == 1  # still kept


async def test_close_pool_gives_the_kept_connections_back_first() -> None:
    pool = Pool()
    closed: list[set[Conn]] = []

    async def close() -> None:
        closed.append(set(pool.out))  # what asyncpg's close would wait for

    pool.close = close  # type: ignore[attr-defined]
    kept, other = KeptConnection(pool, idle=60), KeptConnection(Pool(), idle=60)
    await kept.run(number)
    await other.run(number)
    await close_pool(pool)
    assert closed == [set()]
    assert pool.released == [1]
    assert other._conn is not None  # another pool's: left alone


async def test_release_leaves_a_running_statement_its_connection() -> None:
    pool = Pool()
    kept = KeptConnection(pool, idle=60)
    running, gate = await held_open(kept)
    await kept.release()
    assert pool.released == []
    gate.set()
    assert await running == 1
    await kept.release()
    assert pool.released == [1]


async def test_the_result_comes_a_turn_after_the_statement() -> None:
    """As the pool's release gave: a batcher's next batch gathers what that turn submits."""
    kept = KeptConnection(Pool(), idle=10)
    seen: list[str] = []

    async def work(conn: Conn) -> int:
        asyncio.get_running_loop().call_soon(seen.append, "the next turn")
        return conn.n

    assert await kept.run(work) == 1
    assert seen == ["the next turn"]
