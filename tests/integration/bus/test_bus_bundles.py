"""Bundles on RabbitMQ: one turn's publishes to a queue go as one message and come out as
their own deliveries; an item requeued brings its bundle back, a poison item goes to the dead
letters alone, a malformed bundle (a dishonest office's) is dead-lettered whole as opaque bytes
under its publisher's name, a bundle the broker dead-letters gives each item its death, and a
bundle nobody can take is unroutable for every caller (hub/bus/_bundle.py)."""

from __future__ import annotations

import asyncio
import secrets
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import aio_pika
import orjson
import pytest
from bus_env import AMQP_HOST, OFFICES, AmqpEnv, Inbox, amqp_vhost

from hub.bus import (
    CONTENT_TYPE,
    DEAD_QUEUE,
    HUB_EXCHANGE,
    HUB_REQUESTS,
    OFFICES_EXCHANGE,
    QUEUE_HEADER,
    REASON_HEADER,
    RK_QUERY,
    USER_HEADER,
    Delivery,
    OutMessage,
    Unroutable,
    network_topology,
    office_in,
)
from hub.bus._bundle import BUNDLE_TYPE, encode_bundle
from hub.bus.amqp import AmqpBus
from hub.bus.topology import DELIVERY_LIMIT, DLX_EXCHANGE
from monitor import DeadLetters, NoDeadLetter

pytestmark = pytest.mark.rabbitmq


@pytest.fixture(scope="module")
async def amqp() -> AsyncIterator[AmqpEnv]:
    async with amqp_vhost(
        network_topology(OFFICES, identity_prefix=f"t{secrets.token_hex(3)}-")
    ) as env:
        yield env


@pytest.fixture
async def env(amqp: AmqpEnv) -> AsyncIterator[AmqpEnv]:
    yield amqp
    await amqp.reset()


def item(n: int, **kw: object) -> OutMessage:
    headers = {"renkei-sig": f"sig-{n}", "traceparent": f"00-{n:032x}-{n:016x}-01"}
    return OutMessage(f"body {n}".encode(), f"m{n}", f"c{n}", headers, **kw)  # type: ignore[arg-type]


async def raw(env: AmqpEnv, user: str) -> aio_pika.abc.AbstractRobustConnection:
    """A plain AMQP client as ``user``: what an office could send without our bus."""
    password = quote(env.passwords[user], safe="")
    return await aio_pika.connect_robust(
        f"amqp://{quote(user, safe='')}:{password}@{AMQP_HOST}/{quote(env.vhost, safe='')}"
    )


async def as_office_a(
    env: AmqpEnv, body: bytes, message_id: str, *, expiration: float | None = None
) -> None:
    """``body`` said to be a bundle, published to the hub by office a over plain AMQP."""
    conn = await raw(env, env.office("a"))
    try:
        channel = await conn.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(HUB_EXCHANGE, ensure=False)
        msg = aio_pika.Message(
            body,
            content_type=BUNDLE_TYPE,
            message_id=message_id,
            user_id=env.office("a"),
            expiration=expiration,
        )
        await exchange.publish(msg, routing_key=RK_QUERY)
    finally:
        await conn.close()


async def depth(env: AmqpEnv, queue: str) -> int:
    """Messages waiting in ``queue`` (AMQP messages: a bundle is one)."""
    conn = await raw(env, env.hub)
    try:
        channel = await conn.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)
    finally:
        await conn.close()


async def test_one_turns_publishes_are_one_message_and_each_item_its_own_delivery(
    env: AmqpEnv,
) -> None:
    hub = await env.connect(env.hub)
    sent = [item(n) for n in range(10)]
    await asyncio.gather(*(hub.publish(OFFICES_EXCHANGE, office_in("b"), m) for m in sent))
    assert await depth(env, office_in("b")) == 1  # one bundle
    office = await env.connect(env.office("b"))
    inbox = Inbox()
    await office.consume(office_in("b"), inbox)
    got = await inbox.wait(10)
    assert [(d.body, d.message_id, d.correlation_id) for d in got] == [
        (m.body, m.message_id, m.correlation_id) for m in sent
    ]
    assert [d.headers for d in got] == [dict(m.headers) for m in sent]
    assert {(d.user_id, d.content_type, d.redelivered, d.queue) for d in got} == {
        (env.hub, CONTENT_TYPE, False, office_in("b"))
    }
    await asyncio.sleep(0.3)
    assert await depth(env, office_in("b")) == 0  # acked once every item was


