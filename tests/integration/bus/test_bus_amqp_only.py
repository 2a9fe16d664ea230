"""RabbitMQ only: broker setup, and recovery after the broker drops the connections."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote

import aio_pika
import aiohttp
import pytest
from bus_env import ADMIN_URL, AMQP_HOST, OFFICES, AmqpEnv, amqp_vhost
from yarl import URL

from hub.bus import (
    DEAD_QUEUE,
    HUB_EXCHANGE,
    HUB_REQUESTS,
    OFFICES_EXCHANGE,
    RK_QUERY,
    AccessRefused,
    BrokerAdminError,
    BusClosed,
    BusError,
    Delivery,
    OutMessage,
    connect_amqp,
    delete_vhost,
    network_topology,
    office_in,
    office_replies,
    setup_broker,
    vhost_access,
)

pytestmark = pytest.mark.rabbitmq


CONNECTIONS, CHANNELS = 2, 3  # each office user's limits in this module


@pytest.fixture(scope="module")
async def amqp() -> AsyncIterator[AmqpEnv]:
    topology = network_topology(
        OFFICES,
        identity_prefix=f"t{secrets.token_hex(3)}-",
        office_connections=CONNECTIONS,
        office_channels=CHANNELS,
    )
    async with amqp_vhost(topology) as env:
        yield env


def management() -> tuple[str, dict[str, str]]:
    url = URL(ADMIN_URL)
    auth = {"Authorization": aiohttp.encode_basic_auth(url.user or "", url.password or "")}
    return str(url.with_user(None).with_path("/api/")), auth


async def api_get(path: str) -> object:
    api, auth = management()
    async with (
        aiohttp.ClientSession(headers=auth) as http,
        http.get(URL(api + path, encoded=True)) as resp,
    ):
        assert resp.status == 200, (path, resp.status)
        return await resp.json()


async def test_setup_leaves_no_one_but_the_networks_identities_permissions_in_the_vhost(
    amqp: AmqpEnv,
) -> None:
    """Not the administrator that ran it, and not RabbitMQ's default guest/guest (an
    administrator everywhere with a well-known password): both could otherwise publish into
    the hub's inbox as nobody in particular or read any office's queue."""
    await setup_broker(ADMIN_URL, amqp.vhost, amqp.topology, amqp.passwords)  # again: the same
    rows = await api_get(f"vhosts/{quote(amqp.vhost, safe='')}/permissions")
    assert isinstance(rows, list)
    assert {row["user"] for row in rows} == set(amqp.topology.identities)
    admin = URL(ADMIN_URL)
    url = f"amqp://{admin.user}:{admin.password}@{AMQP_HOST}/{quote(amqp.vhost, safe='')}"
    with pytest.raises(AccessRefused, match="no access to the vhost"):
        await connect_amqp(url, identity=str(admin.user))
    async with vhost_access(ADMIN_URL, amqp.vhost):  # what an operator's tool asks for
        bus = await connect_amqp(url, identity=str(admin.user))
        await bus.close()
    rows = await api_get(f"vhosts/{quote(amqp.vhost, safe='')}/permissions")
    assert {row["user"] for row in rows} == set(amqp.topology.identities)  # and given back


async def test_office_users_are_limited_in_connections_and_channels(amqp: AmqpEnv) -> None:
    user = amqp.office("a")
    limits = await api_get(f"user-limits/{quote(user, safe='')}")
    assert limits == [
        {"user": user, "value": {"max-connections": CONNECTIONS, "max-channels": CHANNELS}}
    ]
    for identity in (amqp.hub, amqp.token, amqp.monitor):  # the operator's own services: none
        assert await api_get(f"user-limits/{quote(identity, safe='')}") == []
    first = await amqp.connect(user)
    await amqp.connect(user)
    with pytest.raises(AccessRefused, match="connection limit"):
        await amqp.connect(user)
    await first.consume(office_in("a"), lambda d: d.ack())  # 3 channels: one per bus, and this
    with pytest.raises(AccessRefused, match="number of channels"):
        await first.consume(office_replies("a"), lambda d: d.ack())  # a 4th: one too many
    await amqp.reset()


async def test_a_passive_declare_shows_any_queues_depth_to_any_office(amqp: AmqpEnv) -> None:
    """RabbitMQ checks no permission on a passive queue.declare: office a learns how many
    messages wait for office b and whether b is consuming (online). Nothing in a vhost's
    permissions can stop it; hub/bus/README.md says so and what an operator can do. This test
    documents the broker's behaviour: if it fails, a RabbitMQ upgrade closed the leak and the
    README should say so."""
    hub, office_b = await amqp.connect(amqp.hub), await amqp.connect(amqp.office("b"))
    for i in range(3):
        await hub.publish("renkei.offices", office_in("b"), OutMessage(b"{}", message_id=str(i)))
    await office_b.consume(office_replies("b"), lambda d: d.ack())
    password = amqp.passwords[amqp.office("a")]
    url = f"amqp://{amqp.office('a')}:{password}@{AMQP_HOST}/{quote(amqp.vhost, safe='')}"
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        waiting = await channel.declare_queue(office_in("b"), passive=True)
        online = await channel.declare_queue(office_replies("b"), passive=True)
    finally:
        await connection.close()
    assert waiting.declaration_result.message_count == 3
    assert online.declaration_result.consumer_count == 1
    await amqp.reset()


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


async def test_consumers_and_publishers_resume_after_connection_loss(amqp: AmqpEnv) -> None:
    office = await amqp.connect(amqp.office("a"))
    hub = await amqp.connect(amqp.hub)
    got: list[str] = []
    arrived = asyncio.Event()

    async def handle(d: Delivery) -> None:
        got.append(d.message_id)
        arrived.set()
        await d.ack()

    await hub.consume(HUB_REQUESTS, handle)
    await hub.publish(OFFICES_EXCHANGE, office_in("a"), OutMessage(b"f", message_id="before"))

    assert await drop_connections(amqp.vhost, expected=2) >= 2
    await asyncio.sleep(0.2)

    ids = [uuid.uuid4().hex for _ in range(5)]
    for message_id in ids:  # waits for the reconnection, then is confirmed
        await office.publish(HUB_EXCHANGE, RK_QUERY, OutMessage(b"q", message_id=message_id))
    async with asyncio.timeout(15):
        while not set(ids) <= set(got):
            arrived.clear()
            await arrived.wait()
    # the hub's publishing channel came back too (confirmed, routed)
    await hub.publish(OFFICES_EXCHANGE, office_in("a"), OutMessage(b"f", message_id="after"))
    await amqp.reset()


async def test_a_bus_reaches_the_node_that_answers_among_several(amqp: AmqpEnv) -> None:
    """With nodes that do not answer listed too, in any order, every bus reaches the broker
    (it starts at a random node and tries each in turn). With none answering the error names
    each node and never the password; a refused login is refused at once."""
    dead = ["127.0.0.1:1", "127.0.0.1:2"]  # nothing listens there
    login = f"{quote(amqp.hub, safe='')}:{quote(amqp.passwords[amqp.hub], safe='')}"
    for hosts in ([*dead, AMQP_HOST], [AMQP_HOST, *dead], [dead[0], AMQP_HOST, dead[1]]):
        for _ in range(3):
            url = f"amqp://{login}@{','.join(hosts)}/{amqp.vhost}"
            bus = await connect_amqp(url, identity=amqp.hub)
            await bus.close()
    with pytest.raises(BusError, match="cannot connect to the broker") as caught:
        await connect_amqp(f"amqp://{login}@{','.join(dead)}/{amqp.vhost}", identity=amqp.hub)
    assert "127.0.0.1:1: " in str(caught.value) and "127.0.0.1:2: " in str(caught.value)
    assert amqp.passwords[amqp.hub] not in str(caught.value)
    wrong = f"amqp://{quote(amqp.hub, safe='')}:wrong@{dead[0]},{AMQP_HOST}/{amqp.vhost}"
    with pytest.raises(AccessRefused, match="refused the login"):
        await connect_amqp(wrong, identity=amqp.hub)


async def test_a_delivery_is_held_while_the_store_is_down_and_none_is_dead_lettered(
    amqp: AmqpEnv,
) -> None:
    """The process's store out of reach for longer than the delivery limit's pauses ride out
    (this module's limit is 2): the handler's failures keep the delivery in the process, the
    broker never redelivers it nor dead-letters it, and once the store answers the handler
    takes it as a redelivery and acks it."""
    office = await amqp.connect(amqp.office("a"))
    hub = await amqp.connect(amqp.hub)
    down = True

    async def store_down() -> bool:
        return down

    hub.store_down = store_down  # type: ignore[attr-defined]
    runs: list[tuple[bool, int]] = []
    sixth, done = asyncio.Event(), asyncio.Event()

    async def handle(d: Delivery) -> None:
        runs.append((d.redelivered, d.delivery_count))
        if len(runs) == 6:  # 0.05 + 0.1 + 0.2 + 0.4 + 0.8 s: past a limit of 2 nacks
            sixth.set()
        if down:
            raise ConnectionRefusedError(111, "Connect call failed")
        await d.ack()
        done.set()

    await hub.consume(HUB_REQUESTS, handle)
    await office.publish(HUB_EXCHANGE, RK_QUERY, OutMessage(b"q", message_id="held"))
    async with asyncio.timeout(15):
        await sixth.wait()
    down = False
    async with asyncio.timeout(10):
        await done.wait()
    assert runs[0] == (False, 0)
    # handled again here, never given back to the broker (which would count a delivery, and
    # dead-letter it past the limit)
    assert all(run == (True, 0) for run in runs[1:])
    await amqp.reset()


async def test_a_publish_unconfirmed_when_the_bus_closes_raises_bus_closed(amqp: AmqpEnv) -> None:
    """The connection's close fails the confirms it still awaits with a CancelledError
    (aiormq); the publisher, which nobody cancelled, hears BusClosed — before, its task ended
    cancelled, as if it had been (one of a turn's callers: the others heard NotConfirmed)."""
    hub = await amqp.connect(amqp.hub)
    dropped = asyncio.Event()

    async def dropping(frame: object) -> None:  # the broker's confirm, lost on the way
        dropped.set()

    hub._raw._on_confirm_frame = dropping  # type: ignore[union-attr]
    message = OutMessage(b"x", uuid.uuid4().hex, None, {})
    publish = asyncio.ensure_future(hub.publish(OFFICES_EXCHANGE, office_in("b"), message))
    async with asyncio.timeout(10):  # written, and confirmed by the broker: unheard
        await dropped.wait()
    assert not publish.done()
    await hub.close()
    await asyncio.wait([publish], timeout=10)
    assert not publish.cancelled()
    assert isinstance(publish.exception(), BusClosed)
