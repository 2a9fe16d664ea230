"""The token channel on loopback sockets: the token service's LinkServer and the hub's TokenLink.

A dishonest office, garbage, a slow or too-long hello, a replayed hello, an oversized frame:
refused, the connection closed and the reason logged. The hub's link: many requests in flight,
a time-out, reconnecting after the token service restarts, failing over between copies, and
refusing a token service that cannot prove itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from structlog.testing import capture_logs
from tokens_helpers import CITY, MASTER, TAX, rrc

from hub.routing.token_link import TokenLink, TokenLinkDown
from hub.routing.tokens import TokenClient
from hub.wire import (
    Failed,
    OfficeKeys,
    TokenOk,
    TokenRefusal,
    TranslateBatch,
    TranslateItem,
    decode_token_result,
    encode,
)
from hub.wire.link import HEADER, HELLO, MAX_FRAME, frame, hub_hello, parse_hello
from token_service import KeyRing, LinkServer, TokenService

RING = KeyRing(MASTER)
SERVICE = TokenService(RING, X25519PrivateKey.generate())
HUB_KEYS, TOKEN_KEYS, OFFICE_KEYS = (
    OfficeKeys.generate(),
    OfficeKeys.generate(),
    OfficeKeys.generate(),
)
FAST = {"hello_timeout": 1.0, "backoff": (0.01, 0.05)}


def token(code: str, office: str = CITY) -> str:
    return RING.token_for(RING.link_id(code), office)


def batch(n: int) -> bytes:
    item = TranslateItem(token=token(rrc(n)), holder=CITY, targets=(TAX,))
    return encode(TranslateBatch(items=(item,)))


@contextlib.asynccontextmanager
async def serving(
    handler: Callable[[bytes], Awaitable[bytes]] = SERVICE.handle_bytes,
    port: int = 0,
    **kw: float,
) -> AsyncIterator[tuple[LinkServer, int]]:
    server = LinkServer(handler, TOKEN_KEYS, HUB_KEYS.public, **kw)  # type: ignore[arg-type]
    _, bound = await server.start("127.0.0.1", port)
    try:
        yield server, bound
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def linked(*ports: int, keys: OfficeKeys = HUB_KEYS) -> AsyncIterator[TokenLink]:
    link = TokenLink([("127.0.0.1", p) for p in ports], keys, TOKEN_KEYS.public, **FAST)  # type: ignore[arg-type]
    await link.start(wait=2.0)
    try:
        yield link
    finally:
        await link.close()


async def closed(reader: asyncio.StreamReader, within: float = 2.0) -> bool:
    """The server closed the connection (EOF) without sending anything more."""
    async with asyncio.timeout(within):
        return await reader.read(1) == b""


async def raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return reader, writer, parse_hello(await reader.readexactly(HELLO))


async def until(done: Callable[[], bool], within: float = 2.0) -> None:
    async with asyncio.timeout(within):
        while not done():  # noqa: ASYNC110 - a connection's state, no event to wait on
            await asyncio.sleep(0.005)


def refusals(logs: list[dict[str, object]]) -> list[str]:
    return [str(e["reason"]) for e in logs if e["event"] == "token_link.refused"]


# ---- the server: who may connect -----------------------------------------------------------


async def test_the_hub_is_answered_with_the_token_service() -> None:
    async with serving() as (_, port), linked(port) as link:
        assert link.connected == 1
        result = decode_token_result(await link.call(batch(1), timeout=2))
        assert result.items == (TokenOk(tokens=(token(rrc(1), TAX),)),)


async def test_a_dishonest_office_with_its_own_key_is_refused() -> None:
    async with serving() as (_, port):
        with capture_logs() as logs:
            reader, writer, server = await raw(port)
            writer.write(hub_hello(server, OFFICE_KEYS.signing)[0])
            assert await closed(reader)
            # and as the hub's link sees it: never connected, every call refused at once
            async with linked(port, keys=OFFICE_KEYS) as link:
                assert link.connected == 0
                with pytest.raises(TokenLinkDown):
                    await link.call(batch(1), timeout=1)
        writer.close()
    reasons = refusals(logs)
    assert reasons and all(r.startswith("wire.bad_signature") for r in reasons)


async def test_garbage_a_replayed_hello_and_a_too_long_hello_are_refused() -> None:
    async with serving() as (_, port):
        with capture_logs() as logs:
            reader, writer, server = await raw(port)
            good, _ = hub_hello(server, HUB_KEYS.signing)  # recorded from the wire…
            writer.close()
            reader, writer, _ = await raw(port)
            writer.write(good)  # …and replayed on a new connection
            assert await closed(reader)
            reader, writer, _ = await raw(port)
            writer.write(b"GET / HTTP/1.1\r\nHost: token\r\n\r\n" + bytes(200))
            assert await closed(reader)
            reader, writer, _ = await raw(port)
            writer.write(HEADER.pack(10_000_000, 0))  # a hello that would not end
            assert await closed(reader)
            reader, writer, _ = await raw(port)
            writer.write(frame(0, bytes(95)))  # one byte short
            assert await closed(reader)
            writer.close()
    reasons = refusals(logs)
    assert len(reasons) == 5
    assert reasons[0] == "closed during the hello"  # the recording's own connection
    assert reasons[1].startswith("wire.bad_signature")
    assert reasons[2].startswith("wire.too_large")  # "GET " read as a length
    assert reasons[3].startswith("wire.too_large")
    assert reasons[4].startswith("wire.malformed")


async def test_a_slow_hello_is_refused_in_time() -> None:
    async with serving(hello_timeout=0.2) as (_, port):
        with capture_logs() as logs:
            reader, writer, server = await raw(port)
            hello, _ = hub_hello(server, HUB_KEYS.signing)
            writer.write(hello[:10])  # and the rest never comes
            assert await closed(reader, within=2)
            writer.close()
    assert refusals(logs) == ["no hello within 0.2 s"]


async def test_connections_beyond_the_cap_are_refused() -> None:
    """A flood of unproven connections cannot hold more than the cap; the hub still gets in
    once they are gone."""
    async with serving(max_connections=2) as (_, port):
        with capture_logs() as logs:
            held = [await raw(port) for _ in range(2)]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await closed(reader)  # not even a hello
            writer.close()
            for _, w, _ in held:
                w.close()
            await asyncio.sleep(0.1)
            async with linked(port) as link:
                assert link.connected == 1
    assert "2 connections already" in refusals(logs)


async def test_a_frame_over_the_limit_closes_the_connection() -> None:
    async with serving() as (_, port), linked(port) as link:
        with capture_logs() as logs:
            peer = link._peers[0]
            writer = peer._writer
            assert writer is not None
            writer.write(HEADER.pack(MAX_FRAME + 1, 9))
            await until(lambda: not peer.up.is_set())
        assert [r.split(":")[0] for r in refusals(logs)] == ["wire.too_large"]
        await asyncio.wait_for(peer.up.wait(), 2)  # and the link connects again by itself


async def test_a_malformed_body_gets_the_single_refusal() -> None:
    async with serving() as (_, port), linked(port) as link:
        for body, code in ((b"{not json", "wire.malformed"), (bytes(MAX_FRAME), "wire.too_large")):
            result = decode_token_result(await link.call(body, timeout=2))
            (only,) = result.items
            assert isinstance(only, TokenRefusal) and only.code == code
        assert link.connected == 1  # a bad body is answered, not a reason to close


# ---- the hub's link ------------------------------------------------------------------------


async def test_many_requests_in_flight_each_get_their_own_reply() -> None:
    async def slow_then_fast(body: bytes) -> bytes:
        await asyncio.sleep(0.001 * (len(body) % 7))
        return body[::-1]

    async with serving(slow_then_fast) as (_, port), linked(port) as link:
        bodies = [b"%d-%s" % (i, b"x" * i) for i in range(300)]
        replies = await asyncio.gather(*(link.call(b, timeout=5) for b in bodies))
        assert replies == [b[::-1] for b in bodies]


async def test_a_call_times_out_and_a_silent_peer_is_dropped() -> None:
    stall = asyncio.Event()

    async def stalling(body: bytes) -> bytes:
        await stall.wait()
        return body

    async with serving(stalling) as (_, port), linked(port) as link:
        with pytest.raises(TokenLinkDown, match=r"did not answer within 0\.2 s"):
            await link.call(b"x", timeout=0.2)
        stall.set()
        # the connection answered nothing since: it is closed, and made again
        await until(lambda: link.connected == 0)
        await asyncio.wait_for(link._peers[0].up.wait(), 2)
        assert await link.call(b"y", timeout=2) == b"y"


async def test_the_link_reconnects_after_the_token_service_restarts() -> None:
    async with serving() as (server, port), linked(port) as link:
        await server.close()
        await until(lambda: link.connected == 0)
        with pytest.raises(TokenLinkDown, match="no copy of the token service is connected"):
            await link.call(batch(1), timeout=1)
        # a call while it is down waits for it (as a request waited in the broker's queue)
        waiting = asyncio.create_task(link.call(batch(2), timeout=3))
        await asyncio.sleep(0.1)
        async with serving(port=port):
            assert decode_token_result(await waiting).items[0].status == "ok"


async def test_the_link_spreads_over_copies_and_fails_over() -> None:
    seen: list[str] = []

    def copy(name: str) -> Callable[[bytes], Awaitable[bytes]]:
        async def handle(body: bytes) -> bytes:
            seen.append(name)
            return body

        return handle

    async with (
        serving(copy("a")) as (a, pa),
        serving(copy("b")) as (_, pb),
        linked(pa, pb) as link,
    ):
        await until(lambda: link.connected == 2)
        for _ in range(6):
            await link.call(b"x", timeout=2)
        assert seen.count("a") == seen.count("b") == 3
        await a.close()
        await until(lambda: link.connected == 1)
        seen.clear()
        for _ in range(4):
            await link.call(b"x", timeout=2)
        assert seen == ["b"] * 4


async def test_an_impostor_token_service_is_not_believed() -> None:
    """A process that listens at the token service's address without its key gets no request."""
    asked: list[bytes] = []

    async def answer(body: bytes) -> bytes:
        asked.append(body)
        return body

    impostor = LinkServer(answer, OFFICE_KEYS, HUB_KEYS.public)
    _, port = await impostor.start("127.0.0.1", 0)
    try:
        with capture_logs() as logs:
            async with linked(port) as link:
                assert link.connected == 0
                with pytest.raises(TokenLinkDown):
                    await link.call(b"x", timeout=1)
    finally:
        await impostor.close()
    assert asked == []
    downs = [e["reason"] for e in logs if e["event"] == "token_link.down"]
    assert downs and all(str(r).startswith("wire.bad_signature") for r in downs)


async def test_the_token_client_answers_unavailable_when_the_link_is_down() -> None:
    async with serving() as (server, port), linked(port) as link:
        client = TokenClient(link, timeout=1)
        ok = await client.translate(token(rrc(3)), CITY, (TAX,))
        assert ok == TokenOk(tokens=(token(rrc(3), TAX),))
        await server.close()
        await until(lambda: link.connected == 0)
        failed = await client.translate(token(rrc(3)), CITY, (TAX,))
        assert isinstance(failed, Failed) and failed.code == "hub.token_service_unavailable"
        assert failed.family == "hub"
