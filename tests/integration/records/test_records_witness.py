"""The witness on real PostgreSQL: a head held outside the database catches what the database
alone cannot — the newest records removed together with every seal and checkpoint over them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.records import (
    WITNESS_FILE,
    FileWitness,
    PgRecordStore,
    RecordDraft,
    RecordWriter,
    read_witness,
    verify_store,
)

pytestmark = pytest.mark.postgres

DraftFactory = Callable[..., RecordDraft]


async def test_the_tail_cut_with_its_seals_and_checkpoints_is_caught_by_the_witness(
    pool: asyncpg.Pool,
    schema: str,
    hub_key: Ed25519PrivateKey,
    draft: DraftFactory,
    tmp_path: Path,
) -> None:
    path = tmp_path / "oversight" / WITNESS_FILE
    witness = FileWitness(path)
    store = PgRecordStore(pool, schema, signing_key=hub_key, witness=witness)
    await store.migrate()
    for first, size in ((0, 3), (3, 4), (7, 5)):
        await store.append([draft(i) for i in range(first, first + size)])
    fifth = (await store.between(5, 5))[0]
    await store.set_not_disclosed(fifth.record_id, True, actor="police-01", reason="case 7")
    await witness.close()
    assert path.stat().st_mode & 0o007 == 0  # not for everyone to read (0640)
    assert len(path.read_bytes().splitlines()) == 4  # three seals, one checkpoint (both heads)
    heads = read_witness(path)
    assert [(h.seq, h.flag_seq) for h in heads] == [(12, 1)]
    key = hub_key.public_key()
    assert (await verify_store(store, key, witnessed=heads)).ok

    async with pool.acquire() as conn:  # the owner removes the tail and all that signs it
        for table in ("access_record", "checkpoint", "disclosure_flag"):
            await conn.execute(f"ALTER TABLE {schema}.{table} DISABLE TRIGGER USER")
        await conn.execute(f"DELETE FROM {schema}.disclosure_flag")
        await conn.execute(f"DELETE FROM {schema}.checkpoint")
        await conn.execute(f"DELETE FROM {schema}.access_record WHERE seq > 7")
    alone = await verify_store(store, key)
    assert alone.ok, "seq 7 ends a batch and is sealed: the database alone cannot tell"
    report = await verify_store(store, key, witnessed=heads)
    assert (report.records.problem, report.records.first_bad_seq) == ("truncated", 8)
    assert "the witness holds the hub's signed head at seq 12" in str(report)
    assert (report.flags.problem, report.flags.first_bad_seq) == ("truncated", 1)
    assert "the witness holds the hub's signed head after change 1" in str(report)


async def test_every_batch_of_the_writer_reaches_the_witness(
    pool: asyncpg.Pool,
    schema: str,
    hub_key: Ed25519PrivateKey,
    draft: DraftFactory,
    tmp_path: Path,
) -> None:
    path = tmp_path / WITNESS_FILE
    witness = FileWitness(path)
    store = PgRecordStore(pool, schema, signing_key=hub_key, checkpoint_every=10, witness=witness)
    await store.migrate()
    async with RecordWriter(store) as writer:
        for i in range(25):
            await writer.record(draft(i))
    await witness.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == writer.batches + 2  # a seal per batch, and the checkpoints at 10, 20
    (head,) = read_witness(path)
    assert head.seq == 25
    report = await verify_store(store, hub_key.public_key(), witnessed=[head])
    assert report.ok, str(report)
    assert report.records.seals_checked == writer.batches
