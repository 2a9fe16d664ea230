"""Helpers of the PKI integration tests: the CA on a free localhost port, commands, keys."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pki import CertificationAuthority, Endpoints, create_app

OPENSSL = "/usr/bin/openssl"
FACTS = {
    "name": "番号 花子",
    "address": "東京都千代田区霞が関二丁目1番2号",
    "birth_date": "1985-06-15",
    "sex": "2",
}


@dataclass
class Server:
    url: str
    ca: CertificationAuthority
    state: Path  # the renkei --state-dir: the CA lives in state / "pki"
    http: aiohttp.ClientSession

    @property
    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.ca.operator_token}"}

    @property
    def certs(self) -> Path:
        return self.state / "pki/certs"

    async def issue(
        self,
        kind: str,
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
        holder: str,
        **extra: Any,
    ) -> dict[str, Any]:
        body = (
            {
                "kind": kind,
                "public_key": public_pem(key),
                "holder": holder,
                "prefecture": "Tokyo-to",
                "municipality": "Chiyoda-ku",
            }
            | ({"facts": FACTS} if kind == "signature" else {})
            | extra
        )
        async with self.http.post(
            f"{self.url}/certificates", json=body, headers=self.operator
        ) as r:
            assert r.status == 201, await r.text()
            data: dict[str, Any] = await r.json()
            return data

    async def verifier(self, *roles: str) -> str:
        body = {
            "name": "Chiyoda City",
            "kind": "public",
            "roles": list(roles or ("signature", "authentication")),
        }
        async with self.http.post(f"{self.url}/verifiers", json=body, headers=self.operator) as r:
            assert r.status == 201, await r.text()
            key: str = (await r.json())["api_key"]
            return key

    async def event(
        self, kind: str, holder: str, at: dt.datetime | None = None
    ) -> list[dict[str, str]]:
        body = {"kind": kind, "holder": holder, "at": (at or dt.datetime.now(dt.UTC)).isoformat()}
        async with self.http.post(f"{self.url}/events", json=body, headers=self.operator) as r:
            assert r.status == 200, await r.text()
            revoked: list[dict[str, str]] = (await r.json())["revoked"]
            return revoked


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def private_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


async def start(
    state: Path, interval: dt.timedelta | None = None
) -> tuple[str, CertificationAuthority, web.AppRunner]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    ca = CertificationAuthority.open(state / "pki", Endpoints(url), interval)
    runner = web.AppRunner(create_app(ca), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return url, ca, runner


@pytest_asyncio.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    state = tmp_path_factory.mktemp("state")
    url, ca, runner = await start(state)
    async with aiohttp.ClientSession() as http:
        yield Server(url, ca, state, http)
    await runner.cleanup()
    ca.close()


async def run(*argv: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """A command run without blocking the loop that serves the CA."""
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def renkei(*argv: str, cwd: Path | None = None) -> tuple[int, str, str]:
    code = "import sys; from renkei.cli import main; sys.exit(main())"
    return await run(sys.executable, "-c", code, *argv, cwd=cwd)
