"""One behaviour suite, run against the in-process bus and RabbitMQ alike."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import pytest
from bus_env import DELIVERY_LIMIT, INBOX_BYTES, BusEnv, Inbox

from hub.bus import (
    BODY_SHA256_HEADER,
    BODY_SIZE_HEADER,
    CONTENT_TYPE,
    DEAD_LETTER_MAX_BODY,
    DEAD_QUEUE,
    HUB_EXCHANGE,
    HUB_REQUESTS,
    OFFICES_EXCHANGE,
    QUEUE_HEADER,
    REASON_HEADER,
    RK_QUERY,
    USER_HEADER,
    AccessRefused,
    Bus,
    BusClosed,
    BusError,
    Delivery,
    NotConfirmed,
    OutMessage,
    Rejected,
    Subscription,
    Unroutable,
    office_in,
    office_replies,
)


def new_id() -> str:
    return uuid.uuid4().hex


def query(message_id: str | None = None, **kw: object) -> OutMessage:
    return OutMessage(b"query-body", message_id=message_id or new_id(), **kw)  # type: ignore[arg-type]


async def expect_dead(env: BusEnv, message_id: str, within: float = 10.0) -> Delivery:
    """Read renkei.dead as the monitor until ``message_id`` shows up."""
    monitor = await env.connect(env.monitor)
    inbox = Inbox()
    sub = await monitor.consume(DEAD_QUEUE, inbox)
    try:
        async with asyncio.timeout(within):
            while True:
                for d in inbox.items:
                    if d.message_id == message_id:
                        return d
                await inbox.wait(len(inbox.items) + 1, within)
    finally:
        await sub.cancel()


async def quiet(bus: Bus, queue: str, wait: float = 0.4) -> list[Delivery]:
    """What ``queue`` still delivers within ``wait`` seconds (acked)."""
    inbox = Inbox()
    sub = await bus.consume(queue, inbox)
    await asyncio.sleep(wait)
    await sub.cancel()
    return inbox.items


async def test_round_trip_carries_every_property(env: BusEnv) -> None:
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    inbox = Inbox()
    sub = await hub.consume(HUB_REQUESTS, inbox)
    headers = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    sent = OutMessage(
        b"\x00binary\xff",
        message_id=new_id(),
        correlation_id="corr-1",
        headers={**headers, "renkei-sig": "c2lnbmF0dXJl"},
    )
    await office.publish(HUB_EXCHANGE, RK_QUERY, sent)
    (got,) = await inbox.wait(1)
    assert got.body == sent.body
    assert got.message_id == sent.message_id
    assert got.correlation_id == "corr-1"
    assert dict(got.headers) == dict(sent.headers)
    assert got.user_id == office.identity == env.office("a")
    assert got.content_type == CONTENT_TYPE == "application/json"  # every publish says JSON
    assert (got.exchange, got.routing_key, got.queue) == (HUB_EXCHANGE, RK_QUERY, HUB_REQUESTS)
    assert (got.redelivered, got.delivery_count, got.settled) == (False, 0, True)
    await sub.cancel()


async def test_publish_returns_after_confirm_and_each_message_arrives_once(env: BusEnv) -> None:
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    ids = [new_id() for _ in range(300)]
    await asyncio.gather(*(office.publish(HUB_EXCHANGE, RK_QUERY, query(i)) for i in ids))
    inbox = Inbox()
    sub = await hub.consume(HUB_REQUESTS, inbox)
    got = await inbox.wait(300)
    await asyncio.sleep(0.2)
    assert sorted(d.message_id for d in got) == sorted(ids)
    await sub.cancel()


async def test_unroutable_mandatory_publish_raises(env: BusEnv) -> None:
    hub = await env.connect(env.hub)
    with pytest.raises(Unroutable):
        await hub.publish(OFFICES_EXCHANGE, office_in("nowhere"), query())
    await hub.publish(OFFICES_EXCHANGE, office_in("nowhere"), query(), mandatory=False)
    await hub.publish(OFFICES_EXCHANGE, office_in("a"), query())  # the bus still works


async def test_office_may_publish_only_to_the_hub_exchange(env: BusEnv) -> None:
    office = await env.connect(env.office("a"))
    with pytest.raises(AccessRefused):
        await office.publish(OFFICES_EXCHANGE, office_in("b"), query())
    with pytest.raises(AccessRefused):
        await office.publish("", office_in("b"), query())  # the default exchange
    await office.publish(HUB_EXCHANGE, RK_QUERY, query())  # recovered after the refusals


async def test_office_may_consume_only_its_own_queues(env: BusEnv) -> None:
    office = await env.connect(env.office("a"))
    for queue in (office_in("b"), office_replies("b"), HUB_REQUESTS, DEAD_QUEUE):
        with pytest.raises(AccessRefused):
            await office.consume(queue, Inbox())
    sub = await office.consume(office_in("a"), Inbox())
    await sub.cancel()


async def test_user_id_cannot_be_forged(env: BusEnv) -> None:
    assert "user_id" not in OutMessage.__slots__  # nothing to set it with
    forger = await env.connect(env.office("a"), user=env.office("b"))
    with pytest.raises(AccessRefused):
        await forger.publish(HUB_EXCHANGE, RK_QUERY, query())
    with pytest.raises(AccessRefused):
        await env.connect("nobody-at-all")


async def test_nack_redelivers_with_delivery_count(env: BusEnv) -> None:
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)

    async def nack_first(d: Delivery) -> None:
        if d.delivery_count == 0:
            await d.nack(requeue=True)
        else:
            await d.ack()

    inbox = Inbox(nack_first)
    sub = await hub.consume(HUB_REQUESTS, inbox)
    await office.publish(HUB_EXCHANGE, RK_QUERY, query())
    first, second = await inbox.wait(2)
    assert (first.redelivered, first.delivery_count) == (False, 0)
    assert (second.redelivered, second.delivery_count) == (True, 1)
    assert second.message_id == first.message_id
    await sub.cancel()


async def test_delivery_limit_dead_letters_with_reason(env: BusEnv) -> None:
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    inbox = Inbox(lambda d: d.nack(requeue=True))
    sub = await hub.consume(HUB_REQUESTS, inbox)
    sent = query(headers={"traceparent": "00-aa-bb-01"})
    await office.publish(HUB_EXCHANGE, RK_QUERY, sent)
    dead = await expect_dead(env, sent.message_id)
    assert [d.delivery_count for d in inbox.items] == list(range(DELIVERY_LIMIT + 1))
    assert dead.headers[REASON_HEADER] == "delivery_limit"
    assert dead.headers[QUEUE_HEADER] == HUB_REQUESTS
    assert dead.headers[USER_HEADER] == dead.user_id == env.office("a")
    assert dead.headers["traceparent"] == "00-aa-bb-01"
    assert (dead.body, dead.routing_key, dead.queue) == (sent.body, RK_QUERY, DEAD_QUEUE)
    await sub.cancel()


async def test_dead_letter_with_reason_reaches_the_dead_queue(env: BusEnv) -> None:
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    inbox = Inbox(lambda d: d.dead_letter("malformed"))
    sub = await hub.consume(HUB_REQUESTS, inbox)
    sent = query(correlation_id="c-9", headers={"traceparent": "00-cc-dd-01"})
    await office.publish(HUB_EXCHANGE, RK_QUERY, sent)
    dead = await expect_dead(env, sent.message_id)
    assert dead.headers[REASON_HEADER] == "malformed"
    assert dead.headers[QUEUE_HEADER] == HUB_REQUESTS
    assert dead.headers[USER_HEADER] == env.office("a")  # who sent it
    assert dead.user_id == env.hub  # who dead-lettered it, vouched by the broker
    assert (dead.correlation_id, dead.headers["traceparent"]) == ("c-9", "00-cc-dd-01")
    await sub.cancel()
    assert await quiet(hub, HUB_REQUESTS) == []  # it was acked


CLAIMS = {  # what an office may put in its own headers, hoping the dead queue believes it
    USER_HEADER: "someone-else",
    REASON_HEADER: "claimed",
    QUEUE_HEADER: "claimed",
    BODY_SIZE_HEADER: "1",
    BODY_SHA256_HEADER: "00",
}


@pytest.mark.parametrize("how", ["dead_letter", "broker"])
async def test_a_dead_letter_names_the_vouched_publisher_not_a_claimed_one(
    env: BusEnv, how: str
) -> None:
    """An office sets renkei-user-id (and the other dead-letter headers) on what it sends: the
    dead letter still names it — by the broker-checked user_id — and the true reason and queue,
    whether the hub dead-letters it or the broker does (here: rejected without requeue)."""
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)

    async def act(d: Delivery) -> None:
        await (d.dead_letter("malformed") if how == "dead_letter" else d.nack(requeue=False))

    sub = await hub.consume(HUB_REQUESTS, Inbox(act))
    claims = {**CLAIMS, USER_HEADER: env.office("b")}
    sent = query(headers={**claims, "traceparent": "00-ee-ff-01"})
    await office.publish(HUB_EXCHANGE, RK_QUERY, sent)
    dead = await expect_dead(env, sent.message_id)
    assert dead.headers[USER_HEADER] == env.office("a")
    assert dead.headers[REASON_HEADER] == ("malformed" if how == "dead_letter" else "rejected")
    assert dead.headers[QUEUE_HEADER] == HUB_REQUESTS
    assert BODY_SIZE_HEADER not in dead.headers and BODY_SHA256_HEADER not in dead.headers
    assert dead.headers["traceparent"] == "00-ee-ff-01"  # the rest is kept
    await sub.cancel()


async def test_an_oversized_message_is_dead_lettered_cut_with_its_size_and_digest(
    env: BusEnv,
) -> None:
    """A dead letter must not carry a huge body whole into the bounded dead queue."""
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    sub = await hub.consume(HUB_REQUESTS, Inbox(lambda d: d.dead_letter("wire.too_large")))
    body = bytes(range(256)) * (200 * 1024 // 256)  # 200 KiB: more than any message of ours
    sent = OutMessage(body, message_id=new_id(), content_type="application/octet-stream")
    await office.publish(HUB_EXCHANGE, RK_QUERY, sent)
    dead = await expect_dead(env, sent.message_id)
    assert dead.body == body[:DEAD_LETTER_MAX_BODY]
    assert dead.headers[BODY_SIZE_HEADER] == str(len(body))
    assert dead.headers[BODY_SHA256_HEADER] == hashlib.sha256(body).hexdigest()
    assert dead.headers[USER_HEADER] == env.office("a")
    assert dead.content_type == "application/octet-stream"  # as the publisher said
    await sub.cancel()


async def flood(office: Bus, size: int) -> tuple[int, BusError]:
    """Publish ``size``-byte messages until the bus refuses one: (how many went in, why)."""
    for accepted in range(3 * INBOX_BYTES // size):
        try:
            await office.publish(HUB_EXCHANGE, RK_QUERY, OutMessage(b"f" * size, new_id()))
        except BusError as exc:
            return accepted, exc
    raise AssertionError("the hub's inbox took a flood three times its bound")


async def test_a_flooded_inbox_refuses_publishes_and_takes_them_again_when_drained(
    env: BusEnv,
) -> None:
    """hub.requests is bounded (reject-publish): a flooding office's publishes fail with
    Rejected (publisher nacks) rather than filling the broker's disk."""
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    size = 16 * 1024
    accepted, error = await flood(office, size)
    assert isinstance(error, Rejected) and isinstance(error, NotConfirmed)
    assert error.code == "bus.rejected"
    # as on a quorum queue: refused once over the bound (the one taking it over still went in)
    assert INBOX_BYTES // size <= accepted <= INBOX_BYTES // size + 2
    inbox = Inbox()
    sub = await hub.consume(HUB_REQUESTS, inbox)
    await inbox.wait(accepted)
    await sub.cancel()
    await office.publish(HUB_EXCHANGE, RK_QUERY, query())  # taken again


