"""Consumers and deliveries of the in-process bus."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from hub.bus._common import run_handler
from hub.bus._memstore import MemQueue, Stored
from hub.bus.api import Bundled, Death, Handler
from hub.metrics import METRICS

if TYPE_CHECKING:
    from hub.bus.memory import InMemoryBus

__all__ = ["MemDelivery", "MemSubscription"]


class MemDelivery:
    __slots__ = ("_count", "_env", "_sub", "settled")

    def __init__(self, env: Stored, sub: MemSubscription) -> None:
        self._env = env
        self._sub = sub
        self._count = env.delivery_count
        self.settled = False

    @property
    def body(self) -> bytes:
        return self._env.body

    @property
    def message_id(self) -> str:
        return self._env.message_id

    @property
    def correlation_id(self) -> str | None:
        return self._env.correlation_id

    @property
    def content_type(self) -> str | None:
        return self._env.content_type

    @property
    def headers(self) -> Mapping[str, str]:
        return self._env.headers

    @property
    def user_id(self) -> str | None:
        return self._env.user_id

    @property
    def death(self) -> Death | None:
        return self._env.death

    @property
    def exchange(self) -> str:
        return self._env.exchange

    @property
    def routing_key(self) -> str:
        return self._env.routing_key

    @property
    def queue(self) -> str:
        return self._sub.queue.name

    @property
    def bundled(self) -> Bundled | None:
        return None

    @property
    def redelivered(self) -> bool:
        return self._count > 0

    @property
    def delivery_count(self) -> int:
        return self._count

    def _settle(self) -> bool:
        if self.settled:
            return False
        self.settled = True
        self._sub.unacked -= 1
        return True

    async def ack(self) -> None:
        if self._settle():
            METRICS.settled("ack")
            self._sub.queue.drain()

    async def nack(self, *, requeue: bool = True) -> None:
        if self._settle():
            METRICS.settled("requeue" if requeue else "reject")
            queue = self._sub.queue
            if requeue:
                queue.returned(self._env)
            else:
                self._sub.bus.store.dead_letter(queue, self._env, "rejected")
            queue.drain()

    async def dead_letter(self, reason: str) -> None:
        if self.settled:
            return
        await self._sub.bus.dead_letter_copy(self._env, self._sub.queue.name, reason)
        if self._settle():  # the copy is out: the original goes, counted once
            METRICS.settled("dead_letter")
            self._sub.queue.drain()

    def abandon(self) -> None:
        """The consumer went away without settling: return the message to its queue."""
        if self._settle():
            self._sub.queue.returned(self._env)


class MemSubscription:
    """One consumer on one queue, with at most ``prefetch`` unsettled deliveries."""

    __slots__ = ("_handler", "_tasks", "active", "bus", "prefetch", "queue", "unacked")

    def __init__(self, bus: InMemoryBus, queue: MemQueue, handler: Handler, prefetch: int) -> None:
        self.bus = bus
        self.queue = queue
        self._handler = handler
        self.prefetch = prefetch
        self.unacked = 0
        self.active = True
        self._tasks: dict[asyncio.Task[None], MemDelivery] = {}

    def deliver(self, envelope: Stored) -> None:
        delivery = MemDelivery(envelope, self)
        self.unacked += 1
        task = self.bus.store.loop.create_task(run_handler(delivery, self._handler))
        self._tasks[task] = delivery
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    async def cancel(self) -> None:
        await self.shutdown(None)

    async def shutdown(self, grace: float | None) -> None:
        """Stop consuming, let running handlers finish (within ``grace`` seconds, then
        cancel them and return their messages), and forget this consumer."""
        if self.active:
            self.active = False
            self.queue.consumers.remove(self)
        current = asyncio.current_task()
        pending = [t for t in self._tasks if t is not current]
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            if late:
                victims = [self._tasks[t] for t in late if t in self._tasks]
                for task in late:
                    task.cancel()
                await asyncio.wait(late)
                for delivery in victims:
                    delivery.abandon()
        self.bus.forget(self)
        self.queue.drain()
