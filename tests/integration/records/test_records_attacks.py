"""An insider with the database (not the hub's key) against the records, on real PostgreSQL.

Each test plays someone who can write to the records' tables — the hub's own database role
(INSERT) or their owner, who can switch the append-only triggers off — and checks that
`verify_store` notices: DESIGN §2 rule 8.  The chain is written the way the hub writes it, in
batches, with the default cadence (a checkpoint every 1000 records) unless a test says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.records import (
    AccessRecord,
    PgRecordStore,
    RecordDraft,
    RecordWriteError,
    RecordWriter,
    UnsignedHead,
    chain,
    verify_store,
)

pytestmark = pytest.mark.postgres

DraftFactory = Callable[..., RecordDraft]
BATCHES = (3, 4, 5)  # the hub's writer flushes as drafts arrive: three batches, 12 records


async def written(
    pool: asyncpg.Pool,
    schema: str,
    key: Ed25519PrivateKey,
    draft: DraftFactory,
    *,
    every: int = 1000,
    **flags: bool,
) -> PgRecordStore:
    """A store holding 12 records appended in `BATCHES`; ``flags``: drafts by name ``d<n>``."""
    store = PgRecordStore(pool, schema, signing_key=key, checkpoint_every=every)
    await store.migrate()
    n = 0
    for size in BATCHES:
        batch = [draft(i, not_disclosed=flags.get(f"d{i}", False)) for i in range(n, n + size)]
        assert await store.append(batch) == [True] * size
        n += size
    return store


async def records(store: PgRecordStore) -> list[AccessRecord]:
    return [r async for r in store.iter_all()]


def as_draft(r: AccessRecord, **changes: Any) -> RecordDraft:
    fields = {f.name: getattr(r, f.name) for f in dataclasses.fields(RecordDraft)}
    return RecordDraft(**{**fields, "not_disclosed": False, **changes})


async def unlock(conn: asyncpg.Connection, schema: str, *tables: str) -> None:
    """What the tables' owner (here the superuser) can do: switch the triggers off."""
    for table in tables:
        await conn.execute(f"ALTER TABLE {schema}.{table} DISABLE TRIGGER USER")


async def rewrite_from(
    conn: asyncpg.Connection, schema: str, rs: Sequence[AccessRecord], seq: int, **changes: Any
) -> None:
    """Change record ``seq`` and recompute every hash after it with plain sha256."""
    start = rs[seq - 1]
    drafts = [as_draft(start, **changes)] + [as_draft(r) for r in rs[seq:]]
    for r in chain(start.prev_hash, seq, drafts):
        await conn.execute(
            f"UPDATE {schema}.access_record SET outcome = $2, reason = $3, prev_hash = $4,"
            " hash = $5 WHERE seq = $1",
            r.seq,
            r.outcome,
            r.reason,
            r.prev_hash,
            r.hash,
        )


