"""Bundles, pure: the codec (round trip; malformed, forged and oversized bundles refused with
what is wrong), the cut into bundles, and the gatherer's turns (tests/integration/bus/
test_bus_bundles.py runs them on RabbitMQ)."""

from __future__ import annotations

import asyncio
import gc
import struct
from collections.abc import Callable

import orjson
import pytest

from hub.bus import OFFICES_EXCHANGE, Delivery, OutMessage, office_in
from hub.bus._bundle import (
    BUNDLE_TYPE,
    MOST_BYTES,
    MOST_ITEMS,
    MOST_PROPS,
    BadBundle,
    Gatherer,
    bundle_props,
    decode_bundle,
    encode_bundle,
    run_bundle,
    split,
)
from hub.bus.amqp import AmqpBus
from hub.bus.exceptions import NotConfirmed, Rejected, Unroutable
from hub.bus.topology import DLX_EXCHANGE


def message(n: int, body: bytes | None = None, **kw: object) -> OutMessage:
    return OutMessage(
        body if body is not None else f"body {n}".encode(),
        f"m{n}",
        f"c{n}",
        {"renkei-sig": f"sig{n}", "traceparent": "00-x"},
        **kw,  # type: ignore[arg-type]
    )


def test_a_bundle_reads_back_as_its_items() -> None:
    items = [message(0), message(1, b""), message(2, bytes(range(256)) * 40)]
    items.append(OutMessage(b"{}", "m3", None, None, content_type=None))
    read = decode_bundle(encode_bundle(items))
    assert [(i.body, i.message_id, i.correlation_id) for i in read] == [
        (m.body, m.message_id, m.correlation_id) for m in items
    ]
    assert read[0].headers == {"renkei-sig": "sig0", "traceparent": "00-x"}
    assert read[0].content_type == "application/json"
    assert (read[3].headers, read[3].content_type) == ({}, None)


def test_the_most_items_read_one_more_is_refused() -> None:
    assert len(decode_bundle(encode_bundle([message(n) for n in range(MOST_ITEMS)]))) == 64
    with pytest.raises(BadBundle, match="65 items"):
        decode_bundle(encode_bundle([message(n) for n in range(MOST_ITEMS + 1)]))
    with pytest.raises(BadBundle, match="0 items"):
        decode_bundle(b"RB1" + struct.pack(">H", 0))


def test_every_cut_of_a_bundle_is_refused() -> None:
    whole = encode_bundle([message(0), message(1)])
    for end in range(len(whole)):
        with pytest.raises(BadBundle):
            decode_bundle(whole[:end])


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "not a bundle"),
        (b'{"kind":"query"}', "not a bundle"),
        (encode_bundle([message(0)]) + b"x", "1 bytes after the last item"),
        # a length that claims more than there is
        (b"RB1" + struct.pack(">HI", 1, 2**32 - 1), "properties of"),
        (b"RB1" + struct.pack(">HI", 1, 10) + b"0123456789", "cut short before a length"),
    ],
)
def test_malformed_bundles_say_what_is_wrong(data: bytes, says: str) -> None:
    with pytest.raises(BadBundle, match=says):
        decode_bundle(data)


def raw_bundle(props: object, body: bytes = b"x", *, raw_props: bytes | None = None) -> bytes:
    p = raw_props if raw_props is not None else orjson.dumps(props)
    return b"RB1" + struct.pack(">HI", 1, len(p)) + p + struct.pack(">I", len(body)) + body


GOOD = {"id": "m", "correlation_id": None, "content_type": None, "headers": {}}


@pytest.mark.parametrize(
    ("props", "says"),
    [
        ([], "not those of a message"),
        ({**GOOD, "user_id": "hub"}, "not those of a message"),  # no property beyond these
        ({k: v for k, v in GOOD.items() if k != "headers"}, "not those of a message"),
        ({**GOOD, "id": 7}, "not text"),
        ({**GOOD, "content_type": ["a"]}, "not text"),
        ({**GOOD, "headers": {"renkei-sig": 1}}, "headers are not text"),
        ({**GOOD, "headers": ["renkei-sig"]}, "headers are not text"),
        ({**GOOD, "content_type": BUNDLE_TYPE}, "says it is a bundle"),  # none nested
        ({**GOOD, "id": "x" * 256}, "over 255 bytes"),  # what AMQP could not carry
        ({**GOOD, "correlation_id": "é" * 128}, "over 255 bytes"),
        ({**GOOD, "headers": {"k" * 256: "v"}}, "over 255 bytes"),
    ],
)
def test_forged_item_properties_are_refused(props: object, says: str) -> None:
    assert len(decode_bundle(raw_bundle(GOOD))) == 1
    with pytest.raises(BadBundle, match=says):
        decode_bundle(raw_bundle(props))


