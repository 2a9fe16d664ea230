"""PgRecordStore specifics against a real PostgreSQL: schema, concurrency, tampering, volume.

The semantics shared with the memory store are in test_records_store_behaviour.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.records import (
    PgRecordStore,
    RecordDraft,
    RecordWriter,
    SchemaError,
    verify_store,
)

pytestmark = pytest.mark.postgres

DraftFactory = Callable[..., RecordDraft]


async def new_store(
    pool: asyncpg.Pool, schema: str, key: Ed25519PrivateKey, every: int = 1000
) -> PgRecordStore:
    store = PgRecordStore(pool, schema, signing_key=key, checkpoint_every=every)
    await store.migrate()
    return store


async def test_schema_name_must_be_an_identifier(
    pool: asyncpg.Pool, hub_key: Ed25519PrivateKey
) -> None:
    with pytest.raises(SchemaError):
        PgRecordStore(pool, 'x"; DROP TABLE y; --', signing_key=hub_key)


async def test_migrate_is_idempotent_and_safe_to_race(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey
) -> None:
    stores = [PgRecordStore(pool, schema, signing_key=hub_key) for _ in range(3)]
    await asyncio.gather(*(s.migrate() for s in stores))
    await stores[0].migrate()
    assert await stores[0].count() == 0


async def test_duplicate_query_ids_return_false_and_write_nothing(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    store = await new_store(pool, schema, hub_key)
    ds = [draft(i) for i in range(3)]
    await store.append(ds)
    redelivered = [dataclasses.replace(d, record_id=uuid4(), outcome="error") for d in ds]
    assert await store.append(redelivered) == [False, False, False]
    fresh = draft(9)
    assert await store.append([ds[0], fresh, fresh]) == [False, True, False]
    rows = await pool.fetch(f"SELECT outcome FROM {schema}.access_record ORDER BY seq")
    assert [row["outcome"] for row in rows] == ["ok"] * 4
    assert await store.count() == 4


async def test_concurrent_writers_on_two_pools_keep_one_chain(
    pg_dsn: str, schema: str, hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    async with (
        asyncpg.create_pool(pg_dsn, min_size=2, max_size=4) as pool_a,
        asyncpg.create_pool(pg_dsn, min_size=2, max_size=4) as pool_b,
    ):
        stores = [await new_store(p, schema, hub_key, every=100) for p in (pool_a, pool_b)]
        writers = [RecordWriter(s, max_batch=50) for s in stores]
        shared = [draft(10_000 + i) for i in range(40)]  # the same queries reach both workers

        async def caller(k: int) -> list[bool]:
            w = writers[k % 2]
            out = [await w.record(draft(k * 1000 + i)) for i in range(25)]
            return out + [await w.record(d) for d in shared[k % 4 :: 4]]

        results = await asyncio.gather(*(caller(k) for k in range(32)))
        for w in writers:
            await w.close()
        total = 32 * 25 + len(shared)
        assert sum(sum(r) for r in results) == total
        assert await stores[0].count() == total
        seqs = [row["seq"] for row in await pool_a.fetch(f"SELECT seq FROM {schema}.access_record")]
        assert sorted(seqs) == list(range(1, total + 1))
        report = await verify_store(stores[1], hub_key.public_key())
        assert report.ok, str(report)
        assert report.records.checkpoints_checked == total // 100


async def test_a_store_whose_head_went_stale_falls_back_to_the_lock(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    one = await new_store(pool, schema, hub_key, every=100)
    two = await new_store(pool, schema, hub_key, every=100)
    assert await one.append([draft(1), draft(2)]) == [True, True]  # locked: no head known yet
    third = draft(3)
    assert await one.append([third]) == [True]  # fast: one INSERT onto its own head
    assert await two.append([draft(4)]) == [True]  # the other worker moves the head
    # one's head is stale: its COPY collides on seq 4, nothing is written, the lock path wins;
    # a repeated query in the same batch is answered False, not written twice
    assert await one.append([draft(5), third]) == [True, False]
    assert await one.append([draft(6)]) == [True]  # fast again
    seqs = [r["seq"] for r in await pool.fetch(f"SELECT seq FROM {schema}.access_record")]
    assert sorted(seqs) == [1, 2, 3, 4, 5, 6]
    report = await verify_store(one, hub_key.public_key())
    assert report.ok, str(report)


async def test_a_batch_of_one_is_one_insert_that_collides_as_a_copy_does(
    pool: asyncpg.Pool,
    schema: str,
    hub_key: Ed25519PrivateKey,
    draft: DraftFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast path writes a batch of one with a prepared INSERT (one round trip), a larger
    batch with a COPY; the rows, the seals and the fall-back to the lock are the same."""
    copies: list[int] = []
    real_copy = asyncpg.Connection.copy_records_to_table

    async def counted(self: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
        copies.append(len(kwargs["records"]))
        return await real_copy(self, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "copy_records_to_table", counted)
    one = await new_store(pool, schema, hub_key, every=100)
    two = await new_store(pool, schema, hub_key, every=100)
    drafts = [draft(i) for i in range(8)]
    assert await one.append(drafts[:2]) == [True, True]  # locked (no head yet): a COPY
    assert await one.append(drafts[2:3]) == [True]  # fast, one record: an INSERT
    assert await one.append(drafts[3:5]) == [True, True]  # fast, two: a COPY
    assert copies == [2, 2]
    assert await two.append(drafts[5:6]) == [True]  # the other worker moves the head
    assert await one.append(drafts[6:7]) == [True]  # its INSERT collides on seq: locked
    again = dataclasses.replace(drafts[6], record_id=uuid4(), outcome="error")
    assert await one.append([again]) == [False]  # collides on query_id: nothing written
    assert await one.append(drafts[7:8]) == [True]
    assert copies == [2, 2]  # every batch of one was an INSERT
    stored = await one.between(1, 8)
    assert [r.query_id for r in stored] == [d.query_id for d in drafts]
    for r, d in zip(stored, drafts, strict=True):
        assert (r.items, r.person, r.outcome, r.asked_at, r.reply_digest) == (
            d.items,
            d.person,
            d.outcome,
            d.asked_at,
            d.reply_digest,
        )
    sealed = [r.seq for r in stored if r.seal is not None]
    assert sealed == [2, 3, 5, 6, 7, 8]  # each batch's last record, whatever its statement
    report = await verify_store(one, hub_key.public_key())
    assert report.ok, str(report)


async def test_updates_and_deletes_are_refused_by_the_trigger(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    store = await new_store(pool, schema, hub_key, every=2)
    ds = [draft(i, not_disclosed=i == 0) for i in range(4)]
    await store.append(ds)
    for sql in (
        f"UPDATE {schema}.access_record SET outcome = 'refused' WHERE seq = 2",
        f"UPDATE {schema}.access_record SET person = person",
        f"DELETE FROM {schema}.access_record WHERE seq = 4",
        f"TRUNCATE {schema}.access_record CASCADE",
        f"UPDATE {schema}.checkpoint SET seq = 3",
        f"DELETE FROM {schema}.disclosure_flag",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await pool.execute(sql)
    assert (await verify_store(store, hub_key.public_key())).ok


async def test_tampering_with_the_trigger_disabled_is_detected(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    store = await new_store(pool, schema, hub_key, every=5)
    ds = [draft(i, person="p-1") for i in range(12)]
    await store.append(ds)
    await store.set_not_disclosed(ds[1].record_id, True, actor="police-01")
    key = hub_key.public_key()
    async with pool.acquire() as conn:  # the superuser, i.e. a rogue administrator
        await conn.execute(f"ALTER TABLE {schema}.access_record DISABLE TRIGGER append_only")
        await conn.execute(f"UPDATE {schema}.access_record SET outcome = 'refused' WHERE seq = 7")
        report = await verify_store(store, key)
        assert (report.records.first_bad_seq, report.records.problem) == (7, "hash_mismatch")
        assert "record seq 7 was changed" in str(report)

        await conn.execute(f"UPDATE {schema}.access_record SET outcome = 'ok' WHERE seq = 7")
        assert (await verify_store(store, key)).ok
        await conn.execute(f"DELETE FROM {schema}.access_record WHERE seq = 4")
        report = await verify_store(store, key)
        assert (report.records.first_bad_seq, report.records.problem) == (4, "seq_gap")

        await conn.execute(f"ALTER TABLE {schema}.disclosure_flag DISABLE TRIGGER append_only")
        await conn.execute(f"DELETE FROM {schema}.disclosure_flag")
        shown = await store.for_person("p-1")
        assert ds[1].record_id in {r.record_id for r in shown}  # the deletion "worked" ...
        report = await verify_store(store, key)  # ... but not unseen
        assert (report.flags.first_bad_seq, report.flags.problem) == (1, "truncated")

        await conn.execute(f"DELETE FROM {schema}.access_record WHERE seq > 10")
        report = await verify_store(store, key)
        assert report.records.problem == "seq_gap"  # still the first fault, at seq 4


async def test_ten_thousand_records_append_and_verify(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    store = await new_store(pool, schema, hub_key)
    writer = RecordWriter(store)

    async def caller(k: int) -> None:
        for i in range(k, 10_000, 64):
            assert await writer.record(draft(i))

    await asyncio.gather(*(caller(k) for k in range(64)))
    await writer.close()
    assert await store.count() == 10_000
    assert writer.batches < 10_000 / 10
    report = await verify_store(store, hub_key.public_key())
    assert report.ok, str(report)
    assert (report.records.records_checked, report.records.checkpoints_checked) == (10_000, 10)
    # Stopping a stream early gives its connection back to the pool.
    async with contextlib.aclosing(store.iter_all()) as stream:
        async for r in stream:
            assert r.seq == 1
            break
    assert len([r async for r in store.iter_all()]) == 10_000
