"""The four tamperings of issue 16, each caught by ``renkei records verify`` itself (the
command, as its own process, against real PostgreSQL, with the hub's witness): one byte of a
record changed, a record removed from the middle, two records swapped, a checkpoint forged.
The tables' owner does each (triggers switched off), as in ``test_records_attacks.py``, which
covers the rewrites with hashes recomputed and the cuts at the tail."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from pg_env import fresh_database
from proc_env import cli

from hub.records import (
    WITNESS_FILE,
    FileWitness,
    PgRecordStore,
    RecordDraft,
    read_witness,
    verify_store,
)
from renkei.secrets import State

pytestmark = pytest.mark.postgres

SCHEMA = "records"  # the schema `records verify` reads


@dataclass
class Chain:
    url: str
    env: dict[str, str]
    witness: Path
    conn: asyncpg.Connection

    async def verify(self) -> tuple[int, str]:
        return await cli(
            self.env, "--db", self.url, "records", "verify", "--witness", str(self.witness)
        )

    async def unlocked(self, sql: str, *args: object) -> None:
        """As the tables' owner: triggers off, the statement, triggers on."""
        tables = ("access_record", "checkpoint")
        for t in tables:
            await self.conn.execute(f"ALTER TABLE {SCHEMA}.{t} DISABLE TRIGGER USER")
        try:
            await self.conn.execute(sql, *args)
        finally:
            for t in tables:
                await self.conn.execute(f"ALTER TABLE {SCHEMA}.{t} ENABLE TRIGGER USER")


@pytest.fixture
async def chain(tmp_path: Path, draft: Callable[..., RecordDraft]) -> AsyncIterator[Chain]:
    """12 records in three batches (each sealed), a checkpoint every 4, witnessed; verified
    intact before the test tampers."""
    state = State.generate(["hub"])
    state.save(tmp_path / "var")
    witness = tmp_path / "oversight" / WITNESS_FILE
    async with fresh_database("renkei_tamper") as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        store = PgRecordStore(
            pool,
            SCHEMA,
            signing_key=state.keys["hub"].signing,
            checkpoint_every=4,
            witness=FileWitness(witness),
        )
        await store.migrate()
        n = 0
        for size in (3, 4, 5):
            await store.append([draft(i) for i in range(n, n + size)])
            n += size
        hub = state.keys["hub"].public.verify
        report = await verify_store(store, hub, witnessed=read_witness(witness))
        assert report.ok, report  # what the command runs (its intact run: test_ops_backup.py)
        await pool.close()
        env = {**os.environ, "RENKEI_STATE_DIR": str(tmp_path / "var")}
        conn = await asyncpg.connect(url)
        try:
            yield Chain(url, env, witness, conn)
        finally:
            await conn.close()


Tamper = Callable[[Chain], Awaitable[None]]


async def one_byte_changed(c: Chain) -> None:
    """One byte of one record's reason; no hash recomputed (the owner has no key to re-seal)."""
    await c.unlocked(f"UPDATE {SCHEMA}.access_record SET reason = reason || 'x' WHERE seq = 5")


async def one_byte_of_a_digest_changed(c: Chain) -> None:
    await c.unlocked(
        f"UPDATE {SCHEMA}.access_record SET query_digest = "
        "set_byte(query_digest, 0, (get_byte(query_digest, 0) + 1) % 256) WHERE seq = 2"
    )


async def a_record_removed(c: Chain) -> None:
    await c.unlocked(f"DELETE FROM {SCHEMA}.access_record WHERE seq = 6")


async def two_swapped(c: Chain) -> None:
    """Records 5 and 6 trade places, every column with them (each row whole, its hash too)."""
    await c.unlocked(f"UPDATE {SCHEMA}.access_record SET seq = 1000 + seq WHERE seq IN (5, 6)")
    await c.unlocked(f"UPDATE {SCHEMA}.access_record SET seq = 6 WHERE seq = 1005")
    await c.unlocked(f"UPDATE {SCHEMA}.access_record SET seq = 5 WHERE seq = 1006")


async def a_checkpoint_forged(c: Chain) -> None:
    """A checkpoint over a head nobody signed: its hash changed, the signature left as it was."""
    await c.unlocked(
        f"UPDATE {SCHEMA}.checkpoint SET hash = set_byte(hash, 0, (get_byte(hash, 0) + 1) % 256)"
        " WHERE seq = (SELECT min(seq) FROM checkpoint_rows)".replace(
            "checkpoint_rows", f"{SCHEMA}.checkpoint"
        )
    )


async def a_checkpoint_added(c: Chain) -> None:
    """A new checkpoint row signed with a key of the forger's own."""
    other = State.generate(["hub"]).keys["hub"].signing
    row = await c.conn.fetchrow(f"SELECT * FROM {SCHEMA}.checkpoint ORDER BY seq DESC LIMIT 1")
    assert row is not None
    signature = other.sign(bytes(row["hash"]))
    at = dt.datetime.now(dt.UTC)
    await c.unlocked(
        f"INSERT INTO {SCHEMA}.checkpoint (seq, hash, signed_at, signature, flag_seq, flag_hash)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        int(row["seq"]) + 4,
        bytes(row["hash"]),
        at,
        signature,
        int(row["flag_seq"]),
        bytes(row["flag_hash"]),
    )


@pytest.mark.parametrize(
    "tamper",
    [
        one_byte_changed,
        one_byte_of_a_digest_changed,
        a_record_removed,
        two_swapped,
        a_checkpoint_forged,
        a_checkpoint_added,
    ],
    ids=lambda f: f.__name__,
)
async def test_records_verify_catches_each_tampering(chain: Chain, tamper: Tamper) -> None:
    await tamper(chain)
    code, out = await chain.verify()
    assert code == 1, out
    assert "the chain is intact" not in out
    print(f"{tamper.__name__}: {out.splitlines()[0]}")  # the reason, for docs/reliability.md
