"""The plans of the hub's per-query statements stay index look-ups as the tables grow.

A plpgsql function keeps each statement's plan for its session's life, and a generic plan is
made once, from the statistics of that moment; a prepared statement (asyncpg keeps them per
connection) turns to a generic plan after five runs when that looks no costlier. On a new
deployment the statistics say the tables are empty — never analyzed, or analyzed empty (the
claims, deadlines and buckets come and go: autovacuum may analyze them at a quiet moment) —,
where reading a whole table looks cheapest; kept while the table grew, such a plan read every
access record on every claim. Nothing re-plans it until the table is analyzed again, and with
autovacuum off (or behind) never. Each test plans on an empty table, grows it, and reads the
plan the same session then runs (``auto_explain``, nested statements), as a hub worker's
long-lived connection would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pg_env import OneConnection, plans_of

from hub.records import PgRecordStore
from hub.records.deadlines import PgDeadlineStore
from hub.records.sql import statements

pytestmark = pytest.mark.postgres

GROWN = 20_000  # rows added after the plan was made: a scan of them is what must not happen

_FAKE_RECORDS = """
INSERT INTO {s}.access_record (seq, record_id, query_id, requester, provider, affair, items,
    asked_at, answered_at, outcome, reason, person, query_digest, reply_digest, prev_hash, hash)
SELECT g, gen_random_uuid(), gen_random_uuid(), 'r', 'p', 'a', '{{}}', now(), now(), 'ok', '',
    'x', '\\x00', '\\x00', decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex')
FROM generate_series(1, $1::int) AS g
"""
_FAKE_CLAIMS = """
INSERT INTO {s}.query_claim (key, digest, claimed_at)
SELECT gen_random_uuid(), '\\x00', now() FROM generate_series(1, $1::int)
"""
_FAKE_BUCKETS = """
INSERT INTO {s}.quota_bucket (key, tokens, at)
SELECT 'office-' || g, 1, now() FROM generate_series(1, $1::int) AS g
"""
_FAKE_DEADLINES = """
INSERT INTO {s}.pending_deadline (key, deadline, context)
SELECT gen_random_uuid(), now() + interval '1 hour', '' FROM generate_series(1, $1::int)
"""


def _plan(plans: list[str], *words: str) -> str:
    """The one plan whose text holds all ``words``."""
    return next(p for p in plans if all(w in p for w in words))


async def test_the_claim_looks_records_up_by_index_after_the_table_grew(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey
) -> None:
    await PgRecordStore(pool, schema, signing_key=hub_key).migrate()
    claim = f'SELECT k FROM "{schema}".claim_queries($1::uuid[], $2::bytea[], $3) AS k'
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        assert await conn.fetch(claim, [uuid4()], [b"d"], now)  # planned: the table is empty
        await conn.execute(_FAKE_RECORDS.format(s=f'"{schema}"'), GROWN)
        plans = await plans_of(conn, lambda: conn.fetch(claim, [uuid4()], [b"d"], now))
    insert = _plan(plans, "INSERT INTO", "query_claim")
    assert "Index Only Scan using access_record_query_id_key" in insert, insert
    assert "Index Cond: (query_id = t.key)" in insert, insert  # a look-up per key, no scan
    assert "Seq Scan" not in insert and "Materialize" not in insert, insert


async def test_what_took_a_key_is_looked_up_by_index_after_the_tables_grew(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey
) -> None:
    """The second statement of a claim that found a key taken (a replay, a redelivery)."""
    await PgRecordStore(pool, schema, signing_key=hub_key).migrate()
    s = f'"{schema}"'
    claimed = statements(s).claimed
    async with pool.acquire() as conn:
        await conn.execute(f"ANALYZE {s}.access_record, {s}.query_claim")  # empty
        for _ in range(6):  # a prepared statement's sixth run may turn to its generic plan
            assert await conn.fetch(claimed, [uuid4()]) == [(None, False)]
        await conn.execute(_FAKE_RECORDS.format(s=s), GROWN)
        await conn.execute(_FAKE_CLAIMS.format(s=s), GROWN)
        plans = await plans_of(conn, lambda: conn.fetch(claimed, [uuid4(), uuid4()]))
    found = _plan(plans, "query_claim", "access_record")
    assert "Index Cond: (key = k.key)" in found, found  # a look-up per key, no scan
    assert "Index Cond: (query_id = k.key)" in found, found
    assert "Seq Scan" not in found and "Materialize" not in found, found


async def test_a_quota_take_looks_its_buckets_up_by_key_after_the_table_grew(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey
) -> None:
    """The buckets are few, but updated on every query: a scan reads their dead versions too."""
    await PgRecordStore(pool, schema, signing_key=hub_key).migrate()
    s = f'"{schema}"'
    take = f"SELECT key, given, tokens FROM {s}.take_quota($1::text[], $2::int[], $3, $4, $5)"
    args = (["welfare-01"], [1], [10.0], [1.0], datetime.now(UTC))
    async with pool.acquire() as conn:
        assert len(await conn.fetch(take, *args)) == 1  # planned: the table is empty
        await conn.execute(_FAKE_BUCKETS.format(s=s), GROWN)
        plans = await plans_of(conn, lambda: conn.fetch(take, *args))
    update = _plan(plans, "UPDATE", "quota_bucket")
    assert "Index Scan using quota_bucket_pkey" in update, update
    assert "Index Cond: (key = t.key)" in update, update  # a look-up per key, no scan
    assert "Seq Scan on quota_bucket" not in update, update


async def test_the_deadline_sweep_looks_rows_up_by_index_after_the_tables_grew(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey
) -> None:
    """The sweep's join to the access records: a plan made on empty tables read every record
    for each due deadline."""
    await PgRecordStore(pool, schema, signing_key=hub_key).migrate()
    s = f'"{schema}"'
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        store = PgDeadlineStore(OneConnection(conn), schema=schema)
        await conn.execute(f"ANALYZE {s}.access_record, {s}.pending_deadline")  # empty
        for _ in range(6):  # as a hub's sweeper does, at every sweep
            async with store.due(now, 100) as due:
                assert not due.rows
        await conn.execute(_FAKE_RECORDS.format(s=s), GROWN)
        await conn.execute(_FAKE_DEADLINES.format(s=s), GROWN)
        await conn.execute(  # one due
            f"INSERT INTO {s}.pending_deadline VALUES ($1, $2, '')", uuid4(), now - timedelta(1)
        )

        async def sweep() -> None:
            async with store.due(now, 100) as due:
                assert len(due.rows) == 1

        plans = await plans_of(conn, sweep)
    taken = _plan(plans, "pending_deadline d", "access_record r")
    assert "Index Scan using access_record_query_id_key" in taken, taken
    assert "Index Cond: (query_id = d.key)" in taken, taken  # a look-up per row, no scan
    assert "Seq Scan" not in taken, taken
    deleted = _plan(plans, "DELETE FROM", "pending_deadline")
    assert "Seq Scan" not in deleted, deleted
