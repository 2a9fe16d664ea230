"""``renkei pki serve`` as its own process: keys made on first start, encrypted, kept across
restarts; SIGTERM stops it cleanly; served as every web app is (``renkei.serving.web_site``)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
from cryptography import x509
from proc_env import CODE, free_port


async def serve_once(state: Path) -> bytes:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CODE,
        "--state-dir",
        str(state),
        "pki",
        "serve",
        "--port",
        str(port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/ca/root.pem") as r:
                        root = await r.read()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the CA did not start")
            async with http.get(f"http://127.0.0.1:{port}/crl/signature.crl") as r:
                assert r.status == 200
                assert r.headers["Server"] == "renkei"  # no Python or aiohttp version
            long_url = f"http://127.0.0.1:{port}/" + "a" * 10_000  # refused by aiohttp's parser
            async with http.get(long_url) as r:
                assert r.status == 400
                assert r.headers["Server"] == "renkei"
                assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert b"CA serving on" in err
    return root


async def test_first_start_creates_the_ca_and_restarts_keep_it(tmp_path: Path) -> None:
    first = await serve_once(tmp_path)
    pki = tmp_path / "pki"
    assert (pki / "password").stat().st_mode & 0o777 == 0o600
    assert (pki / "keys/root.key.pem").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY")
    assert (
        x509.load_pem_x509_certificate(first).subject.rfc4514_string().startswith("OU=Japan Agency")
    )
    assert await serve_once(tmp_path) == first