async def test_nack_without_requeue_dead_letters_as_rejected(env: BusEnv) -> None:
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    sub = await hub.consume(HUB_REQUESTS, Inbox(lambda d: d.nack(requeue=False)))
    sent = query()
    await office.publish(HUB_EXCHANGE, RK_QUERY, sent)
    dead = await expect_dead(env, sent.message_id)
    assert dead.headers[REASON_HEADER] == "rejected"
    await sub.cancel()


async def test_expired_message_is_dead_lettered(env: BusEnv) -> None:
    office = await env.connect(env.office("a"))
    sent = query(expiration_ms=100)
    await office.publish(HUB_EXCHANGE, RK_QUERY, sent)
    dead = await expect_dead(env, sent.message_id)
    assert dead.headers[REASON_HEADER] == "expired"
    assert dead.headers[QUEUE_HEADER] == HUB_REQUESTS
    death = dead.death  # the broker's own entry: where it was first sent, when
    assert death is not None
    assert (death.queue, death.reason, death.exchange) == (HUB_REQUESTS, "expired", HUB_EXCHANGE)
    assert (death.routing_keys, death.count) == ((RK_QUERY,), 1)
    assert death.time is not None and death.time.tzinfo is not None


async def test_a_service_s_dead_letter_copy_has_no_death(env: BusEnv) -> None:
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    sub = await hub.consume(HUB_REQUESTS, Inbox(lambda d: d.dead_letter("malformed")))
    sent = query()
    await office.publish(HUB_EXCHANGE, RK_QUERY, sent)
    dead = await expect_dead(env, sent.message_id)
    assert dead.death is None and dead.user_id == env.hub
    await sub.cancel()


