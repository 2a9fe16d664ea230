"""An office's own PostgreSQL store: look-ups by token, one at a time and many at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pg_env import fresh_database

from hub.node import PgStore

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
async def store() -> AsyncIterator[PgStore]:
    async with (
        fresh_database("renkei_store") as dsn,
        asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool,
    ):
        office = PgStore(pool, "chiyoda-tax")
        await office.migrate()
        rows = [(f"k{i}", f"t{i}", {"income": i}) for i in range(100)]
        await office.put_many("taxpayers", rows)
        await office.put_many("residents", [("r1", "t-r1", {"name": "住民"})])
        yield office


async def test_one_look_up_finds_the_key_and_document(store: PgStore) -> None:
    assert await store.by_token("taxpayers", "t7") == ("k7", {"income": 7})
    assert await store.by_token("taxpayers", "t-unknown") is None
    assert await store.by_token("residents", "t7") is None  # another collection's token
    assert await store.by_token("taxpayers", "t-r1") is None


async def test_concurrent_look_ups_share_queries_and_each_gets_its_own(store: PgStore) -> None:
    wanted = [("taxpayers", f"t{i}") for i in range(0, 100, 3)] + [
        ("taxpayers", "t-nobody"),
        ("residents", "t-r1"),
        ("residents", "t5"),
    ]
    found = await asyncio.gather(*(store.by_token(c, t) for c, t in wanted))
    expected = [(f"k{i}", {"income": i}) for i in range(0, 100, 3)]
    assert found == [*expected, None, ("r1", {"name": "住民"}), None]
