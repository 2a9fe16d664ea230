"""The token service on its TCP channel: the hub's processes connect, prove they are the hub,
and send batches; each is answered by ``TokenService.handle_bytes`` under the same request id.

Protocol: ``hub.wire.link``. Anyone else — an office with its own key, a forged or replayed
proof, garbage, a hello of the wrong size or one that does not arrive within
``hello_timeout`` — is refused: the connection is closed and the reason logged
(``token_link.refused``). So is a frame over ``MAX_FRAME`` once connected, and any connection
beyond ``max_connections`` at once (each hub process holds one per copy).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from hub.log import get_logger
from hub.wire import OfficeKeys, PublicKeys, WireError
from hub.wire.link import (
    HEADER,
    HUB_HELLO,
    MAX_FRAME,
    challenge,
    hello,
    open_hub_hello,
    parse_header,
    prove,
)

__all__ = ["LinkServer"]

log = get_logger("token_service.link")
Handler = Callable[[bytes], Awaitable[bytes]]


class LinkServer:
    """Serves ``handler`` to the hub's processes on a TCP port (``start``; ``close`` to stop).

    ``keys``: the token service's own (it proves itself to the hub with their signing key);
    ``hub``: the hub's public keys (its current signing key and any earlier one it may still
    use). One request is handled at a time per connection, in the order received; the hub
    keeps many in flight on it (the handler does no I/O, so nothing waits behind a slow one).
    """

    def __init__(
        self,
        handler: Handler,
        keys: OfficeKeys,
        hub: PublicKeys,
        *,
        hello_timeout: float = 5.0,
        max_frame: int = MAX_FRAME,
        max_connections: int = 256,
    ) -> None:
        self._handler = handler
        self._keys = keys
        self._hub = hub
        self._hello_timeout = hello_timeout
        self._max_frame = max_frame
        self._max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0: any free one); the address actually bound. Several
        processes of the same user may listen on one port (``SO_REUSEPORT``: the kernel spreads
        new connections over them), so a copy is restarted beside the running one."""
        self._server = await asyncio.start_server(self._accept, host, port, reuse_port=True)
        bound = self._server.sockets[0].getsockname()
        log.info("token_link.listening", host=bound[0], port=bound[1])
        return bound[0], bound[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername")
        full = len(self._connections) >= self._max_connections
        self._connections.add(task)
        try:
            if full:  # a flood of connections, none proven yet: the hub needs a few
                return _refused(peer, f"{self._max_connections} connections already")
            await self._serve(reader, writer, peer)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object
    ) -> None:
        server = challenge()
        try:
            writer.write(hello(server))
            async with asyncio.timeout(self._hello_timeout):
                length, _ = parse_header(await reader.readexactly(HEADER.size), HUB_HELLO)
                client = open_hub_hello(server, await reader.readexactly(length), self._hub)
        except TimeoutError:
            return _refused(peer, f"no hello within {self._hello_timeout:g} s")
        except WireError as exc:
            return _refused(peer, f"{exc.code}: {exc}")
        except (asyncio.IncompleteReadError, OSError):
            return _refused(peer, "closed during the hello")
        writer.write(prove("token", server, client, self._keys.signing))
        log.info("token_link.accepted", peer=str(peer))
        try:
            while True:
                length, request_id = parse_header(
                    await reader.readexactly(HEADER.size), self._max_frame
                )
                body = await reader.readexactly(length)
                reply = await self._handler(body)
                writer.write(HEADER.pack(len(reply), request_id) + reply)
                await writer.drain()
        except WireError as exc:
            _refused(peer, f"{exc.code}: {exc}")
        except (asyncio.IncompleteReadError, ConnectionError):
            log.info("token_link.closed", peer=str(peer))
        except Exception:  # a bug of the handler: this connection ends, the service goes on
            log.exception("token_link.failed", peer=str(peer))


def _refused(peer: object, reason: str) -> None:
    log.warning("token_link.refused", peer=str(peer), reason=reason)
