"""The monitor verifies the access-record chain continuously, on real PostgreSQL: what the hub
appends is verified as it comes; one byte changed, a record removed, two records swapped, a
checkpoint forged and a record appended without the hub's key are each found, named, and
raised once as the chain-break alert — which names no person."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import asyncpg
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pg_env import fresh_database

from hub.records import PgRecordStore, RecordDraft, chain, digest, sign_checkpoint
from hub.records.sql import RECORD_COLUMNS, record_row
from monitor import ChainWatch, Engine, MemoryAlertStore, Oversight, load_rules

pytestmark = pytest.mark.postgres
T0 = dt.datetime(2026, 10, 14, 1, 0, tzinfo=dt.UTC)  # 10:00 in Japan, a Wednesday
KEY = Ed25519PrivateKey.generate()
TOKEN = "HUBTOKEN-" + "q" * 30


def draft(n: int) -> RecordDraft:
    return RecordDraft(
        query_id=uuid4(),
        requester="chiyoda-child",
        provider="chiyoda-tax",
        affair="child_allowance",
        items=("local_tax",),
        asked_at=T0 + dt.timedelta(seconds=n),
        answered_at=T0 + dt.timedelta(seconds=n, milliseconds=3),
        outcome="ok",
        person=f"{TOKEN}{n % 3}",
        query_digest=digest(f"q{n}".encode()),
        reply_digest=digest(f"r{n}".encode()),
    )


@pytest.fixture
async def pool() -> AsyncIterator[asyncpg.Pool]:
    async with (
        fresh_database("renkei_chain") as dsn,
        asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool,
    ):
        yield pool


async def hub_writes(pool: asyncpg.Pool, batches: tuple[int, ...], *, start: int = 0) -> None:
    """The hub's store (its key) appends batches; checkpoints due every 5 records."""
    store = PgRecordStore(pool, signing_key=KEY, checkpoint_every=5)
    await store.migrate()
    n = start
    for size in batches:
        await store.append([draft(i) for i in range(n, n + size)])
        n += size


def watch(pool: asyncpg.Pool, **kw: Any) -> ChainWatch:
    """The monitor's view: the records read-only, the hub's public key from elsewhere."""
    return ChainWatch(PgRecordStore(pool, checkpoint_every=5), KEY.public_key(), **kw)


async def tamper(pool: asyncpg.Pool, *sql: str) -> None:
    """The tables' owner (here the superuser) with the append-only triggers off."""
    async with pool.acquire() as conn, conn.transaction():
        for table in ("access_record", "checkpoint"):
            await conn.execute(f"ALTER TABLE records.{table} DISABLE TRIGGER USER")
        for statement in sql:
            await conn.execute(statement)
        for table in ("access_record", "checkpoint"):
            await conn.execute(f"ALTER TABLE records.{table} ENABLE TRIGGER USER")


async def test_records_are_verified_as_they_are_written(pool: asyncpg.Pool) -> None:
    await hub_writes(pool, (3, 4))
    w = watch(pool, page=2)
    assert await w.check(T0) == []  # at the start: verified, but not replayed to the engine
    assert (w.state.ok, w.state.verified_seq, w.state.full_checked_at) == (True, 7, T0)
    assert w.state.last_checkpoint_seq == 5
    await hub_writes(pool, (5, 1), start=7)
    later = T0 + dt.timedelta(seconds=5)
    fresh = await w.check(later)
    assert [r.seq for r in fresh] == list(range(8, 14))  # across pages of 2
    assert (w.state.ok, w.state.verified_seq, w.state.checked_at) == (True, 13, later)
    assert w.state.verified_hash == (await PgRecordStore(pool).between(13, 13))[0].hash.hex()
    assert w.state.last_checkpoint_seq == 10
    assert w.state.full_checked_at == T0  # the new records alone were read
    assert await w.check(later) == []


