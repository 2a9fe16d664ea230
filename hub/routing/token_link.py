"""The hub's side of the token channel (``hub.wire.link``): one TCP connection per copy of the
token service, many requests in flight on each by request id.

Each connection is kept up by a task of its own: connect, prove the hub's identity, check the
token service's proof, then read replies until the connection ends; after a failure it tries
again after a back-off that doubles up to ``backoff[1]`` (with jitter), so a restarted token
service is found again by itself. A call goes to the next connected copy in turn, waits for
one while none is connected, and is sent again when its connection is lost before the reply;
with no reply within its timeout it raises :class:`TokenLinkDown`, which the token client
answers as ``hub.token_service_unavailable``, as when the bus's RPC timed out. A call that
times out on a connection that has answered nothing since it was sent closes that connection
(a peer that stopped answering is not waited on twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Sequence
from typing import ClassVar

from hub.log import get_logger
from hub.routing.exceptions import HUB_TOKEN_SERVICE_UNAVAILABLE, RoutingError
from hub.wire import OfficeKeys, PublicKeys, WireError
from hub.wire.link import (
    HEADER,
    HELLO,
    SIGNATURE,
    frame,
    hub_hello,
    parse_header,
    parse_hello,
    verify_proof,
)

__all__ = ["TokenLink", "TokenLinkDown"]

log = get_logger("hub.token_link")
_IDS = 1 << 32


class TokenLinkDown(RoutingError):
    """No copy of the token service is connected, or none answered in time."""

    code: ClassVar[str] = HUB_TOKEN_SERVICE_UNAVAILABLE


class _Lost(TokenLinkDown):
    """The connection ended before the reply came (the request may be sent again)."""


class _Peer:
    """One copy of the token service: its connection, kept up, and the calls waiting on it."""

    def __init__(self, link: TokenLink, host: str, port: int) -> None:
        self.link = link
        self.host, self.port = host, port
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._ids = itertools.count(1)
        self._last_read = 0.0
        self.served = False  # the current connection got past the handshake
        self.up = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    async def keep(self) -> None:
        """Connect, serve, and after a failure connect again, for as long as the link runs."""
        low, high = self.link.backoff
        delay = low
        while True:
            self.served = False
            try:
                await self._connection()
            except (OSError, TimeoutError, asyncio.IncompleteReadError, WireError) as exc:
                log.warning("token_link.down", address=self.where, reason=_why(exc))
            except Exception:  # a bug: logged, and the connection made again all the same
                log.exception("token_link.failed", address=self.where)
            if self.served:  # it was up: this failure starts the back-off afresh
                delay = low
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
            delay = min(delay * 2, high)

    async def _connection(self) -> None:
        link = self.link
        async with asyncio.timeout(link.hello_timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            async with asyncio.timeout(link.hello_timeout):
                server = parse_hello(await reader.readexactly(HELLO))
                hello, client = hub_hello(server, link.keys.signing)
                writer.write(hello)
                proof = await reader.readexactly(SIGNATURE)
            verify_proof("token", server, client, proof, link.token)
            self._writer = writer
            self.served = True
            self.up.set()
            log.info("token_link.up", address=self.where)
            await self._replies(reader)
        finally:
            self._down(writer)

    async def _replies(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        while True:
            length, request_id = parse_header(await reader.readexactly(HEADER.size))
            body = await reader.readexactly(length)
            self._last_read = loop.time()
            waiting = self._pending.pop(request_id, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(body)

    def _down(self, writer: asyncio.StreamWriter) -> None:
        self.up.clear()
        self._writer = None
        writer.close()
        pending, self._pending = self._pending, {}
        for waiting in pending.values():
            if not waiting.done():
                waiting.set_exception(_Lost(f"the connection to {self.where} was lost"))

    async def call(self, body: bytes, timeout: float) -> bytes:  # noqa: ASYNC109 - per call
        writer = self._writer
        if writer is None:
            raise _Lost(f"not connected to {self.where}")
        loop = asyncio.get_running_loop()
        request_id = next(self._ids) % _IDS
        waiting: asyncio.Future[bytes] = loop.create_future()
        self._pending[request_id] = waiting
        sent = loop.time()
        try:
            async with asyncio.timeout(timeout):
                writer.write(frame(request_id, body))
                await writer.drain()
                return await waiting
        except TimeoutError:
            if self._last_read < sent and writer is self._writer:
                log.warning("token_link.silent", address=self.where, waited=timeout)
                writer.transport.abort()  # the reader ends, and the connection is made again
            waited = round(timeout, 3)
            raise TokenLinkDown(f"{self.where} did not answer within {waited:g} s") from None
        except ConnectionError as exc:
            raise _Lost(f"the connection to {self.where} failed: {exc}") from None
        finally:
            self._pending.pop(request_id, None)


def _why(exc: BaseException) -> str:
    if isinstance(exc, WireError):
        return f"{exc.code}: {exc}"
    if isinstance(exc, TimeoutError):
        return "no hello in time"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "closed by the token service"
    return f"{type(exc).__name__}: {exc}"


class TokenLink:
    """The hub's connections to the token service's copies at ``addresses``.

    ``keys``: the hub's own (its signing key proves it is the hub); ``token``: the token
    service's public keys (its proof is checked against them). ``start`` begins connecting and
    waits up to ``wait`` seconds for a first connection; ``close`` ends every connection and
    fails what still waits.
    """

    def __init__(
        self,
        addresses: Sequence[tuple[str, int]],
        keys: OfficeKeys,
        token: PublicKeys,
        *,
        hello_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.05, 2.0),
    ) -> None:
        if not addresses:
            raise ValueError("no token service address")
        self.keys, self.token = keys, token
        self.hello_timeout = hello_timeout
        self.backoff = backoff
        self._peers = [_Peer(self, host, port) for host, port in addresses]
        self._turn = itertools.count(random.randrange(len(self._peers)))  # noqa: S311 - spread

    async def start(self, wait: float = 5.0) -> None:
        for peer in self._peers:
            peer.task = asyncio.create_task(peer.keep())
        await self._any_up(wait)
        if not self.connected:
            where = ", ".join(p.where for p in self._peers)
            log.warning("token_link.not_yet", addresses=where, waited=wait)

    @property
    def connected(self) -> int:
        return sum(peer.up.is_set() for peer in self._peers)

    async def call(self, body: bytes, *, timeout: float) -> bytes:  # noqa: ASYNC109 - per call
        """The reply to ``body`` from the next connected copy (in turn), within ``timeout``
        seconds, or ``TokenLinkDown``. With none connected, the call waits for one (as a
        request waited in the broker's queue); a call whose connection is lost before its
        reply is sent again on another (a request is idempotent: a translation or an issue
        is deterministic), so a copy stopped or restarted loses no request."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            peer = self._next()
            if peer is not None and left > 0:
                try:
                    return await peer.call(body, left)
                except _Lost:
                    continue
            if left <= 0:
                raise TokenLinkDown("no copy of the token service is connected")
            await self._any_up(left)

    def _next(self) -> _Peer | None:
        first = next(self._turn)
        for n in range(len(self._peers)):
            peer = self._peers[(first + n) % len(self._peers)]
            if peer.up.is_set():
                return peer
        return None

    async def _any_up(self, seconds: float) -> None:
        ups = [asyncio.ensure_future(peer.up.wait()) for peer in self._peers]
        try:
            await asyncio.wait(ups, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for up in ups:
                up.cancel()

    async def close(self) -> None:
        tasks = [p.task for p in self._peers if p.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
