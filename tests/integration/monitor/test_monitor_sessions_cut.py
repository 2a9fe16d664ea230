"""The span store and the collector's retention when PostgreSQL cuts the monitor's sessions (as
a restart of PostgreSQL does): the store's every failure is a ``StoreError``, and the retention
sweeper goes on sweeping. Before: a pool connection cut while idle, used before the client had
read the end of its socket, failed with asyncpg's ``InternalClientError`` ("cannot switch to
state …; another operation (2) is in progress": the session's last error message read, its end
not yet), which is neither a ``PostgresError`` nor an ``OSError``; the store let it through, and
the collector's retention task, which goes on after a ``StoreError`` only, ended for good."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pg_env import fresh_database

from hub.bus import InMemoryBroker, network_topology
from monitor import Collector, PgSpanStore, StoreError

pytestmark = pytest.mark.postgres
ROUNDS = 20  # a cut just before a use fails it this way about one time in three


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    async with fresh_database("renkei_monitor_cut") as made:
        yield made


async def cut(admin: asyncpg.Connection) -> None:
    """Every session of the test's own database but the admin's, ended by the server."""
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )


async def test_the_span_store_fails_with_store_errors_only_when_its_sessions_are_cut(
    dsn: str,
) -> None:
    admin = await asyncpg.connect(dsn)
    try:
        async with asyncpg.create_pool(dsn, min_size=2, max_size=2) as pool:
            store = PgSpanStore(pool)
            await store.migrate()
            failed = 0
            for _ in range(ROUNDS):
                await cut(admin)
                for _ in range(3):  # the pool's two connections, then one made anew
                    try:
                        await store.expire(0)
                    except StoreError:
                        failed += 1
            assert failed  # the cuts did land
            assert await store.expire(0) == 0  # and the store works on
    finally:
        await admin.close()


async def test_the_retention_sweeper_sweeps_on_when_each_sweep_finds_its_sessions_cut(
    dsn: str,
) -> None:
    admin = await asyncpg.connect(dsn)
    b = InMemoryBroker(network_topology(["chiyoda-child"]))
    try:
        async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
            store = PgSpanStore(pool)
            await store.migrate()
            sweeps = 0
            expire = store.expire

            async def cut_then_expire(before_ns: int) -> int:
                nonlocal sweeps
                sweeps += 1
                await expire(0)  # a session to cut
                await cut(admin)  # as by a restart of PostgreSQL, just before the sweep
                return await expire(before_ns)

            store.expire = cut_then_expire  # type: ignore[method-assign]
            collector = Collector(b.connect("monitor"), store, identities=b.topology.identities)
            await collector.start(sweep_every=0.01)
            try:
                async with asyncio.timeout(30):
                    while sweeps < ROUNDS:
                        await asyncio.sleep(0.01)
                        assert collector._sweeper is not None
                        assert not collector._sweeper.done(), collector._sweeper
            finally:
                await collector.stop()
    finally:
        await admin.close()
