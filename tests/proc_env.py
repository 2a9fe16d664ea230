"""What tests that start renkei processes or use the card reader share (importable from every
test folder: tests/conftest.py puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from card_service.reader.pcsc import card_present, list_readers
from hub.bus import BrokerUrl, connect_amqp, delete_users, delete_vhost
from hub.bus.juki import JUKI_VHOST_SUFFIX
from hub.node import OfficeNode, PgStore
from hub.wire import HUB
from renkei.secrets import TOKEN, State
from token_service import KeyRing

__all__ = [
    "CODE",
    "PG",
    "READER",
    "RENKEI",
    "TAX_YEAR",
    "VPCD_PORT",
    "as_hub",
    "cli",
    "deployed",
    "file_taxpayer",
    "free_base_port",
    "free_port",
    "office_node",
    "require_pcsc",
    "start",
    "stop",
]

# vsmartcard-vpcd has two slots (ports 35963 and 35964): RENKEI_TEST_VPCD_SLOT=1 lets a second
# suite hold a card of its own while another runs in slot 0. `make test` runs the card tests
# (marker pcsc) apart, one at a time, after the others (some read "the first reader holding a
# card" and must find their own).
VPCD_SLOT = int(os.environ.get("RENKEI_TEST_VPCD_SLOT", "0"))
READER = f"Virtual PCD 00 {VPCD_SLOT:02d}"
VPCD_PORT = 35963 + VPCD_SLOT
CODE = "import sys; from renkei.cli import main; sys.exit(main())"  # `python -c CODE args…`
RENKEI = str(Path(sys.executable).with_name("renkei"))
PG = "postgresql://postgres@127.0.0.1:5432/"
_ADMIN = "http://guest:guest@127.0.0.1:15672"
TAX_YEAR = {"2024": {"total_income": 5_100_000, "municipal_income_levy": 240_000}}


async def cli(env: dict[str, str], *args: str, within: float = 60) -> tuple[int, str]:
    """``renkei ARGS`` as its own process: (exit code, stdout and stderr together; killed
    if not done ``within`` s)."""
    proc = await asyncio.create_subprocess_exec(
        RENKEI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode()


async def start(
    env: dict[str, str],
    *args: str,
    within: float = 30,
    command: str = "run",
    ready: bytes = b"running on",
) -> asyncio.subprocess.Process:
    """``renkei run ARGS`` (or ``renkei COMMAND ARGS``), once it says it is running — its log
    holds ``ready`` (killed if not within ``within`` s)."""
    proc = await asyncio.create_subprocess_exec(
        RENKEI, command, *args, env=env, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    try:
        await asyncio.wait_for(_ready(proc, args, ready), within)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return proc


async def _ready(proc: asyncio.subprocess.Process, args: tuple[str, ...], ready: bytes) -> None:
    assert proc.stderr is not None
    while ready not in (line := await proc.stderr.readline()):
        assert line, f"`renkei run {' '.join(args)}` exited before it was ready"


async def stop(procs: list[asyncio.subprocess.Process]) -> list[int]:
    """SIGTERM each, and their exit codes."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    return [await asyncio.wait_for(p.wait(), 30) for p in procs]


def as_hub(env: dict[str, str]) -> dict[str, str]:
    """The hub's own settings: its database user may only append to the access records."""
    server, db = env["RENKEI_DB_URL"].rsplit("@", 1)[1].rsplit("/", 1)
    return {**env, "RENKEI_DB_URL": f"postgresql://{env['RENKEI_DB_HUB_ROLE']}@{server}/{db}"}


