"""The bus's connection: one aio-pika robust connection that fails over between broker nodes.

aio-pika's ``RobustConnection`` reconnects to its one URL only (aio-pika issue #141). Both of
its ways to lose a connection — the open connection closing, and an attempt failing — end in
``_on_connection_close`` (aio-pika's ``UnderlayConnection.connect`` calls it with a failed
attempt's error too), so :class:`FailoverConnection` moves to the next node there, and the
robust connection's own loop makes the next attempt to it: at once after a loss, after
``reconnect_interval`` after a failed attempt. Channels, their reopen callbacks and the bus's
consumers come back on whichever node answers.

Its socket writes are coalesced (:class:`CoalescingWriter`): aiormq writes each frame set (a
publish, an ack) with a ``send`` of its own; the frames written within one turn of the event
loop go out in one, at the end of the turn, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any, cast

import aio_pika
import aiormq
from aiormq.connection import TCPTransportFactory, TLSTransportFactory, TransportFactory
from yarl import URL

from hub.bus.exceptions import AccessRefused, BusError
from hub.bus.urls import BrokerUrl

__all__ = ["CoalescingWriter", "FailoverConnection", "coalescing_transports", "open_connection"]

_REFUSED = (
    aiormq.exceptions.ProbableAuthenticationError,
    aiormq.exceptions.AuthenticationError,
    aiormq.exceptions.ConnectionNotAllowed,
)


class FailoverConnection(aio_pika.RobustConnection):
    """A robust connection over ``broker``'s nodes, starting at node ``at``; each time its
    connection closes or an attempt fails it moves to the next, in turn."""

    def __init__(self, broker: BrokerUrl, at: int, **kwargs: Any) -> None:
        super().__init__(broker.nodes[at], **kwargs)
        self._nodes = broker.nodes
        self._at = at
        # passed on to each aiormq connection, reconnections too (aio-pika keeps only the
        # arguments it knows of the constructor's: set after it)
        self.kwargs["transport_factory"] = coalescing_transports(tls=self.url.scheme == "amqps")

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        await super()._on_connection_close(closing)  # logs the node it lost; the next attempt
        if not (self.is_closed or self._close_called):  # runs in another task, after this
            self._at = (self._at + 1) % len(self._nodes)
            self.url = self._nodes[self._at]


async def open_connection(
    broker: BrokerUrl, *, name: str, reconnect_interval: float, connect_timeout: float = 30.0
) -> FailoverConnection:
    """Connect to the first node that answers, starting at a random one (so that services
    spread over the cluster) and trying each in turn once. A refused login or connection is
    the same on every node: raised at once as ``AccessRefused``. ``connect_timeout`` bounds
    each attempt, reconnections too (a node that drops packets is passed over)."""
    start = random.randrange(len(broker.nodes))  # noqa: S311 - spreading load, not a secret
    failures = []
    for step in range(len(broker.nodes)):
        at = (start + step) % len(broker.nodes)
        connection = FailoverConnection(
            broker,
            at,
            client_properties={"connection_name": name},
            reconnect_interval=reconnect_interval,
        )
        where = broker.hosts[at]
        try:
            try:
                await connection.connect(timeout=connect_timeout)
            except BaseException:
                # closed, not dropped: the collector would leave its close never awaited
                with contextlib.suppress(Exception):
                    await connection.close()
                raise
        except _REFUSED as exc:
            raise AccessRefused(f"the broker at {where} refused the login: {exc}") from exc
        except aiormq.exceptions.InvalidFrameError as exc:
            if "Connection.Close" not in str(exc):  # aiormq drops the close's reply text here
                failures.append(f"{where}: {exc!r}")
                continue
            raise AccessRefused(
                f"the broker at {where} refused to open the connection: the user has no access "
                "to the vhost, or has reached its connection limit (max-connections)"
            ) from exc
        except (aiormq.exceptions.AMQPError, OSError) as exc:
            failures.append(f"{where}: {exc!r}")
        else:
            return connection
    raise BusError(f"cannot connect to the broker at {broker.redacted()}: {'; '.join(failures)}")


class CoalescingWriter:
    """A stream writer whose writes within one turn of the event loop go to the socket as one
    (``transport.write`` sends at once: each frame set aiormq writes was a ``send`` of its
    own, and at a high rate several are written in one turn). The bytes go in the order
    written, at the end of the turn they were written in (``call_soon``: the loop does not
    wait on its selector while a callback is ready); ``drain``, ``write_eof`` and ``close``
    send what is pending first. Everything else is the wrapped writer's."""

    def __init__(self, inner: asyncio.StreamWriter) -> None:
        self._inner = inner
        self._pending: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        """Send what was written so far (one ``transport.write``)."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if self._inner.is_closing():  # lost, as a write to it would be; the reader sees why
            return
        self._inner.write(data)

    async def drain(self) -> None:
        self.flush()
        await self._inner.drain()

    def write_eof(self) -> None:
        self.flush()
        self._inner.write_eof()

    def close(self) -> None:
        self.flush()
        self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Coalescing(TransportFactory):
    def __init__(self, inner: TransportFactory) -> None:
        self._inner = inner

    async def create(
        self, url: URL, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await self._inner.create(url, **kwargs)
        return reader, cast(asyncio.StreamWriter, CoalescingWriter(writer))


def coalescing_transports(*, tls: bool) -> TransportFactory:
    """aiormq's own transport (TCP, or TLS for ``amqps``) with its writes coalesced."""
    return _Coalescing(TLSTransportFactory() if tls else TCPTransportFactory())
