"""docs/operations.md, "Backup and restore", run as written: each schema dumped with
pg_dump and restored with pg_restore into an empty database, `renkei db migrate`, then
`renkei records verify --witness`. A restore must give back the access records exactly —
chain, seals, checkpoints, flag log — and a restore that lost the newest records is caught by
the witness, which holds heads the database no longer has (the database alone cannot tell).

A claim season runs on PostgreSQL (the in-process bus: the procedure is about the database),
with an early dump of the records taken part-way."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import shutil
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from proc_env import PG, cli

from agencies.municipality.child_allowance import ChildAllowance
from agencies.population.households import generate
from hub.node import schema_for
from hub.wire import HUB
from renkei.network import Network, identities, load_rules, open_network
from renkei.population.enroll import load_population
from renkei.secrets import State
from renkei.settings import Settings

pytestmark = pytest.mark.postgres
ON = dt.date(2024, 6, 1)


@dataclass(frozen=True)
class Backups:
    env: dict[str, str]  # the operator's settings, on the season's database
    dumps: dict[str, Path]  # schema → its dump, taken after the season
    early: Path  # the records' dump taken part-way through the season
    witness: Path
    schemas: list[str]


async def succeeded(proc: asyncio.subprocess.Process, what: str) -> None:
    """pg_dump / pg_restore (Debian's postgresql-client) ran, or the test fails with what
    they said."""
    _, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, f"{what}: {err.decode()}"


async def dump(url: str, schema: str, into: Path) -> Path:
    args = ("--format=custom", f"--schema={schema}", f"--file={into}", url)
    await succeeded(await asyncio.create_subprocess_exec("pg_dump", *args, stderr=PIPE), schema)
    return into


async def season(net: Network, applicants: list[str]) -> None:
    child: ChildAllowance = net.apps["chiyoda-child"]
    decisions = await asyncio.gather(*(child.check(a, ON) for a in applicants))
    assert decisions
    assert {d.status for d in decisions} <= {"eligible", "special", "ineligible", "no_child"}
    # the checks read the ward's register and tax office in-house (庁内連携: no record); the
    # network is asked, as for a claimant who moved in after 1 January, for the municipality
    # of 1 January — each query an access record, whatever the hub finds
    for applicant in applicants:
        token = await child.store.token("applicants", applicant)
        assert token is not None
        asked = ("child_allowance", HUB, ("local_tax",), token, {"fiscal_year": ON.year})
        assert (await child.node.ask(*asked)).record_id is not None


@pytest.fixture(scope="module")
async def admin() -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(PG + "postgres")
    yield conn
    await conn.close()


@pytest.fixture(scope="module")
async def databases(admin: asyncpg.Connection, hub_role: str) -> AsyncIterator[list[str]]:
    """Names of databases the tests create; dropped at the end (before the role)."""
    made: list[str] = []
    yield made
    for db in made:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


async def new_database(admin: asyncpg.Connection, made: list[str]) -> str:
    db = f"renkei_ops_{secrets.token_hex(4)}"
    await admin.execute(f'CREATE DATABASE "{db}"')
    made.append(db)
    return PG + db


@pytest.fixture(scope="module")
async def hub_role(admin: asyncpg.Connection) -> AsyncIterator[str]:
    role = f"renkei_hub_{secrets.token_hex(4)}"
    await admin.execute(f"CREATE ROLE {role} LOGIN")
    yield role
    await admin.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.fixture(scope="module")
async def backups(
    tmp_path_factory: pytest.TempPathFactory,
    admin: asyncpg.Connection,
    databases: list[str],
    hub_role: str,
) -> Backups:
    tmp = tmp_path_factory.mktemp("backup")
    url = await new_database(admin, databases)
    env = {
        **os.environ,
        "RENKEI_DB_URL": url,
        "RENKEI_DB_HUB_ROLE": hub_role,
        "RENKEI_STATE_DIR": str(tmp / "state"),
        "RENKEI_WITNESS_DIR": str(tmp / "witness"),
        "RENKEI_LOG_LEVEL": "warning",
    }
    for step in (("init",), ("db", "migrate")):
        code, out = await cli(env, *step)
        assert code == 0, out
    settings = Settings(_env_file=None, db_url=url, witness_dir=tmp / "witness")
    state = State.load(tmp / "state", identities(load_rules(settings)[1]))
    async with await open_network(settings, state) as net:
        await load_population(net, generate(40, seed=3), fiscal_year=2024)
        applicants = await net.stores["chiyoda-child"].keys("applicants")
        await season(net, applicants[: len(applicants) // 2])
        early = await dump(url, "records", tmp / "records-early.dump")
        await season(net, applicants[len(applicants) // 2 :])
        assert net.records is not None  # a withheld record: the flag log is restored too
        first = (await net.records.between(1, 1))[0]
        await net.records.set_not_disclosed(first.record_id, True, actor="ops-test", reason="x")
    schemas = ["records", "directory", *(schema_for(o.code) for o in load_rules(settings)[1])]
    dumps = {s: await dump(url, s, tmp / f"{s}.dump") for s in schemas}
    return Backups(env, dumps, early, tmp / "witness" / "records.witness", schemas)


async def restore(backups: Backups, url: str, dumps: list[Path]) -> dict[str, str]:
    """The guide's restore: pg_restore each dump into the empty database as the tables'
    owner, then `renkei db migrate` (the hub's role gets its grants back, and is checked)."""
    for path in dumps:
        args = ("--no-owner", "--no-privileges", f"--dbname={url}", str(path))
        proc = await asyncio.create_subprocess_exec("pg_restore", *args, stderr=PIPE)
        await succeeded(proc, str(path))
    env = {**backups.env, "RENKEI_DB_URL": url}
    code, out = await cli(env, "db", "migrate")
    assert code == 0, out
    return env


async def contents(url: str, schemas: list[str]) -> dict[str, tuple[int, str]]:
    """Every table of ``schemas``: (rows, md5 of every row in order)."""
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables"
            " WHERE table_schema = ANY($1::text[]) AND table_type = 'BASE TABLE' ORDER BY 1",
            schemas,
        )
        out = {}
        for (table,) in tables:
            row = await conn.fetchrow(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                f" FROM {table} t"
            )
            out[table] = (row[0], row[1])
        return out
    finally:
        await conn.close()


async def test_every_schema_restores_exactly_and_the_records_verify_against_the_witness(
    backups: Backups, admin: asyncpg.Connection, databases: list[str], hub_role: str
) -> None:
    url = await new_database(admin, databases)
    env = await restore(backups, url, list(backups.dumps.values()))
    source = await contents(backups.env["RENKEI_DB_URL"], backups.schemas)
    assert source["records.access_record"][0] > 50 and source["records.disclosure_flag"][0] == 1
    assert source["directory.enrollments"][0] > 50
    assert await contents(url, backups.schemas) == source
    code, out = await cli(env, "records", "verify", "--witness", str(backups.witness))
    assert code == 0, out
    assert "the chain is intact" in out
    assert "witness: the records still hold the newest head(s)" in out
    conn = await asyncpg.connect(url)
    try:  # still append-only, and the hub's role may append and nothing more
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("DELETE FROM records.access_record WHERE seq = 1")
        can = await conn.fetchrow(
            "SELECT has_table_privilege($1, 'records.access_record', 'INSERT') AS insert,"
            " has_table_privilege($1, 'records.access_record', 'UPDATE, DELETE, TRUNCATE') AS more",
            hub_role,
        )
    finally:
        await conn.close()
    assert (can["insert"], can["more"]) == (True, False)


async def test_a_restore_that_lost_the_newest_records_is_caught_by_the_witness(
    backups: Backups, admin: asyncpg.Connection, databases: list[str], tmp_path: Path
) -> None:
    url = await new_database(admin, databases)
    others = [path for schema, path in backups.dumps.items() if schema != "records"]
    env = await restore(backups, url, [backups.early, *others])  # the records lost their tail
    alone = {k: v for k, v in env.items() if k != "RENKEI_WITNESS_DIR"}
    code, out = await cli(alone, "records", "verify")  # the database alone: a valid chain
    assert code == 0, out
    assert "would go unnoticed" in out
    code, out = await cli(env, "records", "verify", "--witness", str(backups.witness))
    assert code == 1, out
    assert "but the witness holds the hub's signed head at seq" in out
    assert "were removed from the end" in out

    # no newer copy: the loss is reported with that witness, the hub goes on with a new one
    fresh = tmp_path / "witness"
    settings = Settings(_env_file=None, db_url=url, witness_dir=fresh)
    state = State.load(Path(env["RENKEI_STATE_DIR"]), identities(load_rules(settings)[1]))
    async with await open_network(settings, state) as net:
        await season(net, (await net.stores["chiyoda-child"].keys("applicants"))[:3])
    code, out = await cli(env, "records", "verify", "--witness", str(fresh))
    assert code == 0, out
    code, out = await cli(env, "records", "verify", "--witness", str(backups.witness))
    assert code == 1, out


async def test_the_hub_goes_on_from_a_restored_chain(
    backups: Backups, admin: asyncpg.Connection, databases: list[str], tmp_path: Path
) -> None:
    url = await new_database(admin, databases)
    env = await restore(backups, url, list(backups.dumps.values()))
    witness = tmp_path / "witness"  # the oversight copy, carried over to the restored hub
    witness.mkdir()
    shutil.copy(backups.witness, witness / "records.witness")
    settings = Settings(_env_file=None, db_url=url, witness_dir=witness)
    state = State.load(Path(env["RENKEI_STATE_DIR"]), identities(load_rules(settings)[1]))
    async with await open_network(settings, state) as net:
        applicants = await net.stores["chiyoda-child"].keys("applicants")
        await season(net, applicants[:3])
    code, out = await cli(env, "records", "verify", "--witness", str(witness))
    assert code == 0, out
    assert "the chain is intact" in out
