"""The quota buckets every hub process shares, on real PostgreSQL: the same answers as the
in-memory store, and no token given twice when several processes (pools) take at once."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.buckets import Rate
from hub.records import MemoryQuotaStore, PgQuotaStore, PgRecordStore, QuotaStore, Want

pytestmark = pytest.mark.postgres
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
RATE = Rate(burst=5, per_second=2.0)


async def pg_store(pool: asyncpg.Pool, schema: str, key: Ed25519PrivateKey) -> PgQuotaStore:
    await PgRecordStore(pool, schema, signing_key=key).migrate()
    return PgQuotaStore(pool, schema=schema)


@pytest.mark.parametrize("kind", ["memory", "pg"])
async def test_take_refill_and_several_keys_in_one_call(
    kind: str, pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey
) -> None:
    store: QuotaStore = (
        MemoryQuotaStore() if kind == "memory" else await pg_store(pool, schema, hub_key)
    )
    [a, b] = await store.take([Want("a", 3, RATE), Want("b", 9, RATE)], T0)
    assert (a.given, a.tokens, b.given, b.tokens) == (3, 2.0, 5, 0.0)
    [b] = await store.take([Want("b", 1, RATE)], T0 + dt.timedelta(seconds=0.25))
    assert (b.given, b.tokens) == (0, 0.5)  # half a token back: none to give
    [b] = await store.take([Want("b", 4, RATE)], T0 + dt.timedelta(seconds=1.5))
    assert (b.given, b.tokens) == (3, 0.0)  # 0.5 + 1.25 s × 2 = 3 tokens
    [b] = await store.take([Want("b", 1, RATE)], T0 + dt.timedelta(seconds=60))
    assert (b.given, b.tokens) == (1, 4.0)  # never more than the burst
    [b] = await store.take([Want("b", 1, RATE)], T0)  # a clock set back refills nothing
    assert (b.given, b.tokens) == (1, 3.0)
    assert await store.take([], T0) == []


async def test_concurrent_hub_processes_never_give_a_token_twice(
    pg_dsn: str, pool: asyncpg.Pool, schema: str, hub_key: Ed25519PrivateKey
) -> None:
    await pg_store(pool, schema, hub_key)
    rate = Rate(burst=50, per_second=0.0001)
    pools = [await asyncpg.create_pool(pg_dsn, min_size=2, max_size=4) for _ in range(3)]
    try:
        stores = [PgQuotaStore(p, schema=schema) for p in pools]
        calls = [s.take([Want("office", 3, rate)], T0) for s in stores for _ in range(10)]
        taken = await asyncio.gather(*calls)
    finally:
        for p in pools:
            await p.close()
    assert sum(t.given for [t] in taken) == 50  # 90 wanted, the burst given once
