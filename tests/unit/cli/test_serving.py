"""``renkei.serving.web_site`` over a real socket: every answer of the portal and the card
bridge — aiohttp's own answers to what its HTTP parser refuses included — carries security
headers and names no Python or aiohttp version."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import pytest
from aiohttp import web
from proc_env import free_port

from card_service.bridge.app import create_bridge_app
from portal.web import create_app
from renkei.serving import ERROR_HEADERS, web_site

PORTAL, BRIDGE = "http://127.0.0.1:8470", "http://127.0.0.1:8471"


def portal_app() -> web.Application:
    class Unused:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"{name}: no backend call is expected here")

    return create_app(
        Unused(),  # type: ignore[arg-type]
        Unused(),  # type: ignore[arg-type]
        bridge_url=BRIDGE,
        public_origin=PORTAL,
        clock=lambda: dt.datetime(2025, 6, 10, tzinfo=dt.UTC),
    )


def bridge_app() -> web.Application:
    def no_card() -> object:
        raise AssertionError("no card is opened here")

    return create_bridge_app(no_card, portal_origins=[PORTAL], sign_cms=no_card)  # type: ignore[arg-type]


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` as it is; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if line)
    body = await reader.readexactly(int(headers.get("Content-Length", "0")))
    writer.close()
    return int(lines[0].split()[1]), headers, body


REQUESTS = {
    "an over-long URL": b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "an over-long header": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: "
    + b"c" * 10_000
    + b"\r\n\r\n",
    "no HTTP at all": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",  # TLS, say
}


@pytest.mark.parametrize("make", [portal_app, bridge_app], ids=["portal", "bridge"])
@pytest.mark.parametrize("what", list(REQUESTS))
async def test_aiohttps_own_400_carries_the_security_headers(
    make: Callable[[], web.Application], what: str
) -> None:
    port = free_port()
    async with web_site(make(), "127.0.0.1", port):
        status, headers, _ = await exchange(port, REQUESTS[what])
    assert status == 400
    for name, value in ERROR_HEADERS.items():
        assert headers.get(name) == value, name
    assert headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("make", [portal_app, bridge_app], ids=["portal", "bridge"])
@pytest.mark.parametrize("path", ["/login", "/nowhere", "/static/portal.css"])
async def test_the_server_header_names_no_version(
    make: Callable[[], web.Application], path: str
) -> None:
    port = free_port()
    async with web_site(make(), "127.0.0.1", port):
        status, headers, _ = await exchange(
            port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        )
    assert status in (200, 404, 405)
    assert headers["Server"] == "renkei"
    assert "X-Content-Type-Options" in headers  # the app's own headers, as before
