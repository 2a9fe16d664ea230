"""The bus behaviour suite's backends: the in-process broker and a real RabbitMQ vhost.

Every test in this folder receives ``env`` twice, once per backend. For AMQP, each test
module gets a fresh vhost built by ``setup_broker`` with freshly generated users (named with
a random prefix, since RabbitMQ users are broker-wide) and the vhost and users are deleted
afterwards. RabbitMQ missing is a failure, not a skip.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from bus_env import DELIVERY_LIMIT, INBOX_BYTES, OFFICES, BusEnv, MemoryEnv, amqp_vhost

from hub.bus import network_topology


@pytest.fixture(scope="module", params=["memory", pytest.param("amqp", marks=pytest.mark.rabbitmq)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[BusEnv]:
    prefix = f"t{secrets.token_hex(3)}-"
    topology = network_topology(
        OFFICES,
        delivery_limit=DELIVERY_LIMIT,
        identity_prefix=prefix,
        inbox_max_bytes=INBOX_BYTES,
    )
    if request.param == "memory":
        yield MemoryEnv(topology)
        return
    async with amqp_vhost(topology) as env:
        yield env


@pytest.fixture
async def env(backend: BusEnv) -> AsyncIterator[BusEnv]:
    yield backend
    await backend.reset()
