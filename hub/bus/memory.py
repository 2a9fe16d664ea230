"""The in-process bus: the same semantics as the AMQP bus, pure asyncio, no threads.

It is the embedded default of ``renkei demo``. Build an :class:`InMemoryBroker` from a
:class:`~hub.bus.topology.Topology`, then ``broker.connect(identity)`` per service.
Permissions, ``user_id``, confirms (a publish returns once the message is queued, after
yielding to the loop once), mandatory routing, manual acks, redelivery with delivery counts,
the delivery limit, per-message TTL and the dead-letter exchange behave as on RabbitMQ;
``tests/integration/bus`` runs the same tests against both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import MappingProxyType

from hub.bus._common import dead_letter_copy
from hub.bus._memstore import MemQueue, Store, Stored
from hub.bus._memsub import MemSubscription
from hub.bus.api import EMPTY_HEADERS, Handler, OutMessage, Subscription
from hub.bus.exceptions import AccessRefused, BusClosed, NotDeclared, Rejected, Unroutable
from hub.bus.topology import DLX_EXCHANGE, Permission, Topology
from hub.metrics import METRICS

__all__ = ["InMemoryBroker", "InMemoryBus"]


class InMemoryBroker:
    """One in-process broker: one vhost's worth of the topology."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._store = Store(topology)
        self._permissions = {p.identity: p for p in topology.permissions}

    def connect(
        self, identity: str, *, user: str | None = None, close_grace: float = 10.0
    ) -> InMemoryBus:
        """A bus acting as ``identity``. ``user`` is the authenticated user (default: the
        identity); as on RabbitMQ, publishing with a user_id that is not the authenticated
        user is refused, and an unknown user cannot connect."""
        login = identity if user is None else user
        permission = self._permissions.get(login)
        if permission is None:
            raise AccessRefused(f"unknown broker user {login!r}")
        return InMemoryBus(
            self._store,
            identity,
            permission,
            close_grace=close_grace,
            impersonator=login in self.topology.impersonators,
        )

    def depth(self, queue: str) -> int:
        """Messages ready (not delivered) in ``queue``."""
        return len(self._queue(queue).ready)

    def unacked(self, queue: str) -> int:
        return sum(c.unacked for c in self._queue(queue).consumers)

    def _queue(self, name: str) -> MemQueue:
        queue = self._store.queues.get(name)
        if queue is None:
            raise NotDeclared(f"no queue {name!r}")
        return queue


def _carried(headers: Mapping[str, str]) -> Mapping[str, str]:
    """The headers a message carries: names starting ``x-`` are the broker's (RabbitMQ keeps
    a publisher's, but the AMQP bus never delivers them)."""
    return MappingProxyType({k: v for k, v in headers.items() if not k.startswith("x-")})


class InMemoryBus:
    """A connection to an :class:`InMemoryBroker`; see :class:`hub.bus.api.Bus`."""

    def __init__(
        self,
        store: Store,
        identity: str,
        permission: Permission,
        *,
        close_grace: float,
        impersonator: bool = False,
    ) -> None:
        self.store = store
        self._identity = identity
        self._impersonator = impersonator
        self._permission = permission
        self._forged = identity != permission.identity
        self._writable: dict[str, bool] = {}
        self._subs: set[MemSubscription] = set()
        self._close_grace = close_grace
        self._closing = False
        self._closed = False

    @property
    def identity(self) -> str:
        return self._identity

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        message: OutMessage,
        *,
        mandatory: bool = True,
        as_user: str | None = None,
    ) -> None:
        if as_user is not None and as_user != self._identity and not self._impersonator:
            raise AccessRefused(
                f"user_id {as_user!r} is not the authenticated user {self._identity!r}"
            )
        self._send(
            exchange,
            routing_key,
            message.body,
            message.message_id,
            message.correlation_id,
            message.headers,
            message.expiration_ms,
            mandatory,
            message.content_type,
            as_user,
        )
        METRICS.published()
        await asyncio.sleep(0)  # a confirm is a round trip: let consumers run

    def _send(  # noqa: PLR0917 - hot path: positional arguments are cheapest
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        message_id: str,
        correlation_id: str | None,
        headers: Mapping[str, str],
        expiration: int | None,
        mandatory: bool,
        content_type: str | None,
        as_user: str | None = None,
    ) -> None:
        if self._closed:
            raise BusClosed("the bus is closed")
        writable = self._writable.get(exchange)
        if writable is None:
            writable = self._writable[exchange] = self._permission.may_write(exchange)
        if not writable:
            raise AccessRefused(
                f"access to exchange {exchange or 'amq.default'!r} refused "
                f"for user {self._permission.identity!r}"
            )
        store = self.store
        if exchange and exchange not in store.direct and exchange not in store.fanout:
            raise NotDeclared(f"no exchange {exchange!r}")
        if self._forged:
            raise AccessRefused(
                f"user_id {self._identity!r} is not the authenticated user "
                f"{self._permission.identity!r}"
            )
        env = Stored(
            body,
            message_id,
            correlation_id,
            _carried(headers) if headers else EMPTY_HEADERS,
            self._identity if as_user is None else as_user,
            exchange,
            routing_key,
            None if expiration is None else store.loop.time() + expiration / 1000,
            content_type,
        )
        taken = store.route(exchange, routing_key, env)
        if taken < 0:
            raise Rejected.publish(exchange, routing_key)
        if taken == 0 and mandatory:
            raise Unroutable(f"no queue bound to {exchange!r} with key {routing_key!r}")

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 100) -> Subscription:
        if self._closing:
            raise BusClosed("the bus is closed")
        if prefetch < 1:
            raise ValueError("prefetch must be >= 1")
        if not self._permission.may_read(queue):
            raise AccessRefused(
                f"access to queue {queue!r} refused for user {self._permission.identity!r}"
            )
        mem_queue = self.store.queues.get(queue)
        if mem_queue is None:
            raise NotDeclared(f"no queue {queue!r}")
        sub = MemSubscription(self, mem_queue, handler, prefetch)
        self._subs.add(sub)
        mem_queue.consumers.append(sub)
        mem_queue.drain()
        return sub

    async def dead_letter_copy(self, env: Stored, queue: str, reason: str) -> None:
        """Used by deliveries: publish a copy of ``env`` to the DLX as this identity."""
        body, headers = dead_letter_copy(env.body, env.headers, reason, queue, env.user_id)
        self._send(
            DLX_EXCHANGE,
            env.routing_key,
            body,
            env.message_id,
            env.correlation_id,
            headers,
            None,
            True,
            env.content_type,
        )
        await asyncio.sleep(0)

    def forget(self, sub: MemSubscription) -> None:
        self._subs.discard(sub)

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        subs = list(self._subs)
        await asyncio.gather(*(sub.shutdown(self._close_grace) for sub in subs))
        self._closed = True
