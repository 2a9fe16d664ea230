"""A fresh PostgreSQL database for a test module (importable from any test folder as
``pg_env``): ``RENKEI_TEST_PG_DSN`` (default: the local superuser, trust auth); a missing
PostgreSQL fails the test with a message saying so, never skips it."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import asyncpg
import pytest

__all__ = ["ADMIN_DSN", "OneConnection", "fresh_database", "fresh_pool", "plans_of", "writes_held"]

ADMIN_DSN = os.environ.get("RENKEI_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.asynccontextmanager
async def fresh_database(prefix: str) -> AsyncIterator[str]:
    """The DSN of a new database named ``prefix_<random>``, dropped afterwards."""
    try:
        admin = await asyncpg.connect(ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_DSN} ({exc!r})", pytrace=False)
    name = f"{prefix}_{uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(ADMIN_DSN)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.asynccontextmanager
async def writes_held(dsn: str, table: str) -> AsyncIterator[Callable[[], Awaitable[int]]]:
    """Writes to ``table`` wait while the block lasts (another session holds the table in
    EXCLUSIVE mode; reads go on). The ``cut()`` it gives waits until a session is waiting for
    the table and ends every such session, as a restart of PostgreSQL ends a statement under
    way; it returns how many it ended."""
    holder = await asyncpg.connect(dsn)
    try:
        async with holder.transaction():
            await holder.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")

            async def cut() -> int:
                async with asyncio.timeout(10):
                    while True:
                        ended: int = await holder.fetchval(
                            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                            " FROM pg_stat_activity WHERE datname = current_database()"
                            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
                        )
                        if ended:
                            return ended
                        await asyncio.sleep(0.01)

            yield cut
    finally:
        await holder.close()


@contextlib.asynccontextmanager
async def fresh_pool(prefix: str, size: int = 2) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """A new database (:func:`fresh_database`) and a pool of ``size`` connections to it."""
    async with (
        fresh_database(prefix) as dsn,
        asyncpg.create_pool(dsn, min_size=1, max_size=size) as pool,
    ):
        yield dsn, pool


async def plans_of(conn: asyncpg.Connection, work: Callable[[], Awaitable[Any]]) -> list[str]:
    """The plans of every statement ``work`` runs on ``conn``, nested ones included, as run
    (``auto_explain``): what a long-lived connection's kept plans do. Loading the module takes
    a superuser, as ``RENKEI_TEST_PG_DSN``'s default is."""
    seen: list[str] = []

    def listen(_conn: object, msg: asyncpg.PostgresLogMessage) -> None:
        seen.append(msg.message)

    conn.add_log_listener(listen)
    await conn.execute(
        "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;"
        " SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice;"
        " SET client_min_messages = notice"
    )
    try:
        await work()
    finally:
        await conn.execute("SET auto_explain.log_min_duration = -1")
        conn.remove_log_listener(listen)
    return seen


class OneConnection:
    """A pool of one connection (the one whose plans a test reads): ``acquire()`` awaited or
    entered with ``async with``, as asyncpg's pool allows; ``release`` keeps it."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    def acquire(self) -> _Held:
        return _Held(self._conn)

    async def release(self, _conn: asyncpg.Connection) -> None:
        pass


class _Held:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    def __await__(self) -> Generator[Any, None, asyncpg.Connection]:
        return self._given().__await__()

    async def _given(self) -> asyncpg.Connection:
        return self._conn

    async def __aenter__(self) -> asyncpg.Connection:
        return self._conn

    async def __aexit__(self, *_exc: object) -> None:
        return None
