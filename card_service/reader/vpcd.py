"""The emulator's link to the vpcd virtual reader (vsmartcard-vpcd inside pcscd).

The card side connects to the reader over TCP (127.0.0.1:35963 is slot 0, "Virtual PCD 00
00"). Every message is a 2-byte big-endian length and a payload; a 1-byte payload is a control
byte — ``00`` power off, ``01`` power on, ``02`` reset (no answer), ``04`` get ATR (answered
with the ATR; pcscd asks about twice a second) — and a longer one is a command APDU, answered
with ``data || SW1 SW2``. vpcd writes the length and the body in two segments, so with
delayed ACKs every APDU would wait about 40 ms for the ACK timer: ``TCP_QUICKACK`` is re-armed
before every read (the kernel clears it by itself), which brings a round trip well under a
millisecond. Closing the socket is pulling the card out.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

from card_service.card.persistent import PersistentCard
from card_service.exceptions import CardRemoved, NoCard
from hub.log import get_logger

__all__ = ["DEFAULT_PORT", "VpcdLink"]

DEFAULT_PORT = 35963
POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4
log = get_logger("card_service.reader.vpcd")


class VpcdLink:
    QUIET = 5.0  # seconds without a poll after which the slot is probably taken

    def __init__(
        self,
        card: PersistentCard,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        quickack: bool = True,
    ) -> None:
        self.card = card
        self.host, self.port = host, port
        self.quickack = quickack
        self.apdus = 0
        self._sock: socket.socket | None = None
        self._heard = False
        self._stopping = threading.Event()

    def connect(self, timeout: float = 5.0) -> None:
        """Insert the card: connect to the reader, retrying until ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2.0)
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise NoCard(
                        f"no vpcd reader at {self.host}:{self.port} ({exc.strerror or exc}); "
                        "is pcscd running with vsmartcard-vpcd?"
                    ) from None
                time.sleep(0.1)
        sock.settimeout(self.QUIET)  # until the reader first speaks: see _recv
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        log.info("card inserted in the virtual reader", host=self.host, port=self.port)

    def _recv(self, n: int) -> bytes:
        assert self._sock is not None
        buf = bytearray()
        while len(buf) < n:
            if self.quickack:
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            try:
                chunk = self._sock.recv(n - len(buf))
            except TimeoutError:
                # vpcd serves one card per slot; a second one waits in its backlog, unheard
                log.warning(
                    "the reader has not polled this card: is another card in the slot?",
                    port=self.port,
                )
                self._heard = True
                self._sock.settimeout(None)
                continue
            if not self._heard:
                self._heard = True
                self._sock.settimeout(None)
            if not chunk:
                raise CardRemoved("the reader closed the connection")
            buf += chunk
        return bytes(buf)

    def _send(self, payload: bytes) -> None:
        assert self._sock is not None
        self._sock.sendall(struct.pack(">H", len(payload)) + payload)

    def serve(self) -> None:
        """Answer the reader until :meth:`stop` or until the reader goes away."""
        if self._sock is None:
            self.connect()
        try:
            while not self._stopping.is_set():
                (size,) = struct.unpack(">H", self._recv(2))
                payload = self._recv(size) if size else b""
                if len(payload) == 1:
                    self._control(payload[0])
                elif payload:
                    self.apdus += 1
                    self._send(self.card.transmit(payload))
        except (CardRemoved, OSError) as exc:
            if not self._stopping.is_set():
                raise CardRemoved(f"the virtual reader went away ({exc})") from None
        finally:
            self.close()

    def _control(self, byte: int) -> None:
        if byte == GET_ATR:
            self._send(self.card.atr)
        elif byte in (POWER_OFF, POWER_ON, RESET):
            self.card.reset()

    def stop(self) -> None:
        """Pull the card: safe from another thread or a signal handler."""
        self._stopping.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            log.info("card removed from the virtual reader", apdus=self.apdus)
