"""An office's own PostgreSQL store: look-ups by token, one at a time and many at once."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import asyncpg
import pytest

from hub.node import PgStore

pytestmark = pytest.mark.postgres

ADMIN_DSN = os.environ.get("RENKEI_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
async def store() -> AsyncIterator[PgStore]:
    try:
        admin = await asyncpg.connect(ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_DSN} ({exc!r})", pytrace=False)
    name = f"renkei_store_{uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = urlunsplit(urlsplit(ADMIN_DSN)._replace(path=f"/{name}"))
        async with asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool:
            office = PgStore(pool, "chiyoda-tax")
            await office.migrate()
            rows = [(f"k{i}", f"t{i}", {"income": i}) for i in range(100)]
            await office.put_many("taxpayers", rows)
            await office.put_many("residents", [("r1", "t-r1", {"name": "住民"})])
            yield office
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


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
