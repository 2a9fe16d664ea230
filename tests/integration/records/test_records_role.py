"""The hub's database role may only append: what `migrate(writer_role=...)` grants, on real
PostgreSQL, and what that role then cannot do (the tables belong to the role that migrated)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.records import (
    PgRecordStore,
    RecordDraft,
    RecordWriter,
    ReplyHold,
    RoleError,
    UnsignedHead,
    chain,
    verify_store,
)

pytestmark = pytest.mark.postgres

DraftFactory = Callable[..., RecordDraft]


@pytest.fixture(scope="module")
async def hub_pool(pg_dsn: str, hub_role: str) -> AsyncIterator[asyncpg.Pool]:
    """Connections as the hub's role: a ``db_url`` naming that user."""
    dsn = urlunsplit(urlsplit(pg_dsn)._replace(netloc=f"{hub_role}@127.0.0.1:5432"))
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as p:
        yield p


async def test_the_hubs_role_appends_and_can_do_nothing_else(
    pool: asyncpg.Pool,
    hub_pool: asyncpg.Pool,
    hub_role: str,
    schema: str,
    hub_key: Ed25519PrivateKey,
    draft: DraftFactory,
) -> None:
    owner = PgRecordStore(pool, schema, signing_key=hub_key, checkpoint_every=4)
    # idempotent and safe to race, the grants included
    await asyncio.gather(*(owner.migrate(writer_role=hub_role) for _ in range(3)))
    await owner.migrate(writer_role=hub_role)
    hub = PgRecordStore(hub_pool, schema, signing_key=hub_key, checkpoint_every=4)
    async with RecordWriter(hub) as writer:
        for i in range(6):
            assert await writer.record(draft(i, not_disclosed=i == 2))
    first = (await hub.between(1, 1))[0]
    await hub.set_not_disclosed(first.record_id, True, actor="police-01")
    # replies it holds (not evidence): kept, read, and deleted once past their time
    held = ReplyHold(hub, clock=lambda: first.asked_at)
    found = await held.hold(first.query_id, b"sealed", first.asked_at)
    assert await held.held(first.query_id, found) == b"sealed"
    assert await hub.forget_held(first.asked_at + timedelta(seconds=1)) == 1
    assert (await verify_store(hub, hub_key.public_key())).ok

    refused = {
        f"UPDATE {schema}.access_record SET outcome = 'refused'": "permission denied",
        f"DELETE FROM {schema}.access_record WHERE seq = 6": "permission denied",
        f"TRUNCATE {schema}.access_record": "permission denied",
        f"DELETE FROM {schema}.checkpoint": "permission denied",
        f"UPDATE {schema}.disclosure_flag SET not_disclosed = false": "permission denied",
        f"ALTER TABLE {schema}.access_record DISABLE TRIGGER USER": "must be owner",
        f"ALTER TABLE {schema}.disclosure_flag DISABLE TRIGGER append_only": "must be owner",
        f"DROP TABLE {schema}.checkpoint": "must be owner",
        f"CREATE TABLE {schema}.shadow (x int)": "permission denied",
    }
    for statement, says in refused.items():
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match=says):
            await hub_pool.execute(statement)
    await hub_pool.execute(f"GRANT UPDATE ON {schema}.access_record TO {hub_role}")  # a warning
    can = "SELECT has_table_privilege($1, $2, 'UPDATE, DELETE, TRUNCATE, TRIGGER')"
    assert await pool.fetchval(can, hub_role, f"{schema}.access_record") is False
    assert await hub.count() == 6

    # INSERT it may do: a forged record then shows, and the hub will not seal over it
    head = (await hub.between(6, 6))[0]
    (forged,) = chain(head.hash, 7, [draft(70)])
    await hub_pool.execute(
        f"INSERT INTO {schema}.access_record (seq, record_id, query_id, requester, provider,"
        " affair, items, asked_at, answered_at, outcome, reason, person, query_digest,"
        " reply_digest, prev_hash, hash) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
        " $12, $13, $14, $15, $16",
        *(getattr(forged, f) for f in ("seq", "record_id", "query_id", "requester")),
        *(getattr(forged, f) for f in ("provider", "affair")),
        list(forged.items),
        *(getattr(forged, f) for f in ("asked_at", "answered_at", "outcome", "reason")),
        *(getattr(forged, f) for f in ("person", "query_digest", "reply_digest")),
        forged.prev_hash,
        forged.hash,
    )
    report = await verify_store(hub, hub_key.public_key())
    assert (report.records.problem, report.records.first_bad_seq) == ("unsigned_tail", 7)
    with pytest.raises(UnsignedHead):
        await hub.append([draft(71)])


async def test_migrate_refuses_a_writer_role_that_could_do_more(
    pool: asyncpg.Pool, pg_dsn: str, schema: str, hub_key: Ed25519PrivateKey
) -> None:
    store = PgRecordStore(pool, schema, signing_key=hub_key)
    await store.migrate()
    with pytest.raises(RoleError, match="no database role"):
        await store.migrate(writer_role="nobody_like_this")
    with pytest.raises(RoleError, match="superuser"):
        await store.migrate(writer_role="postgres")  # also the tables' owner here
    suffix = secrets.token_hex(4)
    maker, member = f"renkei_maker_{suffix}", f"renkei_member_{suffix}"
    admin = await asyncpg.connect(pg_dsn)
    try:
        await admin.execute(f"CREATE ROLE {maker} CREATEROLE")
        await admin.execute(f"CREATE ROLE {member}")
        await admin.execute(f"GRANT postgres TO {member}")  # belongs to the tables' owner
        with pytest.raises(RoleError, match="may create roles"):
            await store.migrate(writer_role=maker)
        with pytest.raises(RoleError, match="could change or remove rows"):
            await store.migrate(writer_role=member)
        # refused means nothing was granted either
        granted = await admin.fetchval(
            "SELECT has_schema_privilege($1, $2, 'USAGE')", maker, schema
        )
        assert granted is False
    finally:
        for role in (maker, member):
            await admin.execute(f"DROP OWNED BY {role}")
            await admin.execute(f"DROP ROLE {role}")
        await admin.close()