def test_item_properties_not_json_or_too_long_are_refused() -> None:
    with pytest.raises(BadBundle, match="not JSON"):
        decode_bundle(raw_bundle(None, raw_props=b"{not json"))
    long = {**GOOD, "headers": {"h": "x" * MOST_PROPS}}
    with pytest.raises(BadBundle, match=f"at most {MOST_PROPS}"):
        decode_bundle(raw_bundle(long))


def test_split_keeps_the_order_and_bounds_items_and_bytes() -> None:
    many = [message(n) for n in range(150)]
    parts = split(many)
    assert [len(p) for p in parts] == [64, 64, 22]
    assert [m for p in parts for m in p] == many
    big = [message(n, b"x" * (MOST_BYTES // 3)) for n in range(5)]
    parts = split(big)
    assert [len(p) for p in parts] == [2, 2, 1]
    assert all(len(encode_bundle(p)) <= MOST_BYTES for p in parts)
    huge = message(9, b"x" * (MOST_BYTES + 1))
    assert split([message(0), huge, message(1)]) == [[message(0)], [huge], [message(1)]]


def test_a_bundle_lives_as_long_as_its_longest_item_and_is_kept_if_one_is() -> None:
    assert bundle_props([message(0, expiration_ms=5), message(1, expiration_ms=9)]) == (True, 9)
    assert bundle_props([message(0, expiration_ms=5), message(1)]) == (True, None)
    assert bundle_props([message(0, persistent=False), message(1, persistent=False)]) == (
        False,
        None,
    )
    assert bundle_props([message(0, persistent=False), message(1)])[0] is True


class Sends:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.started: list[list[str]] = []
        self.sent: list[list[str]] = []
        self.fail = fail

    async def __call__(self, items: list[OutMessage]) -> None:
        self.started.append([m.message_id for m in items])
        await asyncio.sleep(0.01)  # the confirm
        self.sent.append([m.message_id for m in items])
        if self.fail is not None:
            raise self.fail


async def test_one_turns_publishes_go_together_and_each_caller_returns_on_the_confirm() -> None:
    sends = Sends()
    g = Gatherer(sends)
    await asyncio.gather(*(g.publish(message(n)) for n in range(5)))
    assert sends.sent == [["m0", "m1", "m2", "m3", "m4"]]
    await g.publish(message(5))  # alone: alone
    assert sends.sent[-1] == ["m5"]
    first = asyncio.ensure_future(g.publish(message(6)))
    await asyncio.sleep(0.002)  # another turn, the first's confirm still awaited
    await asyncio.gather(g.publish(message(7)), first)
    assert sends.sent[-2:] == [["m6"], ["m7"]]


async def test_a_failed_publish_reaches_every_caller_of_its_turn() -> None:
    g = Gatherer(Sends(Unroutable("no queue")))
    results = await asyncio.gather(
        *(g.publish(message(n)) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, Unroutable) for r in results)


async def test_a_first_caller_cancelled_leaves_the_others_theirs() -> None:
    sends = Sends()
    g = Gatherer(sends)
    first = asyncio.ensure_future(g.publish(message(0)))
    await asyncio.sleep(0)  # the first waits its turn out
    others = asyncio.ensure_future(asyncio.gather(g.publish(message(1)), g.publish(message(2))))
    first.cancel()
    await others
    assert sends.sent == [["m0", "m1", "m2"]]
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_first_caller_cancelled_while_sending_tells_the_others_unconfirmed() -> None:
    sends = Sends()
    g = Gatherer(sends)
    first = asyncio.ensure_future(g.publish(message(0)))
    second = asyncio.ensure_future(g.publish(message(1)))
    await asyncio.sleep(0.005)  # both sent, the confirm awaited
    first.cancel()
    with pytest.raises(NotConfirmed, match="cancelled"):
        await second
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_turn_that_finds_its_keys_last_send_unconfirmed_waits_for_that_confirm() -> None:
    """Nagle's rule: what is published to a key while its last send awaits its confirm waits
    for that confirm and goes as one bundle — at moderate rates queries come one by one, and
    this is what makes bundles of them (bench/README.md, "Half the peak, paced": at 500 queries
    a second 5 % less CPU and about half the latency). A lone publish waits for nothing."""
    sends = Sends()
    g = Gatherer(sends)
    first = asyncio.ensure_future(g.publish(message(0)))
    await asyncio.sleep(0.002)  # m0 sent, its confirm awaited
    later = [asyncio.ensure_future(g.publish(message(n))) for n in (1, 2)]
    await asyncio.sleep(0.002)
    later.append(asyncio.ensure_future(g.publish(message(3))))  # a turn later still
    await asyncio.sleep(0.002)
    assert sends.started == [["m0"]]  # the others wait for m0's confirm
    await asyncio.gather(first, *later)
    assert sends.sent == [["m0"], ["m1", "m2", "m3"]]
    await g.publish(message(4))  # nothing unconfirmed: at once
    assert sends.started[-1] == ["m4"]


async def test_a_last_send_that_failed_holds_nothing_back() -> None:
    class FailsFirst(Sends):
        async def __call__(self, items: list[OutMessage]) -> None:
            first = not self.started
            self.started.append([m.message_id for m in items])
            await asyncio.sleep(0.01)  # the confirm
            self.sent.append([m.message_id for m in items])
            if first:
                raise Unroutable("no queue")

    sends = FailsFirst()
    g = Gatherer(sends)
    first = asyncio.ensure_future(g.publish(message(0)))
    await asyncio.sleep(0.002)
    second = asyncio.ensure_future(g.publish(message(1)))
    with pytest.raises(Unroutable):
        await first
    await asyncio.wait_for(second, 1)
    assert sends.sent == [["m0"], ["m1"]]


async def test_a_failed_send_reaches_its_own_callers_only() -> None:
    sent: list[list[str]] = []

    async def fail_the_second(items: list[OutMessage]) -> None:
        await asyncio.sleep(0.01)
        sent.append([m.message_id for m in items])
        if len(sent) == 2:
            raise Unroutable("no queue")

    g = Gatherer(fail_the_second)
    first = asyncio.ensure_future(g.publish(message(0)))
    await asyncio.sleep(0.002)
    second = [asyncio.ensure_future(g.publish(message(n))) for n in (1, 2)]
    await first
    results = await asyncio.gather(*second, return_exceptions=True)
    assert [type(r) for r in results] == [Unroutable, Unroutable]
    await g.publish(message(3))
    assert sent == [["m0"], ["m1", "m2"], ["m3"]]


async def test_a_turn_cut_in_two_tells_each_caller_its_own_bundles_outcome() -> None:
    """More than :data:`MOST_ITEMS` to one key in a turn go as two bundles; the broker takes
    the first and refuses the second (a queue that became full: ``Rejected``, "a full queue
    took nothing"). A caller whose message went in the first was taken: told ``Rejected``,
    an office's ``ask`` sends its query again under a new id (hub/node/runtime.py), and the
    hub gets it twice."""
    bus = AmqpBus(None, "a", "renkei.dlx", 1.0, 1.0)
    bus.bundles = True
    taken: list[int] = []

    async def send(_x: str, _k: str, body: bytes, _p: object, _m: bool) -> None:
        if taken:
            raise Rejected.publish("renkei.hub", "query")
        taken.append(len(decode_bundle(body)))

    bus._send = send  # type: ignore[method-assign]
    results = await asyncio.gather(
        *(bus.publish("renkei.hub", "query", message(n)) for n in range(MOST_ITEMS + 2)),
        return_exceptions=True,
    )
    assert taken == [MOST_ITEMS]
    assert [r is None for r in results] == [True] * MOST_ITEMS + [False] * 2


class FakeBundle:
    """A delivered bundle, as ``run_bundle`` reads and settles it, on a bus whose publishes to
    the dead letters fail (renkei.dead full: ``Rejected``)."""

    def __init__(self, items: list[OutMessage], delivery_count: int) -> None:
        self.body = encode_bundle(items)
        self.delivery_count = delivery_count
        self.settled_as: list[str] = []
        self.bus = self
        self.delivery_limit = 5
        self.dead_letter_exchange = "renkei.dlx"
        self.queue, self.routing_key, self.user_id, self.death = "hub.requests", "q", "a", None
        self.message_id = "b1"
        self.redelivered = delivery_count > 0

    async def publish(self, *_args: object) -> None:
        raise Rejected.publish("renkei.dlx", "q")

    async def ack(self) -> None:
        self.settled_as.append("ack")

    async def nack(self, *, requeue: bool = True) -> None:
        self.settled_as.append("requeue" if requeue else "reject")


async def test_an_item_that_cannot_be_settled_returns_its_bundle(
    monkeypatch: pytest.MonkeyPatch, settles: Callable[[], dict[str, float]]
) -> None:
    """On the bundle's last delivery an item that fails is dead-lettered alone; when that
    publish fails too, the bundle goes back to the broker (whose own limit then dead-letters
    it whole) — never left in hand unsettled, holding a place of the prefetch window and its
    items until the channel closes. Both items count as going back (before the count was per
    item: one ack, and nothing for the item left unsettled)."""
    monkeypatch.setattr("hub.bus._common.retry_pause", lambda _count: 0.0)
    bundle = FakeBundle([message(0), message(1)], delivery_count=5)

    async def fail_m1(d: Delivery) -> None:
        await (d.ack() if d.message_id == "m0" else d.nack(requeue=True))

    await run_bundle(bundle, fail_m1, None, asyncio.Semaphore(10))  # type: ignore[arg-type]
    assert bundle.settled_as == ["requeue"]
    assert settles() == {"requeue": 2}


async def test_an_item_whose_handler_failed_is_never_acked_with_its_bundle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("hub.bus._common.retry_pause", lambda _count: 0.0)
    bundle = FakeBundle([message(0), message(1)], delivery_count=5)

    async def refuse_m1(d: Delivery) -> None:
        await (d.ack() if d.message_id == "m0" else d.dead_letter("malformed"))

    await run_bundle(bundle, refuse_m1, None, asyncio.Semaphore(10))  # type: ignore[arg-type]
    assert bundle.settled_as == ["requeue"]


async def test_the_items_of_a_bundle_that_goes_back_are_counted_as_going_back(
    monkeypatch: pytest.MonkeyPatch, settles: Callable[[], dict[str, float]]
) -> None:
    """One item asks for requeue: the bundle goes back whole, so every item comes back and
    each counts one requeue — not an ack for those whose handler acked (before: two acks
    and a requeue, and the redelivery's three acks made five for three messages)."""
    monkeypatch.setattr("hub.bus._common.retry_pause", lambda _count: 0.0)
    bundle = FakeBundle([message(0), message(1), message(2)], delivery_count=0)

    async def fail_m1(d: Delivery) -> None:
        await (d.nack(requeue=True) if d.message_id == "m1" else d.ack())

    await run_bundle(bundle, fail_m1, None, asyncio.Semaphore(10))  # type: ignore[arg-type]
    assert bundle.settled_as == ["requeue"]
    assert settles() == {"requeue": 3}


async def test_a_cancelled_first_callers_failed_flush_is_heard_not_logged_by_the_loop() -> None:
    loop = asyncio.get_running_loop()
    unheard: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: unheard.append(context))
    try:
        g = Gatherer(Sends(Unroutable("no queue")))
        first = asyncio.ensure_future(g.publish(message(0)))
        await asyncio.sleep(0)  # the first waits its turn out
        other = asyncio.ensure_future(g.publish(message(1)))
        first.cancel()
        with pytest.raises(Unroutable):
            await other
        await asyncio.sleep(0.02)
        gc.collect()  # a task's unheard exception is reported when it is collected
        await asyncio.sleep(0)
        assert unheard == []
    finally:
        loop.set_exception_handler(None)


async def test_a_publish_behind_a_send_waiting_for_the_channel_waits_ready_timeout_once() -> None:
    """The channel lost: a send waits for it ``ready_timeout`` at most (then NotConfirmed). A
    publish to the same key meanwhile waits for the channel on its own deadline, not for that
    send's time-out and then its own (twice ``ready_timeout``: 0.61 s here, with the hold)."""
    bus = AmqpBus(object(), "hub", DLX_EXCHANGE, 1.0, 0.3)  # no channel yet: _raw is None
    bus.bundles = True
    loop = asyncio.get_running_loop()
    began = loop.time()
    first = asyncio.ensure_future(bus.publish(OFFICES_EXCHANGE, office_in("b"), message(0)))
    await asyncio.sleep(0.05)
    second = asyncio.ensure_future(bus.publish(OFFICES_EXCHANGE, office_in("b"), message(1)))
    with pytest.raises(NotConfirmed):
        await first
    with pytest.raises(NotConfirmed):
        await second
    assert loop.time() - began < 0.3 + 0.05 + 0.1
