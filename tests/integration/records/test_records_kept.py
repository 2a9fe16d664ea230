"""A kept connection on a real pool: a session cut while the connection is kept (as by a
restart of PostgreSQL) is replaced at the next statement. Before: asyncpg's pool detached the
kept proxy, its ``is_closed`` raised ``InterfaceError``, and every statement of that caller
failed until the connection's idle time ran out — each failure a delivery spent, found by
tests/faults/test_answer_path.py, where a query was dead-lettered at its delivery limit."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from pg_env import fresh_database

from hub.kept import KeptConnection, close_pool

pytestmark = pytest.mark.postgres


async def pid(conn: asyncpg.Connection) -> int:
    found: int = await conn.fetchval("SELECT pg_backend_pid()")
    return found


async def test_a_session_cut_while_kept_is_replaced_at_the_next_statement() -> None:
    async with fresh_database("kept") as dsn:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        admin = await asyncpg.connect(dsn)
        try:
            kept = KeptConnection(pool, idle=60.0)  # kept all along: no idle release
            first = await kept.run(pid)
            assert await kept.run(pid) == first  # the same session: kept
            cut = asyncio.Event()
            assert kept._conn is not None
            kept._conn.add_termination_listener(lambda _conn: cut.set())
            await admin.execute("SELECT pg_terminate_backend($1)", first)
            await asyncio.wait_for(cut.wait(), 10)  # the client has seen its session end
            await asyncio.sleep(0)
            second = await kept.run(pid)
            assert second != first
            assert await kept.run(pid) == second
        finally:
            await admin.close()
            await close_pool(pool)
