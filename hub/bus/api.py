"""The transport's interface: what services publish and receive.

Two implementations share it: :mod:`hub.bus.amqp` (RabbitMQ through aio-pika) and
:mod:`hub.bus.memory` (in-process, the embedded default of ``renkei demo``). One behaviour
suite (``tests/integration/bus``) runs against both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from hub.wire import CONTENT_TYPE, MAX_MESSAGE_BYTES

__all__ = [
    "BODY_SHA256_HEADER",
    "BODY_SIZE_HEADER",
    "CONTENT_TYPE",
    "DEAD_LETTER_HEADERS",
    "DEAD_LETTER_MAX_BODY",
    "EMPTY_HEADERS",
    "QUEUE_HEADER",
    "REASON_HEADER",
    "USER_HEADER",
    "Bundled",
    "Bus",
    "Death",
    "Delivery",
    "Handler",
    "OutMessage",
    "StoreDown",
    "Subscription",
]

REASON_HEADER = "renkei-reason"
"""Why a message was dead-lettered: ``delivery_limit``, ``expired``, ``rejected``, or the
reason a consumer gave to :meth:`Delivery.dead_letter`."""
QUEUE_HEADER = "renkei-queue"
"""The queue a dead-lettered message was taken from."""
USER_HEADER = "renkei-user-id"
"""The broker-vouched identity of the message's original publisher, on dead letters: the
``user_id`` the broker checked, never a header the publisher set (one is overwritten)."""
BODY_SIZE_HEADER = "renkei-body-size"
"""On a dead letter whose body was cut: the original body's length in bytes."""
BODY_SHA256_HEADER = "renkei-body-sha256"
"""On a dead letter whose body was cut: the hex SHA-256 of the whole original body."""
DEAD_LETTER_HEADERS = frozenset(
    {REASON_HEADER, QUEUE_HEADER, USER_HEADER, BODY_SIZE_HEADER, BODY_SHA256_HEADER}
)
"""Set by the bus (or read from the broker) on dead letters only; a publisher's are dropped."""
DEAD_LETTER_MAX_BODY = MAX_MESSAGE_BYTES
"""A consumer's ``dead_letter`` keeps a body up to this many bytes whole (every message of
the network fits); a longer one is cut to its first bytes, with its size and digest."""

EMPTY_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class OutMessage:
    """A message to publish. There is deliberately no ``user_id``: the bus always sets it to
    its own identity and the broker checks it against the authenticated user."""

    body: bytes
    message_id: str
    correlation_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: EMPTY_HEADERS)
    """String headers only (``traceparent``, ``renkei-sig`` ...); names starting ``x-`` are
    the broker's and are not carried."""
    expiration_ms: int | None = None
    """Per-message TTL: a message still queued after this is dead-lettered as ``expired``."""
    content_type: str | None = CONTENT_TYPE
    """Every body on the network is JSON; the hub refuses a message that says otherwise."""
    persistent: bool = True
    """False: the broker keeps it in memory only (span batches: telemetry, not worth a disk
    write; lost with the broker)."""


@dataclass(frozen=True, slots=True, eq=False)
class Bundled:
    """The bundle a delivery came in (``hub/bus/README.md``, "Bundles"): its message id (as its
    publisher set it: a label, not proof of anything) and how many items it holds. One object
    a bundle, so that two deliveries came in the same bundle exactly when ``a.bundled is
    b.bundled`` — never by the id, which another publisher may choose too."""

    id: str
    items: int


@dataclass(frozen=True, slots=True)
class Death:
    """The broker's latest dead-lettering of a message (the first entry of its ``x-death``):
    the queue it left, why, the exchange and routing keys it was first published with, how
    often it was dead-lettered from that queue for that reason, and when (None: not said).
    A publisher may pre-fill ``x-death``; only the first entry is the broker's, and only
    when the broker dead-lettered the message at all (``renkei.dlx`` is writable)."""

    queue: str
    reason: str
    exchange: str
    routing_keys: tuple[str, ...]
    count: int
    time: dt.datetime | None


class Delivery(Protocol):
    """One delivered message, to be settled exactly once by ack, nack or dead_letter.

    The first settlement wins; later calls are no-ops. A handler that returns without
    settling is treated like one that raised (nacked with requeue, logged).
    """

    @property
    def body(self) -> bytes: ...
    @property
    def message_id(self) -> str: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def headers(self) -> Mapping[str, str]:
        """String headers as published; on ``renkei.dead`` also :data:`REASON_HEADER`,
        :data:`QUEUE_HEADER` and :data:`USER_HEADER`. Read-only."""
        ...

    @property
    def user_id(self) -> str | None:
        """The publisher's identity as validated by the broker."""
        ...

    @property
    def death(self) -> Death | None:
        """On a message the broker dead-lettered: its latest :class:`Death`; else None."""
        ...

    @property
    def bundled(self) -> Bundled | None:
        """The bundle this delivery is an item of; None for a message of its own."""
        ...

    @property
    def exchange(self) -> str: ...
    @property
    def routing_key(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def redelivered(self) -> bool: ...
    @property
    def delivery_count(self) -> int:
        """How many times this message was delivered before (0 on first delivery)."""
        ...

    @property
    def settled(self) -> bool: ...

    async def ack(self) -> None: ...

    async def nack(self, *, requeue: bool = True) -> None:
        """Return the message (redelivered later, counting towards the queue's delivery
        limit) or, with ``requeue=False``, let the broker dead-letter it as ``rejected``."""
        ...

    async def dead_letter(self, reason: str) -> None:
        """Publish a copy to the dead-letter exchange with :data:`REASON_HEADER` = reason,
        :data:`QUEUE_HEADER` and :data:`USER_HEADER` (this delivery's ``user_id``), wait for
        the broker's confirm, then ack. A body over :data:`DEAD_LETTER_MAX_BODY` is cut to
        it, and the copy carries :data:`BODY_SIZE_HEADER` and :data:`BODY_SHA256_HEADER`."""
        ...


Handler = Callable[[Delivery], Awaitable[None]]

StoreDown = Callable[[], Awaitable[bool]]
"""Whether the process's store is out of reach now (PostgreSQL stopped, restarting): asked
after a handler failed, to hold its delivery rather than return it to the broker."""


class Subscription(Protocol):
    async def cancel(self) -> None:
        """Stop consuming; handlers already running finish (and settle) first."""
        ...


class Bus(Protocol):
    @property
    def identity(self) -> str:
        """The broker user this connection acts as; every publish carries it as user_id."""
        ...

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        message: OutMessage,
        *,
        mandatory: bool = True,
        as_user: str | None = None,
    ) -> None:
        """Return once the broker confirmed. Raises Unroutable (mandatory and no queue took
        it), AccessRefused (no write permission), NotDeclared, NotConfirmed, BusClosed.
        ``as_user``: publish with that ``user_id`` instead of the bus's identity, which only
        an identity with the ``impersonator`` tag may (the dead-letter replayer); the broker
        refuses it to any other (AccessRefused)."""
        ...

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 100) -> Subscription:
        """Manual acks; each delivery handled in its own task, at most ``prefetch`` at a time.
        A handler that raises gets its delivery nacked with requeue (and logged)."""
        ...

    async def close(self) -> None: ...
