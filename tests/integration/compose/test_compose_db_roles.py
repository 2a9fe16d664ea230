"""compose/postgres/roles.sql on the real PostgreSQL: the roles it makes are ones `renkei db
migrate` accepts — the owner of everything, and a hub role left able to read and append to the
access records only — with the passwords from their files, and no one else may connect.

Roles are cluster-wide, so the test names its own (roles.sh passes compose.yaml's names).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from hub.routing import load_default_registry, load_default_table
from hub.wire import OfficeKeys
from renkei.network import migrate

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[3]
ROLES_SQL = ROOT / "compose" / "postgres" / "roles.sql"
PG = "postgresql://{user}@127.0.0.1:5432/{db}"


def scram_matches(verifier: str, password: str) -> bool:
    """Whether PostgreSQL's SCRAM-SHA-256 verifier is of ``password`` (RFC 5802, RFC 7677)."""
    method, params, keys = verifier.split("$")
    iterations, salt = params.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return (
        method == "SCRAM-SHA-256"
        and base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key
    )


@pytest.fixture
async def roles(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    tag = secrets.token_hex(4)
    names = {"db": f"renkei_compose_{tag}", "owner": f"renkei_{tag}", "hub": f"renkei_hub_{tag}"}
    names["monitor"] = f"renkei_monitor_{tag}"
    names["other"] = f"renkei_other_{tag}"
    for role in ("owner", "hub", "monitor"):
        (tmp_path / f"db-{role}-password").write_text(f"{role}-{secrets.token_hex(16)}")
    admin = await asyncpg.connect(PG.format(user="postgres", db="postgres"))
    await admin.execute(f'CREATE DATABASE "{names["db"]}"')
    await admin.execute(f'CREATE ROLE "{names["other"]}" LOGIN')
    try:
        psql = await asyncio.create_subprocess_exec(
            "/usr/bin/psql", "--no-psqlrc", "-h", "127.0.0.1", "-U", "postgres", "-d", names["db"],
            "--set", f"owner={names['owner']}", "--set", f"hub={names['hub']}",
            "--set", f"monitor={names['monitor']}",
            "--set", f"db={names['db']}", "--set", f"secrets={tmp_path}",
            "--file", str(ROLES_SQL), stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(psql.communicate(), 60)
        assert psql.returncode == 0, err.decode()
        yield {**names, "dir": str(tmp_path)}
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{names["db"]}" WITH (FORCE)')
        for role in ("owner", "hub", "monitor", "other"):
            await admin.execute(f'DROP ROLE IF EXISTS "{names[role]}"')
        await admin.close()


async def test_db_migrate_as_the_owner_leaves_the_hub_role_appending_only(
    roles: dict[str, str],
) -> None:
    owner = PG.format(user=roles["owner"], db=roles["db"])
    registry = load_default_registry(load_default_table())
    # refuses (RoleError) a hub role that could do more than read and append, and a monitor
    # role that could do more than keep its schema and read the records
    key = OfficeKeys.generate().signing
    await migrate(owner, registry, key, hub_role=roles["hub"], monitor_role=roles["monitor"])
    hub = await asyncpg.connect(PG.format(user=roles["hub"], db=roles["db"]))
    try:
        for table in ("access_record", "checkpoint", "disclosure_flag"):
            rights = {
                right: await hub.fetchval(
                    "SELECT has_table_privilege($1, $2)", f"records.{table}", right
                )
                for right in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
            }
            assert rights == {
                "SELECT": True, "INSERT": True, "UPDATE": False, "DELETE": False, "TRUNCATE": False
            }, table  # fmt: skip
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await hub.execute("CREATE SCHEMA hub_was_here")
    finally:
        await hub.close()
    monitor = await asyncpg.connect(PG.format(user=roles["monitor"], db=roles["db"]))
    try:
        await monitor.fetch("SELECT seq FROM records.access_record")
        await monitor.execute("DELETE FROM monitor.alert")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await monitor.execute("DELETE FROM records.query_claim")
    finally:
        await monitor.close()


async def test_the_roles_have_their_files_passwords_and_no_power_over_roles(
    roles: dict[str, str],
) -> None:
    admin = await asyncpg.connect(PG.format(user="postgres", db=roles["db"]))
    try:
        for role in ("owner", "hub", "monitor"):
            row = await admin.fetchrow(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolpassword"
                " FROM pg_authid WHERE rolname = $1",
                roles[role],
            )
            assert row is not None
            assert (row[0], row[1], row[2], row[3]) == (False, False, False, True), role
            password = (Path(roles["dir"]) / f"db-{role}-password").read_text()
            assert scram_matches(row["rolpassword"], password), role
        owner = await admin.fetchval(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", roles["db"]
        )
        assert owner == roles["owner"]
    finally:
        await admin.close()


async def test_no_other_role_may_connect(roles: dict[str, str]) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(PG.format(user=roles["other"], db=roles["db"]))
