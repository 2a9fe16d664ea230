"""Pending deadlines on real PostgreSQL, as the hub's role: kept once, swept by one sweeper at a
time (``FOR UPDATE SKIP LOCKED``), left to the next by a sweeper that dies mid-way, and timed
out once however many hub processes sweep together."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.directory import MemoryDirectory
from hub.records import (
    DeadlineStore,
    MemoryDeadlineStore,
    MemoryRecordStore,
    Pending,
    PgDeadlineStore,
    PgRecordStore,
    RecordWriter,
    ReplyHold,
)
from hub.routing.deadlines import Sweeper
from hub.routing.finish import Finisher, WriterSink, record_key
from hub.wire import TimedOut
from tests.unit.router.desk_fakes import HUB_KEYS, SEALER, FakeBus, context

pytestmark = pytest.mark.postgres
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


@pytest.fixture
async def hub_dsn(
    pg_dsn: str, pool: asyncpg.Pool, hub_role: str, schema: str, hub_key: Ed25519PrivateKey
) -> str:
    """The records schema migrated, and a DSN of the hub's role (its grants only)."""
    await PgRecordStore(pool, schema, signing_key=hub_key).migrate(writer_role=hub_role)
    return urlunsplit(urlsplit(pg_dsn)._replace(netloc=f"{hub_role}@127.0.0.1:5432"))


def pending(at: dt.datetime, context: str = "sealed") -> Pending:
    return Pending(uuid.uuid4(), at, context)


@pytest.mark.parametrize("kind", ["memory", "pg"])
async def test_kept_once_nearest_first_deleted_when_swept(
    kind: str, hub_dsn: str, schema: str, hub_key: Ed25519PrivateKey, draft: Any
) -> None:
    async with asyncpg.create_pool(hub_dsn, min_size=1, max_size=2) as hub_pool:
        records = PgRecordStore(hub_pool, schema, signing_key=hub_key)
        store: DeadlineStore = (
            PgDeadlineStore(hub_pool, schema=schema)
            if kind == "pg"
            else MemoryDeadlineStore(MemoryRecordStore(signing_key=hub_key))
        )
        assert await store.nearest() is None
        late, soon, later = pending(T0 + 5 * S), pending(T0 + S), pending(T0 + 9 * S)
        await store.add([late, soon])
        await store.add([replace_context(soon, "another"), later])  # a key kept is left
        await store.add([])
        assert await store.nearest() == soon.deadline
        async with store.due(T0, 10) as due:
            assert due.rows == []
        async with store.due(T0 + 6 * S, 1) as due:
            assert [(d.key, d.context, d.outcome) for d in due.rows] == [(soon.key, "sealed", None)]
        with pytest.raises(RuntimeError):
            await failed_sweep(store, T0 + 6 * S, [late.key])
        assert await store.nearest() == late.deadline  # rolled back: still there
        if kind == "pg":  # the record's outcome comes with its deadline
            async with RecordWriter(records) as writer:
                await writer.record(draft(query_id=late.key, outcome="ok"))
            async with store.due(T0 + 6 * S, 10) as due:
                assert [(d.key, d.outcome) for d in due.rows] == [(late.key, "ok")]
            assert await store.nearest() == later.deadline


async def failed_sweep(store: DeadlineStore, at: dt.datetime, keys: list[uuid.UUID]) -> None:
    async with store.due(at, 10) as due:
        assert [d.key for d in due.rows] == keys
        raise RuntimeError("the sweep failed")


def replace_context(p: Pending, context: str) -> Pending:
    return Pending(p.key, p.deadline, context)


async def test_two_sweeps_never_take_one_row(hub_dsn: str, schema: str) -> None:
    """Two hub processes (two pools): while one sweep holds its rows, the other takes only the
    rest (SKIP LOCKED: it neither waits nor takes them)."""
    pools = [await asyncpg.create_pool(hub_dsn, min_size=1, max_size=2) for _ in range(2)]
    try:
        first, second = (PgDeadlineStore(p, schema=schema) for p in pools)
        rows = [pending(T0 - i * S) for i in range(6)]
        await first.add(rows)
        async with first.due(T0, 4) as held:
            async with asyncio.timeout(5):
                async with second.due(T0, 10) as rest:
                    pass
        assert {d.key for d in held.rows} | {d.key for d in rest.rows} == {r.key for r in rows}
        assert not {d.key for d in held.rows} & {d.key for d in rest.rows}
        assert len(held.rows) == 4 and await first.nearest() is None
    finally:
        for p in pools:
            await p.close()