async def test_deleting_the_newest_records_is_caught(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    store = await written(pool, schema, hub_key, draft)
    key = hub_key.public_key()
    assert (await verify_store(store, key)).ok
    async with pool.acquire() as conn:
        await unlock(conn, schema, "access_record")
        await conn.execute(f"DELETE FROM {schema}.access_record WHERE seq > 10")
    report = await verify_store(store, key)
    assert (report.records.problem, report.records.first_bad_seq) == ("unsigned_tail", 8)
    assert "unsigned tail, 3 records (seq 8–10)" in str(report)


async def test_a_rewrite_with_hashes_recomputed_is_caught(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    store = await written(pool, schema, hub_key, draft)
    key = hub_key.public_key()
    rs = await records(store)
    async with pool.acquire() as conn:
        await unlock(conn, schema, "access_record")
        await rewrite_from(conn, schema, rs, 2, outcome="refused", reason="routing.no_row")
        report = await verify_store(store, key)
        assert (report.records.problem, report.records.first_bad_seq) == ("bad_seal", 3)
        assert "seal on record seq 3 does not verify" in str(report)
        # the seals removed as well: then nothing signs the rewritten chain at all
        await conn.execute(f"UPDATE {schema}.access_record SET seal = NULL, sealed_at = NULL")
        report = await verify_store(store, key)
        assert (report.records.problem, report.records.first_bad_seq) == ("unsigned_tail", 1)
        # a seal moved from another record does not fit either
        moved = rs[2].seal
        assert moved is not None
        await conn.execute(
            f"UPDATE {schema}.access_record SET seal = $1, sealed_at = $2 WHERE seq = 12",
            moved.signature,
            moved.signed_at,
        )
        report = await verify_store(store, key)
        assert (report.records.problem, report.records.first_bad_seq) == ("bad_seal", 12)


async def test_a_record_appended_by_insert_alone_is_caught_and_never_sealed_over(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    """INSERT is all the hub's own database role may do; a forged record with a valid sha256
    link is still not the hub's: verification says so and the hub will not chain onto it."""
    store = await written(pool, schema, hub_key, draft)
    key = hub_key.public_key()
    head = (await records(store))[-1]
    (forged,) = chain(head.hash, 13, [draft(99, requester="police-99", person="person-1")])
    columns = (
        "seq, record_id, query_id, requester, provider, affair, items, asked_at, answered_at,"
        " outcome, reason, person, query_digest, reply_digest, prev_hash, hash"
    )
    await pool.execute(
        f"INSERT INTO {schema}.access_record ({columns}) VALUES"
        " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        forged.seq,
        forged.record_id,
        forged.query_id,
        forged.requester,
        forged.provider,
        forged.affair,
        list(forged.items),
        forged.asked_at,
        forged.answered_at,
        forged.outcome,
        forged.reason,
        forged.person,
        forged.query_digest,
        forged.reply_digest,
        forged.prev_hash,
        forged.hash,
    )
    report = await verify_store(store, key)
    assert (report.records.problem, report.records.first_bad_seq) == ("unsigned_tail", 13)
    assert "unsigned tail, 1 record (seq 13–13)" in str(report)

    # the hub's next batch (on another worker, which reads the head) refuses to seal over it
    other = PgRecordStore(pool, schema, signing_key=hub_key)
    writer = RecordWriter(other)
    with pytest.raises(RecordWriteError) as failed:
        await writer.record(draft(100))
    assert getattr(failed.value.__cause__, "code", "") == "records.unsigned_head"
    await writer.close()
    # so does the worker that wrote the head before (its COPY collides, then it looks)
    with pytest.raises(UnsignedHead):
        await store.append([draft(101)])
    assert await store.count() == 13
    report = await verify_store(store, key)
    assert report.records.problem == "unsigned_tail"


async def test_deleting_the_newest_flag_change_is_caught(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    """A record the requester asked to keep from the resident (e.g. an investigation): its
    flag change comes with the record; removing it would show the record to the resident."""
    store = await written(pool, schema, hub_key, draft, d9=True)
    key = hub_key.public_key()
    assert [r.seq for r in await store.for_person("person-1")] == [2, 6]  # seq 10 is withheld
    assert (await verify_store(store, key)).ok
    async with pool.acquire() as conn:
        await unlock(conn, schema, "disclosure_flag")
        await conn.execute(f"DELETE FROM {schema}.disclosure_flag WHERE change_seq = 1")
    assert [r.seq for r in await store.for_person("person-1")] == [2, 6, 10]  # it "worked" ...
    report = await verify_store(store, key)  # ... but not unseen
    assert (report.flags.problem, report.flags.first_bad_seq) == ("truncated", 1)


async def test_deleting_due_checkpoints_then_rewriting_is_caught(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    store = await written(pool, schema, hub_key, draft, every=5)
    key = hub_key.public_key()
    rs = await records(store)
    assert [cp.seq for cp in await store.checkpoints()] == [5, 10]
    async with pool.acquire() as conn:
        await unlock(conn, schema, "access_record", "checkpoint")
        await conn.execute(f"DELETE FROM {schema}.checkpoint")
        await rewrite_from(conn, schema, rs, 2, outcome="not_found")
        await conn.execute(f"UPDATE {schema}.access_record SET seal = NULL, sealed_at = NULL")
    report = await verify_store(store, key)
    assert (report.records.problem, report.records.first_bad_seq) == ("missing_checkpoint", 5)
    assert "the checkpoint due at seq 5" in str(report)
