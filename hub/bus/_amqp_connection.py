"""The bus's connection: one aio-pika robust connection that fails over between broker nodes.

aio-pika's ``RobustConnection`` reconnects to its one URL only (aio-pika issue #141). Both of
its ways to lose a connection — the open connection closing, and an attempt failing — end in
``_on_connection_close`` (aio-pika's ``UnderlayConnection.connect`` calls it with a failed
attempt's error too), so :class:`FailoverConnection` moves to the next node there, and the
robust connection's own loop makes the next attempt to it: at once after a loss, after
``reconnect_interval`` after a failed attempt. Channels, their reopen callbacks and the bus's
consumers come back on whichever node answers.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aio_pika
import aiormq

from hub.bus.exceptions import AccessRefused, BusError
from hub.bus.urls import BrokerUrl

__all__ = ["FailoverConnection", "open_connection"]

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
            await connection.connect(timeout=connect_timeout)
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
