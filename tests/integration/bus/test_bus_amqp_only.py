"""RabbitMQ only: broker setup, and recovery after the broker drops the connections."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import pytest
from bus_env import ADMIN_URL, OFFICES, AmqpEnv
from yarl import URL

from hub.bus import (
    DEAD_QUEUE,
    HUB_EXCHANGE,
    HUB_REQUESTS,
    RK_QUERY,
    TOKEN_EXCHANGE,
    TOKEN_REQUESTS,
    BrokerAdminError,
    BusError,
    Delivery,
    OutMessage,
    delete_users,
    delete_vhost,
    network_topology,
    setup_broker,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def amqp() -> AsyncIterator[AmqpEnv]:
    topology = network_topology(OFFICES, identity_prefix=f"t{secrets.token_hex(3)}-")
    vhost = f"renkei-test-{secrets.token_hex(4)}"
    passwords = {identity: secrets.token_urlsafe(18) for identity in topology.identities}
    try:
        await setup_broker(ADMIN_URL, vhost, topology, passwords)
    except BusError as exc:
        pytest.fail(f"RabbitMQ is required for this test and setup failed: {exc}", pytrace=False)
    env = AmqpEnv(topology, vhost, passwords)
    try:
        yield env
    finally:
        await env.reset()
        await delete_vhost(ADMIN_URL, vhost)
        await delete_users(ADMIN_URL, topology.identities)


def management() -> tuple[str, dict[str, str]]:
    url = URL(ADMIN_URL)
    auth = {"Authorization": aiohttp.encode_basic_auth(url.user or "", url.password or "")}
    return str(url.with_user(None).with_path("/api/")), auth


async def test_setup_is_idempotent_and_applies_the_dead_queue_policy(amqp: AmqpEnv) -> None:
    report = await setup_broker(ADMIN_URL, amqp.vhost, amqp.topology, amqp.passwords)
    assert not report.vhost_created
    assert set(report.users) == set(amqp.topology.identities)
    api, auth = management()
    async with aiohttp.ClientSession(headers=auth) as http:
        dead = f"{api}queues/{quote(amqp.vhost, safe='')}/{DEAD_QUEUE}"
        async with asyncio.timeout(15):
            while True:
                async with http.get(dead) as resp:
                    queue = await resp.json()
                if queue.get("effective_policy_definition"):
                    break
                await asyncio.sleep(0.2)
    assert queue["type"] == "quorum"
    assert queue["policy"] == "renkei-dead"
    assert queue["effective_policy_definition"]["overflow"] == "reject-publish"
    office = await amqp.connect(amqp.office("a"))  # the users still log in
    await office.publish(HUB_EXCHANGE, RK_QUERY, OutMessage(b"q", message_id="after-setup"))


async def test_setup_errors_are_clear(amqp: AmqpEnv) -> None:
    with pytest.raises(ValueError, match="no password"):
        await setup_broker(ADMIN_URL, amqp.vhost, amqp.topology, {})
    with pytest.raises(BrokerAdminError, match="unreachable"):
        await setup_broker(
            "http://guest:guest@127.0.0.1:1", amqp.vhost, amqp.topology, amqp.passwords
        )
    with pytest.raises(BrokerAdminError, match="401"):
        await setup_broker(
            "http://guest:wrong@127.0.0.1:15672", amqp.vhost, amqp.topology, amqp.passwords
        )
    assert not await delete_vhost(ADMIN_URL, f"{amqp.vhost}-never-made")


async def drop_connections(vhost: str, expected: int) -> int:
    """Close the client connections of ``vhost`` from the broker's side (once the management
    API lists ``expected`` of them: its view lags by its stats interval)."""
    api, auth = management()
    async with aiohttp.ClientSession(headers=auth) as http:
        names: list[str] = []
        async with asyncio.timeout(15):
            while len(names) < expected:
                await asyncio.sleep(0.2)
                async with http.get(f"{api}vhosts/{quote(vhost, safe='')}/connections") as resp:
                    names = [c["name"] for c in await resp.json()]
        for name in names:
            target = URL(f"{api}connections/{quote(name, safe='')}", encoded=True)
            async with http.delete(target, headers={"X-Reason": "test"}):
                pass
    return len(names)


async def test_consumers_and_rpc_resume_after_connection_loss(amqp: AmqpEnv) -> None:
    office = await amqp.connect(amqp.office("a"))
    hub = await amqp.connect(amqp.hub)
    token = await amqp.connect(amqp.token)
    got: list[str] = []
    arrived = asyncio.Event()

    async def handle(d: Delivery) -> None:
        got.append(d.message_id)
        arrived.set()
        await d.ack()

    await hub.consume(HUB_REQUESTS, handle)
    await token.serve(TOKEN_REQUESTS, lambda body: asyncio.sleep(0, body[::-1]))
    assert await hub.call(TOKEN_EXCHANGE, TOKEN_REQUESTS, b"abc", timeout=5) == b"cba"

    assert await drop_connections(amqp.vhost, expected=3) >= 3
    await asyncio.sleep(0.2)

    ids = [uuid.uuid4().hex for _ in range(5)]
    for message_id in ids:  # waits for the reconnection, then is confirmed
        await office.publish(HUB_EXCHANGE, RK_QUERY, OutMessage(b"q", message_id=message_id))
    async with asyncio.timeout(15):
        while not set(ids) <= set(got):
            arrived.clear()
            await arrived.wait()
    async with asyncio.timeout(15):
        while True:
            try:
                reply = await hub.call(TOKEN_EXCHANGE, TOKEN_REQUESTS, b"xyz", timeout=2)
                break
            except BusError:  # a call racing the reconnection may be lost; callers retry
                await asyncio.sleep(0.1)
    assert reply == b"zyx"