async def test_a_record_appended_without_the_hubs_key_is_found_at_once(
    pool: asyncpg.Pool,
) -> None:
    await hub_writes(pool, (3, 4))
    w = watch(pool, full_every=1000)
    await w.check(T0)
    head = (await PgRecordStore(pool).between(7, 7))[0]
    (fake,) = chain(head.hash, 8, [draft(99)])  # hashed right, but no seal can be made
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "access_record", schema_name="records", columns=RECORD_COLUMNS,
            records=[record_row(fake)],
        )  # fmt: skip
    await w.check(T0)
    assert (w.state.broken_at, w.state.problem) == (8, "unsigned_tail")
    assert w.state.verified_seq == 7  # the last good record


TAMPERING = {
    "one byte changed": (
        ["UPDATE records.access_record SET affair = 'child_allowancE' WHERE seq = 4"],
        4,
        {"hash_mismatch"},
    ),
    "a record removed": (["DELETE FROM records.access_record WHERE seq = 3"], 3, {"seq_gap"}),
    "two records swapped": (
        [
            "UPDATE records.access_record SET seq = -4 WHERE seq = 4",
            "UPDATE records.access_record SET seq = 4 WHERE seq = 3",
            "UPDATE records.access_record SET seq = 3 WHERE seq = -4",
        ],
        3,
        {"broken_link", "hash_mismatch", "out_of_order"},
    ),
}


@pytest.mark.parametrize("case", TAMPERING)
async def test_tampering_after_verification_is_found_by_the_next_full_pass(
    pool: asyncpg.Pool, case: str
) -> None:
    sql, seq, problems = TAMPERING[case]
    await hub_writes(pool, (3, 4))
    w = watch(pool, full_every=2)
    await w.check(T0)  # a full pass: intact
    assert w.state.ok
    async with pool.acquire() as conn:
        await conn.execute(
            "ALTER TABLE records.access_record DROP CONSTRAINT access_record_seq_check"
        )
    await tamper(pool, *sql)
    await w.check(T0)  # the new records only: nothing new, nothing seen
    assert w.state.ok
    await w.check(T0)  # the full pass
    assert w.state.broken_at == seq, w.state.detail
    assert w.state.problem in problems
    assert not w.state.ok


async def test_a_forged_checkpoint_is_found(pool: asyncpg.Pool) -> None:
    await hub_writes(pool, (3, 4))
    w = watch(pool)
    await w.check(T0)
    record = (await PgRecordStore(pool).between(6, 6))[0]
    forged = sign_checkpoint(Ed25519PrivateKey.generate(), 6, record.hash, T0)  # not the hub
    await tamper(
        pool,
        "INSERT INTO records.checkpoint (seq, hash, signed_at, signature, flag_seq, flag_hash)"
        f" VALUES (6, '\\x{forged.hash.hex()}', '{T0.isoformat()}', '\\x{forged.signature.hex()}',"
        f" 7, '\\x{bytes(32).hex()}')",
    )
    await hub_writes(pool, (2,), start=7)  # the next batch: read and checked with it
    await w.check(T0)
    assert (w.state.broken_at, w.state.problem) == (6, "bad_checkpoint_signature"), w.state


async def test_the_break_is_alerted_once_and_names_no_person(pool: asyncpg.Pool) -> None:
    await hub_writes(pool, (3, 4))
    alerts = MemoryAlertStore()
    oversight = Oversight(watch(pool, full_every=1), Engine(load_rules()), alerts, clock=lambda: T0)
    assert await oversight.check() == []
    await tamper(pool, "UPDATE records.access_record SET outcome = 'refused' WHERE seq = 2")
    (opened,) = await oversight.check()
    assert (opened.rule, opened.subject, opened.severity) == ("chain_break", "records", "critical")
    assert opened.facts["seq"] == 2
    assert await oversight.check() == []  # still broken: no new alert, no repeat
    (alert,) = await alerts.open()
    assert alert.count == 1
    text = orjson.dumps(alert.as_json()).decode()
    assert TOKEN not in text and "HUBTOKEN" not in text
