"""An office's look-ups by token stay index look-ups as its documents grow.

asyncpg keeps each prepared statement per connection, and PostgreSQL turns one to a generic
plan made from the statistics of that moment; on a new office those say the table is empty,
where hashing the whole table looks cheapest, and nothing re-plans it until the table is
analyzed (never, with autovacuum off). The test plans on an empty table, grows it, and reads
the plan the same session then runs (``auto_explain``, nested statements), as the office's
kept connection would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from pg_env import OneConnection, fresh_database, plans_of

from hub.node import PgStore

pytestmark = pytest.mark.postgres

GROWN = 20_000  # documents added after the plan was made: a scan of them must not happen
_FAKE_DOCS = """
INSERT INTO office_growing.docs (collection, key, token, doc)
SELECT 'taxpayers', 'k' || g, 't' || g, '{}' FROM generate_series(1, $1::int) AS g
"""


@pytest.fixture(scope="module")
async def dsn() -> AsyncIterator[str]:
    async with fresh_database("renkei_store_plans") as found:
        yield found


async def test_many_look_ups_at_once_go_by_index_after_the_table_grew(dsn: str) -> None:
    async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
        await PgStore(pool, "growing").migrate()
    conn = await asyncpg.connect(dsn)
    try:
        office = PgStore(OneConnection(conn), "growing")

        async def three() -> list[Any]:  # one alone, then two together: one batch
            tokens = ("t1", "t2", "t3")
            return await asyncio.gather(*(office.by_token("taxpayers", t) for t in tokens))

        for _ in range(6):  # a prepared statement's sixth run may turn to its generic plan
            assert await three() == [None, None, None]  # planned: the table is empty
        await conn.execute(_FAKE_DOCS, GROWN)
        plans = await plans_of(conn, three)
        await office.close()
    finally:
        await conn.close()
    batch = next(p for p in plans if "docs d" in p and "unnest" in p)
    assert "Index Scan using docs_token on docs" in batch, batch
    assert "Index Cond: ((collection = w.c) AND (token = w.t))" in batch, batch  # per token
    assert "Seq Scan on docs" not in batch, batch