async def test_only_the_impersonator_publishes_as_another(env: BusEnv) -> None:
    """The replayer (tag ``impersonator``) sends with another's user_id; nobody else may."""
    hub = await env.connect(env.hub)
    inbox = Inbox()
    sub = await hub.consume(HUB_REQUESTS, inbox)
    replayer = await env.connect(env.topology.replayer_identity)
    sent = query()
    await replayer.publish(HUB_EXCHANGE, RK_QUERY, sent, as_user=env.office("b"))
    (got,) = await inbox.wait(1)
    assert (got.message_id, got.user_id) == (sent.message_id, env.office("b"))
    for who in (env.office("a"), env.hub, env.monitor):
        bus = await env.connect(who)
        with pytest.raises(AccessRefused):
            await bus.publish(HUB_EXCHANGE, RK_QUERY, query(), as_user=env.office("b"))
    with pytest.raises(AccessRefused):  # nor may the replayer write elsewhere
        await replayer.publish("", HUB_REQUESTS, query(), as_user=env.office("b"))
    await sub.cancel()


async def test_handler_exception_redelivers(env: BusEnv) -> None:
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)

    async def fail_first(d: Delivery) -> None:
        if not d.redelivered:
            raise RuntimeError("boom")
        await d.ack()

    inbox = Inbox(fail_first)
    sub = await hub.consume(HUB_REQUESTS, inbox)
    await office.publish(HUB_EXCHANGE, RK_QUERY, query())
    first, second = await inbox.wait(2)
    assert (second.redelivered, second.delivery_count) == (True, 1)
    assert first.settled
    assert second.settled
    await sub.cancel()