async def test_a_sweeper_killed_mid_sweep_leaves_its_rows_to_the_next(
    hub_dsn: str, pool: asyncpg.Pool, schema: str
) -> None:
    """Its session ends (the process killed): its transaction rolls back, its rows come back,
    and another process's sweep takes them."""
    dying = await asyncpg.connect(hub_dsn)
    other = await asyncpg.create_pool(hub_dsn, min_size=1, max_size=2)
    try:
        store = PgDeadlineStore(other, schema=schema)
        rows = [pending(T0 - i * S) for i in range(3)]
        await store.add(rows)

        class One:  # a pool of the one connection that is to die
            def acquire(self) -> Any:
                return _Same(dying)

        holding = PgDeadlineStore(One(), schema=schema)
        entered, never = asyncio.Event(), asyncio.Event()  # never: before the session ends

        async def sweep() -> None:
            async with holding.due(T0, 10) as due:
                assert len(due.rows) == 3
                entered.set()
                await never.wait()

        task = asyncio.create_task(sweep())
        await entered.wait()
        async with store.due(T0, 10) as due:
            assert due.rows == []  # held by the dying sweep
        await pool.execute("SELECT pg_terminate_backend($1)", dying.get_server_pid())
        never.set()  # its delete, then its commit, meet a session that is gone
        with pytest.raises((asyncpg.InterfaceError, asyncpg.PostgresError)):
            await task
        async with store.due(T0, 10) as due:
            assert {d.key for d in due.rows} == {r.key for r in rows}
        assert await store.nearest() is None
    finally:
        await other.close()
        await dying.close()


class _Same:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def __aenter__(self) -> asyncpg.Connection:
        return self._conn

    async def __aexit__(self, *exc: Any) -> None:
        return None


async def test_sweepers_of_several_hub_processes_time_each_query_out_once(
    hub_dsn: str, schema: str, hub_key: Ed25519PrivateKey
) -> None:
    """Three hub processes, each its pool, records writer and sweeper, over 120 due
    deadlines: every query is recorded ``timed_out`` once and answered once."""
    now = T0 + 10 * S
    pools = [await asyncpg.create_pool(hub_dsn, min_size=1, max_size=3) for _ in range(3)]
    writers: list[RecordWriter] = []
    try:
        buses, sweepers = [], []
        for p in pools:
            store = PgRecordStore(p, schema, signing_key=hub_key)
            writer = RecordWriter(store)
            writers.append(writer)
            bus = FakeBus()
            done = Finisher(
                bus=bus,  # type: ignore[arg-type]
                records=WriterSink(writer, ReplyHold(store, clock=lambda: now)),
                directory=MemoryDirectory(),
                hub_keys=HUB_KEYS,
                clock=lambda: now,
            )
            store = PgDeadlineStore(p, schema=schema)
            buses.append(bus)
            sweepers.append(
                Sweeper(store=store, sealer=SEALER, finisher=done, clock=lambda: now, limit=16)
            )
        ctxs = [
            replace(
                context("query", "chiyoda-child", "chiyoda-tax", "child_allowance"),
                deadline=T0 + (i % 7) * S,
                query_digest=bytes(32),
            )
            for i in range(120)
        ]
        await PgDeadlineStore(pools[0], schema=schema).add(
            [Pending(record_key(c.requester, c.query_id), c.deadline, SEALER.seal(c)) for c in ctxs]
        )
        for _ in range(10):
            await asyncio.gather(*(s.sweep() for s in sweepers))
        sent = [r for bus in buses for _, r in bus.sent()]
        assert sorted(str(r.envelope.correlation_id) for r in sent) == sorted(
            str(c.query_id) for c in ctxs
        )
        assert all(isinstance(r.outcome, TimedOut) for r in sent)
        assert await PgDeadlineStore(pools[0], schema=schema).nearest() is None
        async with pools[0].acquire() as conn:
            counts = await conn.fetch(
                f"SELECT outcome, count(*) AS n FROM {schema}.access_record GROUP BY outcome"
            )
        assert [(r["outcome"], r["n"]) for r in counts] == [("timed_out", 120)]
    finally:
        for writer in writers:
            await writer.close()
        for p in pools:
            await p.close()


async def test_the_hubs_role_may_keep_lock_and_delete_deadlines_not_change_them(
    hub_dsn: str, schema: str
) -> None:
    hub = await asyncpg.connect(hub_dsn)
    try:
        await hub.execute(
            f"INSERT INTO {schema}.pending_deadline VALUES ($1, $2, 'x')", uuid.uuid4(), T0
        )
        assert await hub.fetchval(f"SELECT count(*) FROM {schema}.pending_deadline") == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # only the lock's column
            await hub.execute(f"UPDATE {schema}.pending_deadline SET context = 'y'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await hub.execute(f"UPDATE {schema}.pending_deadline SET key = gen_random_uuid()")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await hub.execute(f"TRUNCATE {schema}.pending_deadline")
        await hub.execute(f"DELETE FROM {schema}.pending_deadline")
    finally:
        await hub.close()
