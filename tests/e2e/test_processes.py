"""Each service as its own process against RabbitMQ and PostgreSQL, as an operator runs them."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from proc_env import free_port

from agencies.framework import OfficeNode
from agencies.store import PgStore
from hub.bus import connect_amqp, delete_users, delete_vhost
from hub.wire import HUB
from renkei.secrets import State
from token_service import KeyRing

pytestmark = pytest.mark.integration
RENKEI = str(Path(sys.executable).with_name("renkei"))
PG = "postgresql://postgres@127.0.0.1:5432/"
RRC = "12345678903"


async def cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        RENKEI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def start(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        RENKEI, "run", *args, env=env, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    async with asyncio.timeout(30):
        while b"running on" not in (line := await proc.stderr.readline()):
            assert line, f"`renkei run {' '.join(args)}` exited before it was ready"
    return proc


def as_hub(env: dict[str, str]) -> dict[str, str]:
    """The hub's own settings: its database user may only append to the access records."""
    db = env["RENKEI_DB_URL"].rsplit("/", 1)[1]
    return {**env, "RENKEI_DB_URL": f"postgresql://{env['RENKEI_DB_HUB_ROLE']}@127.0.0.1:5432/{db}"}


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    db = f"renkei_proc_{secrets.token_hex(4)}"
    role = f"renkei_hub_{secrets.token_hex(4)}"  # roles are cluster-wide: one of its own
    admin = await asyncpg.connect(PG + "postgres")
    await admin.execute(f'CREATE DATABASE "{db}"')
    await admin.execute(f"CREATE ROLE {role} LOGIN")
    env = {
        **os.environ,
        "RENKEI_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/",
        "RENKEI_BROKER_VHOST": f"renkei-proc-{secrets.token_hex(4)}",
        "RENKEI_DB_URL": PG + db,
        "RENKEI_DB_HUB_ROLE": role,
        "RENKEI_WITNESS_DIR": str(tmp_path / "witness"),
        "RENKEI_STATE_DIR": str(tmp_path / "state"),
        "RENKEI_LOG_LEVEL": "warning",
        "RENKEI_BROKER_USER_PREFIX": f"proc{secrets.token_hex(3)}-",
    }
    try:
        for command in (["init"], ["broker", "setup"], ["db", "migrate"]):
            code, out = await cli(env, *command)
            assert code == 0, out
        yield env
    finally:
        admin_url = "http://guest:guest@127.0.0.1:15672"
        await delete_vhost(admin_url, env["RENKEI_BROKER_VHOST"])
        prefix = env["RENKEI_BROKER_USER_PREFIX"]
        ids = [prefix + p.stem for p in (tmp_path / "state" / "keys").glob("*.pub")]
        await delete_users(admin_url, ids)
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def test_services_as_processes_answer_record_and_verify(deployment: dict[str, str]) -> None:
    """The hub connects as a role that may only append to the records, and witnesses them."""
    env = deployment
    procs = [await start(env, "token"), await start(as_hub(env), "hub")]
    procs.append(await start(env, "office", "chiyoda-tax"))
    state_dir = Path(env["RENKEI_STATE_DIR"])
    state = State.load(state_dir, ["chiyoda-child"])
    ring = KeyRing(state.token_master)
    link = ring.link_id(RRC)
    pool = await asyncpg.create_pool(env["RENKEI_DB_URL"], min_size=1, max_size=2)
    try:
        year = {"2024": {"total_income": 5_100_000, "municipal_income_levy": 240_000}}
        await PgStore(pool, "chiyoda-tax").put_many(
            "taxpayers",
            [("T1", ring.token_for(link, "chiyoda-tax"), {"name": "鈴木 誠", "years": year})],
        )
        my_token = ring.token_for(link, "chiyoda-child")
        await PgStore(pool, "chiyoda-child").put_many(
            "applicants", [("C1", my_token, {"name": "鈴木 誠"})]
        )
        user = env["RENKEI_BROKER_USER_PREFIX"] + "chiyoda-child"
        url = f"amqp://{user}:{state.passwords['chiyoda-child']}@127.0.0.1:5672/{env['RENKEI_BROKER_VHOST']}"
        bus = await connect_amqp(
            url, identity="chiyoda-child", user_prefix=env["RENKEI_BROKER_USER_PREFIX"]
        )
        node = OfficeNode(
            code="chiyoda-child", bus=bus, keys=state.keys["chiyoda-child"], hub=state.public[HUB]
        )
        await node.start()
        answers = await asyncio.gather(
            *(
                node.ask(
                    "child_allowance",
                    "chiyoda-tax",
                    ("local_tax",),
                    my_token,
                    {"fiscal_year": 2024},
                )
                for _ in range(20)
            )
        )
        await node.stop()
        await bus.close()
    finally:
        await pool.close()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [await asyncio.wait_for(p.wait(), 30) for p in procs]
    assert [a.status for a in answers] == ["ok"] * 20
    assert answers[0].data == {"local_tax": {"fiscal_year": 2024, **year["2024"]}}
    assert codes == [0, 0, 0], "each service stops cleanly on SIGTERM"
    code, out = await cli(env, "records", "verify")
    assert code == 0, out
    assert "intact" in out
    assert "witness: the records still hold the newest head(s)" in out
    conn = await asyncpg.connect(env["RENKEI_DB_URL"])
    try:
        beyond = await conn.fetchval(
            "SELECT has_table_privilege($1, 'records.access_record', 'UPDATE, DELETE, TRUNCATE')",
            env["RENKEI_DB_HUB_ROLE"],
        )
    finally:
        await conn.close()
    assert beyond is False, "the hub recorded all 20 queries with a role that may only append"
    code, out = await cli(env, "records", "show", "--office", "chiyoda-child", "--local-id", "C1")
    assert code == 0, out
    assert "20 record(s)" in out and "chiyoda-tax" in out


async def start_serving(
    env: dict[str, str], ready: bytes, *args: str
) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        RENKEI, *args, env=env, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    async with asyncio.timeout(30):
        while ready not in (line := await proc.stderr.readline()):
            assert line, f"`renkei {' '.join(args)}` exited before it was ready"
    return proc


async def test_the_portal_as_a_process_serves_the_card_login(deployment: dict[str, str]) -> None:
    env = deployment
    pki_port, portal_port = free_port(), free_port()
    procs = [await start(env, "token"), await start(as_hub(env), "hub")]
    procs.append(await start_serving(env, b"CA serving", "pki", "serve", "--port", str(pki_port)))
    procs.append(
        await start_serving(env, b"portal:", "portal", "serve", "--port", str(portal_port))
    )
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{portal_port}"
            async with http.get(f"{base}/", allow_redirects=False) as home:
                assert (home.status, home.headers["Location"]) == (303, "/login")
            async with http.get(f"{base}/login") as login:
                page = await login.text()
                assert login.status == 200
                assert 'action="http://127.0.0.1:8471/login"' in page
                assert "object-src 'none'" in login.headers["Content-Security-Policy"]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [await asyncio.wait_for(p.wait(), 30) for p in procs]
    assert codes == [0, 0, 0, 0], "each service stops cleanly on SIGTERM"
