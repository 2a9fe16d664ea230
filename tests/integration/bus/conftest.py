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
from bus_env import ADMIN_URL, DELIVERY_LIMIT, INBOX_BYTES, OFFICES, AmqpEnv, BusEnv, MemoryEnv

from hub.bus import BusError, delete_users, delete_vhost, network_topology, setup_broker


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
    try:
        yield AmqpEnv(topology, vhost, passwords)
    finally:
        await delete_vhost(ADMIN_URL, vhost)
        await delete_users(ADMIN_URL, topology.identities)


@pytest.fixture
async def env(backend: BusEnv) -> AsyncIterator[BusEnv]:
    yield backend
    await backend.reset()
