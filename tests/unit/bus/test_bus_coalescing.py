"""The AMQP connection's coalesced socket writes: what is written in one turn of the event loop
goes to the socket as one write, in order; drain, write_eof and close send what is pending
first (tests/integration/bus runs the bus over them against a broker)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiormq.connection import TCPTransportFactory, TLSTransportFactory

from hub.bus import BrokerUrl
from hub.bus._amqp_connection import (
    CoalescingWriter,
    FailoverConnection,
    _Coalescing,
    coalescing_transports,
)


class FakeWriter:
    """What aiormq's connection uses of a StreamWriter, recording each socket write."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.events: list[str] = []
        self.closing = False
        self.transport = object()

    def write(self, data: bytes) -> None:
        self.sent.append(data)
        self.events.append("write")

    async def drain(self) -> None:
        self.events.append("drain")

    def write_eof(self) -> None:
        self.events.append("eof")

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def is_closing(self) -> bool:
        return self.closing

    def can_write_eof(self) -> bool:
        return True


async def turn() -> None:
    """Let the event loop run the callbacks that are ready."""
    await asyncio.sleep(0)


async def test_the_writes_of_one_turn_go_to_the_socket_as_one_in_order() -> None:
    inner = FakeWriter()
    writer = CoalescingWriter(inner)  # type: ignore[arg-type]
    for frame in (b"publish-1", b"publish-2", b"ack"):
        writer.write(frame)
    assert inner.sent == []  # not yet: at the end of the turn
    await turn()
    assert inner.sent == [b"publish-1publish-2ack"]
    writer.write(b"next")
    await turn()
    assert inner.sent == [b"publish-1publish-2ack", b"next"]  # a later turn: a write of its own


async def test_drain_write_eof_and_close_send_what_is_pending_first() -> None:
    inner = FakeWriter()
    writer = CoalescingWriter(inner)  # type: ignore[arg-type]
    writer.write(b"a")
    await writer.drain()
    assert (inner.sent, inner.events) == ([b"a"], ["write", "drain"])
    writer.write(b"b")
    writer.write_eof()
    writer.write(b"c")
    writer.close()
    assert inner.sent == [b"a", b"b", b"c"]
    assert inner.events == ["write", "drain", "write", "eof", "write", "close"]
    await turn()  # the flush scheduled for the turn finds nothing left
    assert inner.sent == [b"a", b"b", b"c"]


async def test_bytes_for_a_closing_socket_are_dropped_not_raised_in_a_callback() -> None:
    inner = FakeWriter()
    writer = CoalescingWriter(inner)  # type: ignore[arg-type]
    writer.write(b"late")
    inner.closing = True
    await turn()
    assert inner.sent == []


async def test_everything_else_is_the_wrapped_writers() -> None:
    inner = FakeWriter()
    writer: Any = CoalescingWriter(inner)  # type: ignore[arg-type]
    assert writer.transport is inner.transport
    assert writer.can_write_eof() is True


async def test_every_connection_of_the_bus_coalesces_on_tcp_and_on_tls() -> None:
    for url, inner in (
        ("amqp://u:p@h1:5672/v", TCPTransportFactory),
        ("amqps://h1/v", TLSTransportFactory),
    ):
        connection = FailoverConnection(BrokerUrl.parse(url), 0, reconnect_interval=0.1)
        factory = connection.kwargs["transport_factory"]
        assert isinstance(factory, _Coalescing)
        assert isinstance(factory._inner, inner)
        await connection.close()  # never connected: closed, not left to the collector
    assert isinstance(coalescing_transports(tls=False)._inner, TCPTransportFactory)  # type: ignore[attr-defined]