async def test_a_lone_publish_goes_as_itself(env: AmqpEnv) -> None:
    hub = await env.connect(env.hub)
    await hub.publish(OFFICES_EXCHANGE, office_in("b"), item(0))
    conn = await raw(env, env.office("b"))
    try:
        channel = await conn.channel()
        queue = await channel.get_queue(office_in("b"), ensure=False)
        msg = await queue.get(timeout=5)
        assert (msg.content_type, msg.body, msg.message_id) == (CONTENT_TYPE, b"body 0", "m0")
        await msg.ack()
    finally:
        await conn.close()


async def test_an_item_requeued_brings_its_bundle_back_as_redeliveries(env: AmqpEnv) -> None:
    hub = await env.connect(env.hub)
    await asyncio.gather(
        *(hub.publish(OFFICES_EXCHANGE, office_in("b"), item(n)) for n in range(3))
    )

    async def requeue_m1_once(d: Delivery) -> None:
        if d.message_id == "m1" and not d.redelivered:
            await d.nack(requeue=True)
        else:
            await d.ack()

    inbox = Inbox(requeue_m1_once)
    office = await env.connect(env.office("b"))
    await office.consume(office_in("b"), inbox)
    got = await inbox.wait(6)
    assert sorted((d.message_id, d.redelivered) for d in got) == [
        ("m0", False), ("m0", True), ("m1", False), ("m1", True), ("m2", False), ("m2", True)
    ]  # fmt: skip
    assert [d.delivery_count for d in got[3:]] == [1, 1, 1]
    await asyncio.sleep(0.3)
    assert len(inbox.items) == 6
    assert await depth(env, office_in("b")) == 0
    assert await depth(env, DEAD_QUEUE) == 0


async def test_a_poison_item_goes_to_the_dead_letters_alone(env: AmqpEnv) -> None:
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    sent = [item(n) for n in range(3)]
    await asyncio.gather(*(office.publish(HUB_EXCHANGE, RK_QUERY, m) for m in sent))
    assert await depth(env, HUB_REQUESTS) == 1

    async def poison_m1(d: Delivery) -> None:
        await (d.nack(requeue=True) if d.message_id == "m1" else d.ack())

    inbox = Inbox(poison_m1)
    await hub.consume(HUB_REQUESTS, inbox)
    monitor, dead = await env.connect(env.monitor), Inbox()
    await monitor.consume(DEAD_QUEUE, dead)
    [poisoned] = await dead.wait(1)
    assert poisoned.message_id == "m1"
    assert poisoned.body == b"body 1"
    assert poisoned.headers[REASON_HEADER] == "delivery_limit"
    assert poisoned.headers[QUEUE_HEADER] == HUB_REQUESTS
    assert poisoned.headers[USER_HEADER] == env.office("a")
    assert poisoned.headers["renkei-sig"] == "sig-1"
    await asyncio.sleep(0.3)
    assert len(dead.items) == 1  # the others were not taken with it
    m1 = [d.delivery_count for d in inbox.items if d.message_id == "m1"]
    assert m1 == list(range(DELIVERY_LIMIT + 1))  # as often as a message of its own
    assert await depth(env, HUB_REQUESTS) == 0


