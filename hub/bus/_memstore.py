"""The in-process broker's storage and routing: exchanges, queues, dead-lettering.

Semantics follow RabbitMQ 3.10 quorum queues as the AMQP bus sees them: a returned (nacked)
message goes back to the head of its queue with its delivery count raised, and is
dead-lettered as ``delivery_limit`` once the count exceeds the queue's limit; per-message TTL
is enforced at the head of the queue (as RabbitMQ does), dead-lettering as ``expired``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

from hub.bus._common import broker_dead_letter_headers
from hub.bus.api import Death
from hub.bus.exceptions import NotDeclared
from hub.bus.topology import Queue as QueueSpec
from hub.bus.topology import Topology

__all__ = ["MemQueue", "Store", "Stored"]


class Stored:
    """A message as stored in one queue (fanout stores a copy per queue)."""

    __slots__ = (
        "body",
        "content_type",
        "correlation_id",
        "death",
        "delivery_count",
        "exchange",
        "expires_at",
        "headers",
        "message_id",
        "routing_key",
        "user_id",
    )

    def __init__(  # noqa: PLR0917 - hot path: positional arguments are cheapest
        self,
        body: bytes,
        message_id: str,
        correlation_id: str | None,
        headers: Mapping[str, str],
        user_id: str | None,
        exchange: str,
        routing_key: str,
        expires_at: float | None,
        content_type: str | None,
    ) -> None:
        self.body = body
        self.message_id = message_id
        self.correlation_id = correlation_id
        self.headers = headers
        self.user_id = user_id
        self.exchange = exchange
        self.routing_key = routing_key
        self.expires_at = expires_at
        self.content_type = content_type
        self.delivery_count = 0
        self.death: Death | None = None

    def copy(self) -> Stored:
        out = Stored(
            self.body,
            self.message_id,
            self.correlation_id,
            self.headers,
            self.user_id,
            self.exchange,
            self.routing_key,
            self.expires_at,
            self.content_type,
        )
        out.death = self.death
        return out


class Consumer(Protocol):
    prefetch: int
    unacked: int

    def deliver(self, envelope: Stored) -> None: ...


class MemQueue:
    """One queue. ``max_length`` / ``max_bytes`` (from ``reject-publish`` policies) bound the
    ready messages as a quorum queue does: a publish is refused while the queue is over a
    limit (the one that takes it over is still accepted)."""

    __slots__ = (
        "_next",
        "_store",
        "_timer",
        "consumers",
        "dlx",
        "limit",
        "max_bytes",
        "max_length",
        "name",
        "ready",
        "ready_bytes",
    )

    def __init__(
        self, spec: QueueSpec, store: Store, bounds: tuple[int | None, int | None]
    ) -> None:
        self.name = spec.name
        self.limit = spec.delivery_limit
        self.dlx = spec.dead_letter_exchange
        self.max_length, self.max_bytes = bounds
        self.ready_bytes = 0  # counted only for a queue with max_bytes
        self.ready: deque[Stored] = deque()
        self.consumers: list[Consumer] = []
        self._next = 0
        self._store = store
        self._timer: asyncio.TimerHandle | None = None

    def accept(self, env: Stored, *, internal: bool = False) -> bool:
        """Enqueue; False when the queue is over a limit and rejects publishes."""
        if not internal and self._over():
            return False
        if self.max_bytes is not None:
            self.ready_bytes += len(env.body)
        self.ready.append(env)
        if self.consumers:
            self.drain()
        elif env.expires_at is not None and len(self.ready) == 1:
            self._arm()
        return True

    def _over(self) -> bool:
        if self.max_length is not None and len(self.ready) > self.max_length:
            return True
        return self.max_bytes is not None and self.ready_bytes > self.max_bytes

    def returned(self, env: Stored) -> None:
        env.delivery_count += 1
        if self.limit is not None and env.delivery_count > self.limit:
            self._store.dead_letter(self, env, "delivery_limit")
        else:
            self.ready.appendleft(env)
            if self.max_bytes is not None:
                self.ready_bytes += len(env.body)

    def drain(self) -> None:
        ready = self.ready
        consumers = self.consumers
        while ready and consumers:
            consumer = self._pick()
            if consumer is None:
                break
            env = ready.popleft()
            if self.max_bytes is not None:
                self.ready_bytes -= len(env.body)
            if env.expires_at is not None and env.expires_at <= self._store.loop.time():
                self._store.dead_letter(self, env, "expired")
                continue
            consumer.deliver(env)
        if ready and ready[0].expires_at is not None:
            self._arm()

    def _pick(self) -> Consumer | None:
        consumers = self.consumers
        n = len(consumers)
        if n == 1:
            only = consumers[0]
            return only if only.unacked < only.prefetch else None
        for i in range(n):
            idx = (self._next + i) % n
            consumer = consumers[idx]
            if consumer.unacked < consumer.prefetch:
                self._next = idx + 1
                return consumer
        return None

    def _arm(self) -> None:
        expires_at = self.ready[0].expires_at
        if expires_at is None:
            return
        if self._timer is not None:
            if self._timer.when() <= expires_at:
                return
            self._timer.cancel()
        self._timer = self._store.loop.call_at(expires_at, self._expire)

    def _expire(self) -> None:
        self._timer = None
        ready = self.ready
        now = self._store.loop.time()
        while ready and (at := ready[0].expires_at) is not None and at <= now:
            env = ready.popleft()
            if self.max_bytes is not None:
                self.ready_bytes -= len(env.body)
            self._store.dead_letter(self, env, "expired")
        self.drain()


class Store:
    """Exchanges and queues of one in-process broker."""

    def __init__(self, topology: Topology) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        bounds = _bounds(topology)
        self.queues = {
            q.name: MemQueue(q, self, bounds.get(q.name, (None, None))) for q in topology.queues
        }
        self.direct: dict[str, dict[str, tuple[MemQueue, ...]]] = {}
        self.fanout: dict[str, tuple[MemQueue, ...]] = {}
        for ex in topology.exchanges:
            bound = [b for b in topology.bindings if b.exchange == ex.name]
            if ex.type == "fanout":
                self.fanout[ex.name] = tuple(self.queues[b.queue] for b in bound)
            else:
                routes: dict[str, tuple[MemQueue, ...]] = {}
                for b in bound:
                    routes[b.routing_key] = (*routes.get(b.routing_key, ()), self.queues[b.queue])
                self.direct[ex.name] = routes

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def route(self, exchange: str, routing_key: str, env: Stored, *, internal: bool = False) -> int:
        """Deliver to every bound queue; the number that took it, or -1 if one was full."""
        targets: tuple[MemQueue, ...]
        if not exchange:
            queue = self.queues.get(routing_key)
            targets = (queue,) if queue is not None else ()
        elif (routes := self.direct.get(exchange)) is not None:
            targets = routes.get(routing_key, ())
        elif (fan := self.fanout.get(exchange)) is not None:
            targets = fan
        else:
            raise NotDeclared(f"no exchange {exchange!r}")
        if len(targets) == 1:
            return 1 if targets[0].accept(env, internal=internal) else -1
        taken = 0
        full = False
        for queue in targets:
            if queue.accept(env.copy(), internal=internal):
                taken += 1
            else:
                full = True
        return -1 if full else taken

    def dead_letter(self, queue: MemQueue, env: Stored, reason: str) -> None:
        """Broker-side dead-lettering (limit, expiry, reject): never refused for space."""
        if queue.dlx is None:
            return
        headers = broker_dead_letter_headers(env.headers, reason, queue.name, env.user_id)
        dead = Stored(
            env.body,
            env.message_id,
            env.correlation_id,
            MappingProxyType(headers),
            env.user_id,
            queue.dlx,
            env.routing_key,
            None,
            env.content_type,
        )
        last = env.death
        again = last is not None and (last.queue, last.reason) == (queue.name, reason)
        dead.death = Death(
            queue.name,
            reason,
            last.exchange if again and last else env.exchange,
            last.routing_keys if again and last else (env.routing_key,),
            last.count + 1 if again and last else 1,
            dt.datetime.now(dt.UTC).replace(microsecond=0),
        )
        self.route(queue.dlx, env.routing_key, dead, internal=True)


def _bounds(topology: Topology) -> dict[str, tuple[int | None, int | None]]:
    """Each queue's (max-length, max-length-bytes) from ``reject-publish`` policies (the only
    overflow modelled); as on RabbitMQ, the policy of highest priority that matches applies."""
    out: dict[str, tuple[int | None, int | None]] = {}
    for policy in sorted(topology.policies, key=lambda p: p.priority):
        if policy.apply_to == "exchanges" or policy.definition.get("overflow") != "reject-publish":
            continue
        length = policy.definition.get("max-length")
        size = policy.definition.get("max-length-bytes")
        bounds = (
            length if isinstance(length, int) else None,
            size if isinstance(size, int) else None,
        )
        for name in (q.name for q in topology.queues):
            if re.search(policy.pattern, name):
                out[name] = bounds
    return out