async def test_prefetch_bounds_concurrent_handlers(env: BusEnv) -> None:
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    gate = asyncio.Event()
    running = 0
    most = 0

    async def hold(d: Delivery) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await gate.wait()
        running -= 1
        await d.ack()

    inbox = Inbox(hold)
    sub = await hub.consume(HUB_REQUESTS, inbox, prefetch=3)
    for _ in range(10):
        await office.publish(HUB_EXCHANGE, RK_QUERY, query())
    await inbox.wait(3)
    await asyncio.sleep(0.3)
    assert (most, len(inbox.items)) == (3, 3)
    gate.set()
    await inbox.wait(10)
    await sub.cancel()


async def test_a_slow_handler_does_not_hold_back_the_others_acks(env: BusEnv) -> None:
    """Acks are sent in batches (AMQP): one still in hand must not keep the prefetch window
    full, or a consumer would stall behind it."""
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    gate = asyncio.Event()
    slow_id = new_id()

    async def act(d: Delivery) -> None:
        if d.message_id == slow_id:
            await gate.wait()
        await d.ack()

    inbox = Inbox(act)
    sub = await hub.consume(HUB_REQUESTS, inbox, prefetch=8)
    await office.publish(HUB_EXCHANGE, RK_QUERY, query(slow_id))
    for _ in range(30):
        await office.publish(HUB_EXCHANGE, RK_QUERY, query())
    await inbox.wait(31)  # 30 past the window of 8, while the first is still in hand
    gate.set()
    await sub.cancel()
    assert await quiet(hub, HUB_REQUESTS) == []


async def test_a_handler_that_cancels_its_own_subscription_still_settles(env: BusEnv) -> None:
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    subs: list[Subscription] = []
    done = asyncio.Event()

    async def stop_then_ack(d: Delivery) -> None:
        await subs[0].cancel()
        await d.ack()  # after the cancel: the ack must still reach the broker
        done.set()

    subs.append(await hub.consume(HUB_REQUESTS, Inbox(stop_then_ack)))
    await office.publish(HUB_EXCHANGE, RK_QUERY, query())
    await asyncio.wait_for(done.wait(), 10)
    await asyncio.sleep(0.2)  # the channel closes once the handler has returned
    assert await quiet(hub, HUB_REQUESTS) == []


async def test_cancel_waits_for_handlers_in_flight(env: BusEnv) -> None:
    office, hub = await env.connect(env.office("a")), await env.connect(env.hub)
    gate = asyncio.Event()
    finished: list[str] = []

    async def slow(d: Delivery) -> None:
        await gate.wait()
        await d.ack()
        finished.append(d.message_id)

    inbox = Inbox(slow)
    sub: Subscription = await hub.consume(HUB_REQUESTS, inbox)
    for _ in range(3):
        await office.publish(HUB_EXCHANGE, RK_QUERY, query())
    await inbox.wait(3)
    cancelling = asyncio.create_task(sub.cancel())
    await asyncio.sleep(0.3)
    assert not cancelling.done()
    gate.set()
    await asyncio.wait_for(cancelling, 5)
    assert len(finished) == 3
    assert await quiet(hub, HUB_REQUESTS) == []  # all three were acked, none returned


async def test_closed_bus_refuses_work(env: BusEnv) -> None:
    hub = await env.connect(env.hub)
    await hub.close()
    with pytest.raises(BusClosed):
        await hub.publish(OFFICES_EXCHANGE, office_in("a"), query())
    with pytest.raises(BusClosed):
        await hub.consume(HUB_REQUESTS, Inbox())