async def test_an_item_dead_lettered_by_its_handler_goes_alone(
    env: AmqpEnv, settles: Callable[[], dict[str, float]]
) -> None:
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    await asyncio.gather(*(office.publish(HUB_EXCHANGE, RK_QUERY, item(n)) for n in range(3)))

    async def refuse_m2(d: Delivery) -> None:
        await (d.dead_letter("malformed") if d.message_id == "m2" else d.ack())

    inbox = Inbox(refuse_m2)
    await hub.consume(HUB_REQUESTS, inbox)
    monitor, dead = await env.connect(env.monitor), Inbox()
    await monitor.consume(DEAD_QUEUE, dead)
    [refused] = await dead.wait(1)
    assert (refused.message_id, refused.headers[REASON_HEADER]) == ("m2", "malformed")
    assert refused.headers[USER_HEADER] == env.office("a")
    await asyncio.sleep(0.3)
    assert (len(inbox.items), len(dead.items)) == (3, 1)
    assert await depth(env, HUB_REQUESTS) == 0
    # counted as the publishes are, an item a message: two acks and a dead letter that is not
    # also an ack (before: one ack, the bundle's), and the monitor's ack of the dead letter
    assert settles() == {"ack": 2 + 1, "dead_letter": 1}


@pytest.mark.parametrize(
    "body",
    [
        b"RB1\x00\x02garbage",
        b"RB1" + b"\xff\xff" + b"\x00" * 40,  # 65,535 items claimed
        b"not a bundle at all",
    ],
)
async def test_a_malformed_bundle_is_dead_lettered_whole_under_its_publishers_name(
    env: AmqpEnv, body: bytes
) -> None:
    """A dishonest office sends bytes that say they are a bundle: nothing reaches the hub's
    handler; the dead letters hold them as opaque bytes (no content type: not read as a
    bundle again), with the reason and the broker-vouched office."""
    hub = await env.connect(env.hub)
    handled = Inbox()
    await hub.consume(HUB_REQUESTS, handled)
    await as_office_a(env, body, "forged")
    monitor, dead = await env.connect(env.monitor), Inbox()
    await monitor.consume(DEAD_QUEUE, dead)
    [d] = await dead.wait(1)
    assert d.message_id == "forged"
    assert d.body == body
    assert d.content_type is None
    assert d.headers[REASON_HEADER].startswith("bad bundle: ")
    assert d.headers[USER_HEADER] == env.office("a")
    await asyncio.sleep(0.3)
    assert (handled.items, len(dead.items)) == ([], 1)


async def test_a_bundle_the_broker_dead_letters_gives_each_item_its_death(env: AmqpEnv) -> None:
    hub = await env.connect(env.hub)
    sent = [item(n, expiration_ms=50 + n) for n in range(2)]
    await asyncio.gather(*(hub.publish(OFFICES_EXCHANGE, office_in("a"), m) for m in sent))
    monitor, dead = await env.connect(env.monitor), Inbox()
    await monitor.consume(DEAD_QUEUE, dead)
    got = await dead.wait(2)
    assert [d.message_id for d in got] == ["m0", "m1"]
    for d in got:
        assert d.death is not None
        assert (d.death.reason, d.death.queue) == ("expired", office_in("a"))
        assert d.headers[REASON_HEADER] == "expired"
        assert d.headers[QUEUE_HEADER] == office_in("a")
        assert d.headers[USER_HEADER] == env.hub
        assert d.content_type == CONTENT_TYPE


