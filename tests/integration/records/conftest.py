"""Real PostgreSQL for the access-record tests: a fresh database per test module.

PostgreSQL is found through ``RENKEI_TEST_PG_DSN`` (default: the local superuser, trust auth).
When it is not reachable, the tests fail with a message saying so; they never skip.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pg_env import fresh_database

from hub.records import MemoryRecordStore, PgRecordStore, RecordDraft, RecordStore, digest

T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


def make_draft(n: int = 0, **overrides: Any) -> RecordDraft:
    fields: dict[str, Any] = {
        "query_id": uuid4(),
        "requester": f"welfare-{n % 3:02d}",
        "provider": f"municipality-{n % 5:02d}",
        "affair": "child_allowance.eligibility",
        "items": ("income", "household"),
        "asked_at": T0 + timedelta(seconds=n),
        "answered_at": T0 + timedelta(seconds=n, microseconds=2500),
        "outcome": "ok",
        "person": f"person-{n % 4}",
        "query_digest": digest(f"query {n}".encode()),
        "reply_digest": digest(f"reply {n}".encode()),
    }
    fields.update(overrides)
    return RecordDraft(**fields)


@pytest.fixture(scope="session")
def draft() -> Callable[..., RecordDraft]:
    return make_draft


@pytest.fixture(scope="session")
def hub_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
async def pg_dsn() -> AsyncIterator[str]:
    """A fresh database for this test module, dropped afterwards."""
    async with fresh_database("renkei_records") as dsn:
        yield dsn


@pytest.fixture(scope="module")
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(pg_dsn, min_size=1, max_size=4) as p:
        yield p


@pytest.fixture(scope="module")
async def hub_role(pg_dsn: str) -> AsyncIterator[str]:
    """A login role of its own (roles are cluster-wide: dropped afterwards)."""
    name = f"renkei_hub_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f"CREATE ROLE {name} LOGIN")
    try:
        yield name
    finally:
        await admin.execute(f"DROP OWNED BY {name}")  # its grants in this database
        await admin.execute(f"DROP ROLE {name}")
        await admin.close()


@pytest.fixture
def schema() -> str:
    """A fresh schema name per test (the tables are append-only, so no cleanup in between)."""
    return f"records_{uuid4().hex[:10]}"


StoreFactory = Callable[..., Awaitable[RecordStore]]


@pytest.fixture(params=["memory", "pg"])
def make_store(
    request: pytest.FixtureRequest, hub_key: Ed25519PrivateKey, schema: str, pool: asyncpg.Pool
) -> StoreFactory:
    """Builds the store under test: the behaviour suite runs against both implementations."""

    async def build(every: int = 1000) -> RecordStore:
        if request.param == "memory":
            return MemoryRecordStore(signing_key=hub_key, checkpoint_every=every)
        store = PgRecordStore(pool, schema, signing_key=hub_key, checkpoint_every=every)
        await store.migrate()
        return store

    return build
