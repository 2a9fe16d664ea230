"""Helpers of the card integration tests: the real PC/SC stack (pcscd + vpcd), the CA over
HTTP, an emulator in this process or as ``renkei card emulate``, and commands.

Only one card can sit in a vpcd slot, so every emulator here is pulled out (and the reader
seen empty) before the next one goes in; pytest runs these tests one after another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from proc_env import CODE, READER, VPCD_PORT

from card_service import (
    CardClient,
    HttpCa,
    LocalTransport,
    PersistentCard,
    Pins,
    Resident,
    StateKey,
    VpcdLink,
    issue_to_file,
)
from card_service.reader.pcsc import PcscTransport, wait_for_card
from hub.node import PgStore
from hub.routing import load_default_registry, load_default_table
from hub.wire import HUB
from pki import CertificationAuthority, Endpoints, create_app
from renkei.network import identities, migrate
from renkei.secrets import State

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
AUTH_PIN, SIGN_PIN, FACE_PIN = "1234", "ABC123", "5678"
RESIDENT_DOC = {
    "number": "123456789018",
    "name": "番号 花子",
    "address": "東京都千代田区霞が関二丁目1番2号",
    "birth_date": "1985-06-15",
    "sex": "2",
    "prefecture": "Tokyo-to",
    "municipality": "Chiyoda-ku",
}


@dataclass
class Ca:
    url: str
    state_dir: Path  # a renkei --state-dir: the CA lives in state_dir / "pki"
    ca: CertificationAuthority
    db: str  # the register's database: 千代田区's register keeps RESIDENT_DOC under REGISTERED


REGISTER, REGISTERED = "chiyoda-resident", "D1"  # `card issue --register … --local-id …`
RRC = "12345678903"  # the resident's 住民票コード on that register, given to the CA
ADMIN_DSN = os.environ.get("RENKEI_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.asynccontextmanager
async def register_db() -> AsyncIterator[str]:
    """A database of its own, migrated, whose resident register keeps the desk's applicant:
    the desk issues a card only to a resident on its register (番号法 第16条)."""
    admin = await asyncpg.connect(ADMIN_DSN, timeout=5)
    name = f"renkei_card_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = urlunsplit(urlsplit(ADMIN_DSN)._replace(path=f"/{name}"))
        registry = load_default_registry(load_default_table())
        await migrate(dsn, registry, State.generate(identities(registry)).keys[HUB].signing)
        record = {k: RESIDENT_DOC[k] for k in ("name", "address", "birth_date", "sex")}
        record["rrc"] = RRC
        async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
            await PgStore(pool, REGISTER).put_many("residents", [(REGISTERED, None, record)])
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest_asyncio.fixture(scope="module")
async def ca(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Ca]:
    state = tmp_path_factory.mktemp("state")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    authority = CertificationAuthority.open(state / "pki", Endpoints(url), None)
    runner = web.AppRunner(create_app(authority), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    async with register_db() as db:
        yield Ca(url, state, authority, db)
    await runner.cleanup()
    authority.close()


async def issue_card_file(ca: Ca, path: Path) -> None:
    """A card issued through the CA's HTTP API, saved as a state file (keys beside it)."""
    resident = Resident.from_json(json.dumps(RESIDENT_DOC).encode())
    pins = Pins(auth=AUTH_PIN, sign=SIGN_PIN, face=FACE_PIN)
    async with aiohttp.ClientSession() as http:
        http_ca = HttpCa(http, ca.url, ca.ca.operator_token)
        await issue_to_file(path, StateKey.beside(path), resident, pins, http_ca, code=RRC)


class Emulator:
    """The card from a state file in the vpcd reader, served by a thread of this process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.link: VpcdLink | None = None
        self.local: LocalTransport | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def insert(self, wrap: Callable[[PersistentCard], PersistentCard] | None = None) -> None:
        self.local = LocalTransport.open(self.path, StateKey.beside(self.path))
        card = wrap(self.local.card) if wrap else self.local.card
        self.link = VpcdLink(card, port=VPCD_PORT)
        self.link.connect()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        assert wait_for_card(READER, 10), "the reader did not see the card"

    def _serve(self) -> None:
        assert self.link is not None
        try:
            self.link.serve()
        except BaseException as exc:  # the thread's end: pull() fails the test with it
            self.error = exc

    def pull(self) -> None:
        """Out of the reader; fails with the emulator's own error if it crashed meanwhile
        (the test then saw only a card gone or a reader waiting)."""
        if self.link is not None:
            self.link.stop()
        if self.thread is not None:
            self.thread.join(10)
        if self.local is not None:
            self.local.close()
        self.link = self.thread = self.local = None
        gone = wait_for_card(READER, 10, present=False)
        if self.error is not None:
            error, self.error = self.error, None
            raise AssertionError(f"the card emulator crashed: {error!r}") from error
        assert gone, "the reader still shows a card"


@contextlib.contextmanager
def inserted(path: Path) -> Iterator[Emulator]:
    emu = Emulator(path)
    emu.insert()
    try:
        yield emu
    finally:
        emu.pull()


@contextlib.contextmanager
def connected() -> Iterator[CardClient]:
    transport = PcscTransport.connect(READER)
    try:
        yield CardClient(transport)
    finally:
        transport.close()


def tx(client: CardClient, hexapdu: str) -> tuple[bytes, int]:
    raw = client.transport.transmit(bytes.fromhex(hexapdu))
    return raw[:-2], int.from_bytes(raw[-2:], "big")


async def run(*argv: str, stdin: bytes | None = None, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def renkei(state_dir: Path, *argv: str) -> tuple[int, str, str]:
    return await run(sys.executable, "-c", CODE, "--state-dir", str(state_dir), *argv)


class EmulatorProcess:
    """``renkei card emulate`` as its own process: the way a card is used for real."""

    def __init__(self, state_dir: Path, path: Path) -> None:
        self.state_dir, self.path = state_dir, path
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CODE,
            "--state-dir",
            str(self.state_dir),
            "card",
            "emulate",
            "--state",
            str(self.path),
            "--port",
            str(VPCD_PORT),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        if not await asyncio.to_thread(wait_for_card, READER, 20):
            await self.kill()
            raise AssertionError("the emulator's card did not appear in the reader")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    async def stop(self) -> tuple[int, str]:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(self.proc.communicate(), 20)
        await asyncio.to_thread(wait_for_card, READER, 10, present=False)
        code = self.proc.returncode
        self.proc = None
        return code or 0, err.decode(errors="replace")

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None
        assert await asyncio.to_thread(wait_for_card, READER, 10, present=False)