async def test_a_bundle_no_queue_takes_is_unroutable_for_every_caller(env: AmqpEnv) -> None:
    hub = await env.connect(env.hub)
    results = await asyncio.gather(
        *(hub.publish(OFFICES_EXCHANGE, office_in("nobody"), item(n)) for n in range(3)),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [Unroutable] * 3
    await hub.publish(OFFICES_EXCHANGE, office_in("b"), item(9))  # and the bus goes on


async def test_a_bundles_items_in_hand_are_bounded_by_the_prefetch(env: AmqpEnv) -> None:
    """A bundle is one message of the prefetch window but up to 64 items: no more of them run
    at once than the window lets messages run."""
    hub = await env.connect(env.hub)
    await asyncio.gather(
        *(hub.publish(OFFICES_EXCHANGE, office_in("b"), item(n)) for n in range(12))
    )
    running, most = 0, 0

    async def slow(d: Delivery) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1
        await d.ack()

    inbox = Inbox(slow)
    office = await env.connect(env.office("b"))
    await office.consume(office_in("b"), inbox, prefetch=3)
    await inbox.wait(12)
    assert most == 3


async def test_a_bundle_inside_an_item_is_no_bundle_on_the_dead_letters(env: AmqpEnv) -> None:
    """An office's item that says it is a bundle (content type) and carries one: the hub's
    handler refuses it (not JSON) and dead-letters it. On renkei.dead that copy is the hub's
    (``user_id`` hub, no ``x-death``); were it read as a bundle, its inner items' headers —
    the office's own bytes — would stand there as the hub's word: another office named as the
    sender, any reason, any queue. Every dead letter must name the vouched office."""
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    claims = {USER_HEADER: env.office("b"), REASON_HEADER: "forged", QUEUE_HEADER: "nowhere"}
    inner = encode_bundle(
        [OutMessage(f"forged {n}".encode(), f"m{n}", None, claims) for n in (7, 8)]
    )
    nested = OutMessage(inner, "m-nested", None, content_type=BUNDLE_TYPE)
    await asyncio.gather(
        office.publish(HUB_EXCHANGE, RK_QUERY, item(0)),
        office.publish(HUB_EXCHANGE, RK_QUERY, nested),
    )

    async def json_only(d: Delivery) -> None:  # as the router (wire.content_type)
        await (d.ack() if d.content_type == CONTENT_TYPE else d.dead_letter("not JSON"))

    await hub.consume(HUB_REQUESTS, Inbox(json_only))
    monitor, dead = await env.connect(env.monitor), Inbox()
    await monitor.consume(DEAD_QUEUE, dead)
    await dead.wait(1)
    await asyncio.sleep(0.3)
    assert {d.headers.get(USER_HEADER) for d in dead.items} == {env.office("a")}


async def dead_bundle(env: AmqpEnv) -> DeadLetters:
    """Two items the broker dead-lettered (expired) as one bundle; the replayer's reader."""
    hub = await env.connect(env.hub)
    sent = [item(n, expiration_ms=20) for n in range(2)]
    await asyncio.gather(*(hub.publish(OFFICES_EXCHANGE, office_in("a"), m) for m in sent))
    await asyncio.sleep(0.5)
    replayer = await env.connect(env.topology.replayer_identity)
    assert isinstance(replayer, AmqpBus)
    replayer.user_prefix = env.topology.identity_prefix  # user ids as the network names them
    return DeadLetters(replayer, env.topology, quiet=0.3)


async def test_a_bundle_on_the_dead_letters_is_looked_at_as_often_as_a_message(
    env: AmqpEnv,
) -> None:
    """renkei.dead has no delivery limit: every look returns what it held, and each return
    counts a delivery. An item returned there stays, however often it was looked at — it is
    not "dead-lettered as delivery_limit" by the replayer (which may not write renkei.dlx: the
    look would fail, wait out retry_pause and hold the bundle until its channel closed)."""
    letters = await dead_bundle(env)
    for _ in range(DELIVERY_LIMIT + 2):
        start = asyncio.get_running_loop().time()
        assert sorted(d.message_id for d in await letters.look()) == ["m0", "m1"]
        assert asyncio.get_running_loop().time() - start < 2.0


async def test_a_dead_bundles_items_are_listed_each_marked_with_their_bundle(
    env: AmqpEnv,
) -> None:
    letters = await dead_bundle(env)
    m0, m1 = sorted(await letters.look(), key=lambda d: d.message_id)
    assert m0.bundle is not None and m0.bundle == m1.bundle
    assert (m0.bundle_items, m1.bundle_items) == (2, 2)
    assert m0.replayable and m1.replayable


async def test_a_dead_letter_replayed_from_a_bundle_sends_the_bundle_back_whole(
    env: AmqpEnv,
) -> None:
    """monitor.deadletters: the broker dead-lettered one message holding two; a replay of
    either sends both back, as their sender, and the bundle leaves renkei.dead — nothing
    left to be listed or replayed again, nothing lost."""
    letters = await dead_bundle(env)
    office, got = await env.connect(env.office("a")), Inbox()
    await office.consume(office_in("a"), got)
    done = await letters.replay("m0")
    assert (done.user_id, done.routing_key, done.bundle_items) == ("hub", office_in("a"), 2)
    back = await got.wait(2)
    assert sorted(d.message_id for d in back) == ["m0", "m1"]
    assert {d.user_id for d in back} == {env.hub}
    assert {d.body for d in back} == {b"body 0", b"body 1"}
    assert REASON_HEADER not in back[0].headers  # sent as first published
    assert await letters.look() == []
    with pytest.raises(NoDeadLetter):
        await letters.replay("m1")


async def test_a_bundle_another_sender_gave_the_same_id_is_not_replayed_with_it(
    env: AmqpEnv,
) -> None:
    """A dishonest office names its own bundle as the hub's dead bundle is named and has it
    dead-lettered too: replaying the hub's item sends the hub's bundle alone, as the hub —
    the office's items are not sent as the hub, and stay (as the office's own)."""
    letters = await dead_bundle(env)
    [name] = {d.bundle for d in await letters.look()}
    assert name is not None
    forged = [item(n) for n in (7, 8)]
    await as_office_a(env, encode_bundle(forged), name, expiration=0.02)
    await asyncio.sleep(0.5)
    listed = await letters.look()
    assert sorted(d.message_id for d in listed) == ["m0", "m1", "m7", "m8"]
    assert {d.bundle for d in listed} == {name}  # the same label, two bundles
    hub = await env.connect(env.hub)
    requests = Inbox()
    await hub.consume(HUB_REQUESTS, requests)
    office, got = await env.connect(env.office("a")), Inbox()
    await office.consume(office_in("a"), got)
    await letters.replay("m0")
    assert sorted(d.message_id for d in await got.wait(2)) == ["m0", "m1"]
    left = await letters.look()
    assert sorted((d.message_id, d.user_id) for d in left) == [("m7", "a"), ("m8", "a")]
    await asyncio.sleep(0.3)
    assert got.items[2:] == [] and requests.items == []


async def test_a_malformed_bundle_on_the_dead_letters_is_listed_and_stops_no_replay(
    env: AmqpEnv,
) -> None:
    """An office may write renkei.dlx: bytes that say they are a bundle land on renkei.dead
    as such (so does one of its malformed bundles that expired in a queue). The replayer may
    not write renkei.dlx, so it must not try to dead-letter them again: that publish was
    refused, the look did not list them (hidden from the operators), and the refusal closed
    the replayer's publishing channel under the replay of the hub's own dead bundle."""
    letters = await dead_bundle(env)
    conn = await raw(env, env.office("a"))
    try:
        channel = await conn.channel(publisher_confirms=True)
        dlx = await channel.get_exchange(DLX_EXCHANGE, ensure=False)
        msg = aio_pika.Message(
            b"RB1\x00\x02garbage",
            content_type=BUNDLE_TYPE,
            message_id="bad",
            user_id=env.office("a"),
        )
        await dlx.publish(msg, routing_key="")
    finally:
        await conn.close()
    await asyncio.sleep(0.3)
    listed = await letters.look()
    assert sorted((d.message_id, d.user_id) for d in listed) == [
        ("bad", "a"),
        ("m0", "hub"),
        ("m1", "hub"),
    ]
    assert [d.bundle for d in listed if d.message_id == "bad"] == [None]
    done = await letters.replay("m0")
    assert (done.user_id, done.bundle_items) == ("hub", 2)
    assert [(d.message_id, d.user_id) for d in await letters.look()] == [("bad", "a")]


async def test_a_message_an_office_gave_an_items_id_does_not_stop_the_items_replay(
    env: AmqpEnv,
) -> None:
    """A dishonest office puts on renkei.dead (by renkei.dlx, a forged x-death) a message
    with the id of an item of the hub's dead bundle, one it may not have replayed (it may not
    write renkei.offices). A bundle's items reach the reader after the messages delivered
    with it, so that later message was found first and the replay of the hub's item was
    refused (NotReplayable) for as long as the office's stayed."""
    letters = await dead_bundle(env)
    conn = await raw(env, env.office("a"))
    try:
        channel = await conn.channel(publisher_confirms=True)
        dlx = await channel.get_exchange(DLX_EXCHANGE, ensure=False)
        death = {
            "queue": office_in("b"),
            "reason": "expired",
            "exchange": OFFICES_EXCHANGE,
            "routing-keys": [office_in("b")],
            "count": 1,
        }
        msg = aio_pika.Message(
            b"{}",
            content_type=CONTENT_TYPE,
            message_id="m1",
            user_id=env.office("a"),
            headers={"x-death": [death]},
        )
        await dlx.publish(msg, routing_key="")
    finally:
        await conn.close()
    await asyncio.sleep(0.3)
    done = await letters.replay("m1")
    assert (done.user_id, done.bundle_items) == ("hub", 2)
    left = await letters.look()
    assert [(d.message_id, d.user_id, d.replayable) for d in left] == [("m1", "a", False)]


@pytest.mark.parametrize(
    "long",
    [
        {"id": "x" * 256},
        {"correlation_id": "c" * 256},
        {"content_type": "t" * 256},
        {"headers": {"k" * 256: "v"}},
    ],
)
async def test_an_item_with_what_amqp_cannot_carry_makes_its_bundle_malformed(
    env: AmqpEnv, long: dict[str, object]
) -> None:
    """A message of its own has a message id, correlation id, content type and header names
    of at most 255 bytes (AMQP short strings). An item that says more is none a message could
    be: a dead letter of it could not be published (pamqp: TypeError), so a handler's
    ``dead_letter`` of it failed again and again. Refused whole, as a malformed bundle."""
    props = {"id": "m0", "correlation_id": None, "content_type": CONTENT_TYPE, "headers": {}}
    raw_props = orjson.dumps({**props, **long})
    body = b"RB1" + struct.pack(">HI", 1, len(raw_props)) + raw_props
    body += struct.pack(">I", 2) + b"{}"
    hub = await env.connect(env.hub)
    handled = Inbox(lambda d: d.dead_letter("unreadable"))
    await hub.consume(HUB_REQUESTS, handled)
    await as_office_a(env, body, "long")
    monitor, dead = await env.connect(env.monitor), Inbox()
    await monitor.consume(DEAD_QUEUE, dead)
    [d] = await dead.wait(1, within=3.0)
    assert (d.message_id, d.content_type) == ("long", None)
    assert d.headers[REASON_HEADER].startswith("bad bundle: ")
    assert handled.items == []


async def test_a_send_left_unconfirmed_on_one_key_holds_back_no_other_key(
    env: AmqpEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish waits while its key's last send awaits its confirm (Nagle's rule) — its key
    only. An office that makes the broker slow to confirm what the hub sends to its own queue
    (here: never confirmed) holds back the hub's next publish there, and nothing it sends to
    any other office."""
    hub = await env.connect(env.hub)
    assert isinstance(hub, AmqpBus)
    send = hub._send_gathered

    async def never_to_a(key: tuple[str, str, bool, str | None], items: list[OutMessage]) -> Any:
        if key[1] == office_in("a"):
            await asyncio.Event().wait()
        return await send(key, items)

    monkeypatch.setattr(hub, "_send_gathered", never_to_a)
    stuck = asyncio.ensure_future(hub.publish(OFFICES_EXCHANGE, office_in("a"), item(0)))
    await asyncio.sleep(0.05)
    held = asyncio.ensure_future(hub.publish(OFFICES_EXCHANGE, office_in("a"), item(1)))
    await asyncio.wait_for(hub.publish(OFFICES_EXCHANGE, office_in("b"), item(2)), 5)
    assert not held.done()  # a's next waits for a's last confirm; b's went at once
    for task in (stuck, held):
        task.cancel()
    await asyncio.gather(stuck, held, return_exceptions=True)


async def test_a_malformed_bundle_counts_as_one_dead_letter(
    env: AmqpEnv, settles: Callable[[], dict[str, float]]
) -> None:
    hub = await env.connect(env.hub)
    await hub.consume(HUB_REQUESTS, Inbox())
    await as_office_a(env, b"not a bundle at all", "forged")
    for _ in range(50):
        if await depth(env, DEAD_QUEUE) == 1:
            break
        await asyncio.sleep(0.02)
    assert settles() == {"dead_letter": 1}
