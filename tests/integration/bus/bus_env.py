"""Backends of the bus behaviour suite: the in-process broker and a RabbitMQ vhost."""

from __future__ import annotations

import os
from urllib.parse import quote

from hub.bus import (
    Bus,
    InMemoryBroker,
    Topology,
    connect_amqp,
    purge_queues,
)

__all__ = [
    "ADMIN_URL",
    "AMQP_HOST",
    "DELIVERY_LIMIT",
    "INBOX_BYTES",
    "OFFICES",
    "AmqpEnv",
    "BusEnv",
    "MemoryEnv",
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
