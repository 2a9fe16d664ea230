"""The plans of the hub's per-query statements stay index look-ups as the tables grow.

A plpgsql function keeps each statement's plan for its session's life, and a generic plan is
made once, from the statistics of that moment. On a new deployment those say the tables are
empty, where reading a whole table looks cheapest; kept while the table grew, such a plan read
every access record on every claim. Each test plans on an empty table, grows it, and reads the
plan the same session then runs (``auto_explain``, nested statements), as a hub worker's
long-lived connection would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.records import PgRecordStore

GROWN = 20_000  # records added after the plan was made: a hash of them is what must not happen

_FAKE_RECORDS = """
INSERT INTO {s}.access_record (seq, record_id, query_id, requester, provider, affair, items,
    asked_at, answered_at, outcome, reason, person, query_digest, reply_digest, prev_hash, hash)
SELECT g, gen_random_uuid(), gen_random_uuid(), 'r', 'p', 'a', '{{}}', now(), now(), 'ok', '',
    'x', '\\x00', '\\x00', decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex')
FROM generate_series(1, $1::int) AS g
"""


async def _plans_of(conn: asyncpg.Connection, sql: str, *args: object) -> list[str]:
    """The plans of every statement ``sql`` runs, nested ones included, as run."""
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
        await conn.fetch(sql, *args)
    finally:
        await conn.execute("SET auto_explain.log_min_duration = -1")
        conn.remove_log_listener(listen)
    return seen


async def test_the_claim_looks_records_up_by_index_after_the_table_grew(
    pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey
) -> None:
    await PgRecordStore(pool, schema, signing_key=hub_key).migrate()
    claim = f'SELECT k FROM "{schema}".claim_queries($1::uuid[], $2::bytea[], $3) AS k'
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        assert await conn.fetch(claim, [uuid4()], [b"d"], now)  # planned: the table is empty
        await conn.execute(_FAKE_RECORDS.format(s=f'"{schema}"'), GROWN)
        plans = await _plans_of(conn, claim, [uuid4()], [b"d"], now)
    insert = next(p for p in plans if "INSERT INTO" in p and "query_claim" in p)
    assert "Index Only Scan using access_record_query_id_key" in insert, insert
    assert "Seq Scan on access_record" not in insert, insert
