"""Backends of the bus behaviour suite: the in-process broker and a RabbitMQ vhost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote

import pytest

from hub.bus import (
    Bus,
    BusError,
    Delivery,
    InMemoryBroker,
    Topology,
    connect_amqp,
    delete_users,
    delete_vhost,
    purge_queues,
    setup_broker,
)

__all__ = [
    "ADMIN_URL",
    "AMQP_HOST",
    "DELIVERY_LIMIT",
    "INBOX_BYTES",
    "OFFICES",
    "AmqpEnv",
    "BusEnv",
    "Inbox",
    "MemoryEnv",
    "amqp_vhost",
]

ADMIN_URL = os.environ.get("RENKEI_RABBITMQ_ADMIN_URL", "http://guest:guest@127.0.0.1:15672")
AMQP_HOST = os.environ.get("RENKEI_RABBITMQ_AMQP_HOST", "127.0.0.1:5672")
OFFICES = ("a", "b")
DELIVERY_LIMIT = 2
INBOX_BYTES = 256 * 1024  # the hub's inbound queues hold this much here (a flood is cheap)


class BusEnv:
    """Connects buses as topology identities and cleans up after each test."""

    def __init__(self, kind: str, topology: Topology) -> None:
        self.kind = kind
        self.topology = topology
        self.buses: list[Bus] = []

    def office(self, code: str) -> str:
        return self.topology.office_identity(code)

    @property
    def hub(self) -> str:
        return self.topology.hub_identity

    @property
    def token(self) -> str:
        return self.topology.token_identity

    @property
    def monitor(self) -> str:
        return self.topology.monitor_identity

    async def connect(self, identity: str, *, user: str | None = None) -> Bus:
        bus = await self._connect(identity, user or identity)
        self.buses.append(bus)
        return bus

    async def _connect(self, identity: str, user: str) -> Bus:
        raise NotImplementedError

    async def reset(self) -> None:
        buses, self.buses = self.buses, []
        for bus in buses:
            await bus.close()


class MemoryEnv(BusEnv):
    def __init__(self, topology: Topology) -> None:
        super().__init__("memory", topology)
        self.broker = InMemoryBroker(topology)

    async def _connect(self, identity: str, user: str) -> Bus:
        return self.broker.connect(identity, user=user, close_grace=2.0)

    async def reset(self) -> None:
        await super().reset()
        self.broker = InMemoryBroker(self.topology)


class AmqpEnv(BusEnv):
    def __init__(self, topology: Topology, vhost: str, passwords: dict[str, str]) -> None:
        super().__init__("amqp", topology)
        self.vhost = vhost
        self.passwords = passwords

    async def _connect(self, identity: str, user: str) -> Bus:
        password = self.passwords.get(user, "not-a-password")
        url = f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{AMQP_HOST}/{self.vhost}"
        return await connect_amqp(url, identity=identity, close_grace=2.0, ready_timeout=5.0)

    async def reset(self) -> None:
        await super().reset()
        await purge_queues(ADMIN_URL, self.vhost, [q.name for q in self.topology.queues])


@contextlib.asynccontextmanager
async def amqp_vhost(topology: Topology) -> AsyncIterator[AmqpEnv]:
    """A fresh vhost built by ``setup_broker`` with fresh users, deleted afterwards; RabbitMQ
    missing is a failure, not a skip."""
    vhost = f"renkei-test-{secrets.token_hex(4)}"
    passwords = {identity: secrets.token_urlsafe(18) for identity in topology.identities}
    try:
        await setup_broker(ADMIN_URL, vhost, topology, passwords)
    except BusError as exc:
        pytest.fail(
            f"RabbitMQ is required for the amqp bus tests and setup failed: {exc} "
            "(start it with scripts/services; RENKEI_RABBITMQ_ADMIN_URL overrides the "
            "management URL)",
            pytrace=False,
        )
    env = AmqpEnv(topology, vhost, passwords)
    try:
        yield env
    finally:
        await env.reset()
        await delete_vhost(ADMIN_URL, vhost)
        await delete_users(ADMIN_URL, topology.identities)


class Inbox:
    """Collects deliveries; ``act`` settles each (ack by default)."""

    def __init__(self, act: Callable[[Delivery], Awaitable[None]] | None = None) -> None:
        self.items: list[Delivery] = []
        self._act = act
        self._changed = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        self.items.append(delivery)
        self._changed.set()
        if self._act is None:
            await delivery.ack()
        else:
            await self._act(delivery)

    async def wait(self, count: int, within: float = 10.0) -> list[Delivery]:
        async with asyncio.timeout(within):
            while len(self.items) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.items
