"""The emulator's link to vpcd, against a fake reader on loopback: it answers the reader, and
re-arms TCP_QUICKACK before every read (the kernel clears it by itself; vpcd writes a message's
length and body in two segments, so without it each APDU waits for the delayed-ACK timer).
How fast that makes a round trip is measured by ``bench/card_bench.py``, not asserted here."""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any

import pytest

from card_service.reader.vpcd import GET_ATR, VpcdLink

ATR = bytes.fromhex("3BE000FF8131FE4514")
SELECT = bytes.fromhex("00A4040C0AD392F000260100000001")


class FakeCard:
    atr = ATR

    def transmit(self, apdu: bytes) -> bytes:
        return b"\x90\x00"

    def reset(self) -> None:
        pass


class Watched:
    """The link's socket, noting in order each TCP_QUICKACK set and each read."""

    def __init__(self, sock: socket.socket, seen: list[str]) -> None:
        self._sock, self._seen = sock, seen

    def setsockopt(self, level: int, option: int, value: int) -> None:
        if (level, option) == (socket.IPPROTO_TCP, socket.TCP_QUICKACK):
            self._seen.append("quickack")
        self._sock.setsockopt(level, option, value)

    def recv(self, n: int) -> bytes:
        self._seen.append("read")
        return self._sock.recv(n)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, "the link closed the connection"
        buf += chunk
    return buf


def _ask(reader: socket.socket, payload: bytes) -> bytes:
    """Send one vpcd message as vpcd does (length, then body: two segments); its answer."""
    reader.sendall(struct.pack(">H", len(payload)))
    reader.sendall(payload)
    (size,) = struct.unpack(">H", _exact(reader, 2))
    return _exact(reader, size)


def _serve(monkeypatch: pytest.MonkeyPatch, *, quickack: bool) -> list[str]:
    """A link serving a fake reader an ATR request and an APDU; what its socket saw."""
    seen: list[str] = []
    connect = socket.create_connection
    monkeypatch.setattr(
        socket, "create_connection", lambda *a, **kw: Watched(connect(*a, **kw), seen)
    )
    with socket.create_server(("127.0.0.1", 0)) as server:
        link = VpcdLink(FakeCard(), port=server.getsockname()[1], quickack=quickack)  # type: ignore[arg-type]
        link.connect()
        reader, _ = server.accept()
        with reader:
            serving = threading.Thread(target=link.serve)
            serving.start()
            assert _ask(reader, bytes([GET_ATR])) == ATR
            assert _ask(reader, SELECT) == b"\x90\x00"
            link.stop()
            serving.join(10)
    assert not serving.is_alive()
    return seen


def test_the_link_rearms_quickack_before_every_read(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _serve(monkeypatch, quickack=True)
    reads = [i for i, what in enumerate(seen) if what == "read"]
    assert len(reads) >= 4  # two messages, each a length and a body
    assert all(i > 0 and seen[i - 1] == "quickack" for i in reads), seen


def test_without_quickack_the_option_is_never_set(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _serve(monkeypatch, quickack=False)
    assert "read" in seen and "quickack" not in seen
