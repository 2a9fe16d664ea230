"""The monitor's own database role, on real PostgreSQL: `renkei db migrate`
(``monitor_role``) lets it write its schema ``monitor`` and read the access records — enough
to keep spans and alerts and to verify the chain — and nothing else: it cannot write the hub's
records, read the query claims, read an office's store, or create tables."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pg_env import fresh_database

from hub.records import PgRecordStore, RecordDraft, RoleError, digest
from hub.routing import load_default_registry, load_default_table
from monitor import ChainWatch, Finding, PgAlertStore, PgSpanStore, StoreError
from renkei.network import migrate

pytestmark = pytest.mark.postgres
KEY = Ed25519PrivateKey.generate()
REGISTRY = load_default_registry(load_default_table())
T0 = dt.datetime(2026, 10, 14, 1, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
async def db() -> AsyncIterator[tuple[str, str]]:
    """A fresh database migrated by its owner (here the superuser) with a monitor role."""
    role = f"renkei_monitor_{secrets.token_hex(4)}"
    async with fresh_database("renkei_monitor_role") as dsn:
        admin = await asyncpg.connect(dsn)
        await admin.execute(f"CREATE ROLE {role} LOGIN")
        try:
            await migrate(dsn, REGISTRY, KEY, monitor_role=role)
            monitor = urlunsplit(urlsplit(dsn)._replace(netloc=f"{role}@127.0.0.1:5432"))
            yield dsn, monitor
        finally:
            await admin.execute(f"DROP OWNED BY {role}")
            await admin.execute(f"DROP ROLE {role}")
            await admin.close()


async def test_the_monitor_keeps_alerts_and_verifies_the_records_as_its_role(
    db: tuple[str, str],
) -> None:
    owner, monitor = db
    async with asyncpg.create_pool(owner, min_size=1, max_size=2) as pool:
        hub = PgRecordStore(pool, signing_key=KEY)
        await hub.append(
            [
                RecordDraft(
                    query_id=uuid4(), requester="chiyoda-child", provider="chiyoda-tax",
                    affair="child_allowance", items=("local_tax",), asked_at=T0,
                    answered_at=T0, outcome="ok", query_digest=digest(b"q%d" % i),
                )
                for i in range(3)
            ]
        )  # fmt: skip
    async with asyncpg.create_pool(monitor, min_size=1, max_size=2) as pool:
        w = ChainWatch(PgRecordStore(pool), KEY.public_key())
        await w.check(T0)
        assert (w.state.ok, w.state.verified_seq) == (True, 3), w.state
        alerts = PgAlertStore(pool)
        a, _ = await alerts.raise_(Finding("off_hours", "chiyoda-child", "notice", T0, "x"))
        acked = await alerts.acknowledge(a.id, by="sato", at=T0, is_auditor=lambda _: True)
        assert acked.acked_by == "sato"
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM monitor.span WHERE start_ns < 0")  # retention


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO records.access_record SELECT * FROM records.access_record LIMIT 0",
        "UPDATE records.access_record SET outcome = 'refused'",
        "DELETE FROM records.checkpoint",
        "INSERT INTO records.disclosure_flag SELECT * FROM records.disclosure_flag LIMIT 0",
        "SELECT * FROM records.query_claim",
        "SELECT * FROM directory.holding",
        "SELECT * FROM office_chiyoda_tax.person",
        "CREATE TABLE monitor.mine (x int)",
        "ALTER TABLE records.access_record DISABLE TRIGGER USER",
        "DROP TABLE monitor.alert",
    ],
)
async def test_the_monitors_role_can_do_nothing_else(db: tuple[str, str], statement: str) -> None:
    _, monitor = db
    conn = await asyncpg.connect(monitor)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_no_office_store_is_readable(db: tuple[str, str]) -> None:
    _, monitor = db
    conn = await asyncpg.connect(monitor)
    try:
        rows = await conn.fetch(
            "SELECT n.nspname, c.relname, has_schema_privilege(n.oid, 'USAGE') AS usage,"
            " has_table_privilege(c.oid, 'SELECT') AS can_read"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname LIKE 'office\\_%' AND c.relkind = 'r'"
        )
        assert len({r["nspname"] for r in rows}) == len(list(REGISTRY))
        assert [r for r in rows if r["usage"] or r["can_read"]] == []
    finally:
        await conn.close()


async def test_migrate_refuses_a_monitor_role_that_could_do_more(db: tuple[str, str]) -> None:
    owner, _ = db
    with pytest.raises(RoleError, match="superuser"):
        await migrate(owner, REGISTRY, KEY, monitor_role="postgres")
    async with asyncpg.create_pool(owner, min_size=1, max_size=1) as pool:
        with pytest.raises(StoreError, match="superuser"):
            await PgSpanStore(pool).migrate(role="postgres")