@contextlib.asynccontextmanager
async def deployed(
    tmp_path: Path, pg: str = PG, broker: tuple[str, str] | None = None
) -> AsyncIterator[dict[str, str]]:
    """A deployment on RabbitMQ and PostgreSQL of its own (vhost, users, database, the hub's
    role), set up as an operator does — `renkei init`, `broker setup`, `db migrate` — and its
    environment; everything removed afterwards. ``pg``: another PostgreSQL server's URL;
    ``broker``: other RabbitMQ nodes' (AMQP URL, management URL), as ``renkei cluster`` names
    them (``Cluster.broker_url``, ``admin_url``)."""
    amqp, admin_url = broker or ("amqp://guest:guest@127.0.0.1:5672/", _ADMIN)
    db = f"renkei_proc_{secrets.token_hex(4)}"
    role = f"renkei_hub_{secrets.token_hex(4)}"  # roles are cluster-wide: one of its own
    admin = await asyncpg.connect(pg + "postgres")
    await admin.execute(f'CREATE DATABASE "{db}"')
    await admin.execute(f"CREATE ROLE {role} LOGIN")
    env = {
        **os.environ,
        "RENKEI_BROKER_URL": amqp,
        "RENKEI_BROKER_ADMIN_URL": admin_url,
        "RENKEI_BROKER_VHOST": f"renkei-proc-{secrets.token_hex(4)}",
        "RENKEI_DB_URL": pg + db,
        "RENKEI_DB_HUB_ROLE": role,
        "RENKEI_WITNESS_DIR": str(tmp_path / "witness"),
        "RENKEI_STATE_DIR": str(tmp_path / "state"),
        "RENKEI_LOG_LEVEL": "warning",
        "RENKEI_BROKER_USER_PREFIX": f"proc{secrets.token_hex(3)}-",
        "RENKEI_TOKEN_ADDRESS": f"127.0.0.1:{free_port()}",  # the hub's channel to the token
    }
    try:
        for command in (["init"], ["broker", "setup"], ["db", "migrate"]):
            code, out = await cli(env, *command)
            assert code == 0, out
        yield env
    finally:
        try:  # the broker's part may time out on a loaded broker: the database goes anyway
            await delete_vhost(admin_url, env["RENKEI_BROKER_VHOST"])
            await delete_vhost(admin_url, env["RENKEI_BROKER_VHOST"] + JUKI_VHOST_SUFFIX)
            prefix = env["RENKEI_BROKER_USER_PREFIX"]
            ids = [prefix + p.stem for p in (tmp_path / "state" / "public").glob("*.pub")]
            await delete_users(admin_url, ids)
        finally:
            if admin.is_closed():  # the server was restarted meanwhile (bench/faults.py)
                admin = await asyncpg.connect(pg + "postgres")
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await admin.execute(f"DROP ROLE IF EXISTS {role}")
            await admin.close()


def free_base_port() -> int:
    """A base port of ``renkei cluster`` whose nine ports (AMQP, management, Erlang of three
    nodes) are free."""
    for base in range(6000 + os.getpid() % 500 * 10, 25000, 10):
        try:
            for port in (base + n + off for n in (1, 2, 3) for off in (0, 10000, 20000)):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no free ports")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def require_pcsc() -> None:
    """Fail (never skip) when the PC/SC stack is missing or busy, saying what to start."""
    try:
        readers = list_readers()
    except Exception as exc:
        pytest.fail(f"PC/SC is not available ({exc}): start pcscd (scripts/services)")
    if READER not in readers:
        pytest.fail(f"no {READER!r} reader (readers: {readers}): install vsmartcard-vpcd")
    if card_present(READER):
        pytest.fail(f"a card is already in {READER}: stop the other emulator first")


async def file_taxpayer(
    env: dict[str, str], tax: str = "shinjuku-tax", asker: str = "chiyoda-child"
) -> str:
    """One taxpayer (``TAX_YEAR``) in ``tax``'s store and the same person among ``asker``'s
    applicants, each under its own token, filed as enrollment (or bulk 符号取得) would, with
    the token master of the directory `renkei init` filled. Returns ``asker``'s token."""
    ring = KeyRing(State.load_secret(Path(env["RENKEI_STATE_DIR"]), TOKEN))
    link = ring.link_id("12345678903")
    pool = await asyncpg.create_pool(env["RENKEI_DB_URL"], min_size=1, max_size=2)
    try:
        taxpayer = {"name": "鈴木 誠", "years": TAX_YEAR}
        await PgStore(pool, tax).put_many(
            "taxpayers", [("T1", ring.token_for(link, tax), taxpayer)]
        )
        token = ring.token_for(link, asker)
        await PgStore(pool, asker).put_many("applicants", [("C1", token, {"name": "鈴木 誠"})])
    finally:
        await pool.close()
    return token


async def office_node(
    env: dict[str, str], state: State, code: str, *, started: bool = True
) -> OfficeNode:
    """``code`` on the deployment's broker with the keys of ``state`` (its own files), started
    (or not: the caller sets it up first); the caller stops it (``node.stop()``, then
    ``node.bus.close()``)."""
    prefix = env["RENKEI_BROKER_USER_PREFIX"]
    broker = BrokerUrl.parse(env["RENKEI_BROKER_URL"])
    url = str(
        broker.with_login(prefix + code, state.passwords[code]).with_vhost(
            env["RENKEI_BROKER_VHOST"]
        )
    )
    bus = await connect_amqp(url, identity=code, user_prefix=prefix)
    node = OfficeNode(code=code, bus=bus, keys=state.keys[code], hub=state.public[HUB])
    if started:
        await node.start()
    return node
