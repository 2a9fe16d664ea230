"""The dead-letter queue's look and replay on the in-process broker: what the broker
dead-lettered is replayed as its sender to where it came from, once; a service's copy, a
message sent straight to renkei.dlx, a forged death and a sender writing where it may not
are refused and stay; only the replayer may publish as someone else."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from hub.bus import (
    DEAD_QUEUE,
    DLX_EXCHANGE,
    HUB_EXCHANGE,
    HUB_REQUESTS,
    OFFICES_EXCHANGE,
    AccessRefused,
    Bundled,
    Death,
    Delivery,
    InMemoryBroker,
    OutMessage,
    Rejected,
    network_topology,
    office_in,
)
from monitor.deadletters import DeadLetters, why_not
from monitor.exceptions import NoDeadLetter, NotReplayable, ReplayFailed

TOPOLOGY = network_topology(["a", "b"], delivery_limit=1)
T = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def broker() -> InMemoryBroker:
    return InMemoryBroker(TOPOLOGY)


async def _fail_every_time(broker: InMemoryBroker, queue: str, identity: str) -> None:
    """``identity`` takes ``queue``'s messages and fails on each until the broker gives up."""
    bus = broker.connect(identity)

    async def fail(d: Delivery) -> None:
        await d.nack(requeue=True)

    sub = await bus.consume(queue, fail)
    for _ in range(50):
        if not broker.depth(queue) and not broker.unacked(queue):
            break
        await asyncio.sleep(0.01)
    await sub.cancel()


async def _dead_query(broker: InMemoryBroker, message_id: str = "q-1") -> None:
    """Office a's query, which the hub failed on past the delivery limit."""
    msg = OutMessage(b'{"q": 1}', message_id, message_id, headers={"renkei-sig": "s"})
    await broker.connect("a").publish(HUB_EXCHANGE, "query", msg)
    await _fail_every_time(broker, HUB_REQUESTS, "hub")
    assert broker.depth(DEAD_QUEUE) >= 1


def dead_letters(broker: InMemoryBroker) -> DeadLetters:
    return DeadLetters(broker.connect("replayer"), TOPOLOGY, quiet=0.05)


async def test_a_look_describes_and_leaves_every_message(broker: InMemoryBroker) -> None:
    await _dead_query(broker)
    dl = dead_letters(broker)
    (seen,) = await dl.look()
    assert (seen.message_id, seen.reason, seen.queue) == ("q-1", "delivery_limit", HUB_REQUESTS)
    assert (seen.exchange, seen.routing_key, seen.user_id) == (HUB_EXCHANGE, "query", "a")
    assert (seen.by_broker, seen.count, seen.size, seen.replayable) == (True, 1, 8, True)
    assert seen.at is not None and seen.at.tzinfo is not None
    assert broker.depth(DEAD_QUEUE) == 1
    assert [d.message_id for d in await dl.look()] == ["q-1"]  # twice: still there


async def test_a_replay_goes_back_as_its_sender_once(broker: InMemoryBroker) -> None:
    await _dead_query(broker)
    got: list[Delivery] = []

    async def take(d: Delivery) -> None:
        got.append(d)
        await d.ack()

    await broker.connect("hub").consume(HUB_REQUESTS, take)
    dl = dead_letters(broker)
    replayed = await dl.replay("q-1")
    assert replayed.user_id == "a"
    await asyncio.sleep(0.01)
    (again,) = got
    assert (again.user_id, again.routing_key, again.body) == ("a", "query", b'{"q": 1}')
    assert (again.message_id, again.correlation_id) == ("q-1", "q-1")
    assert again.headers == {"renkei-sig": "s"}  # the dead-letter headers are not carried
    assert again.death is None
    assert broker.depth(DEAD_QUEUE) == 0
    with pytest.raises(NoDeadLetter):
        await dl.replay("q-1")  # a second replay finds nothing
    assert len(got) == 1


async def test_a_forwarded_query_goes_back_as_the_hub(broker: InMemoryBroker) -> None:
    out = OutMessage(b"{}", "f-1", expiration_ms=1)
    await broker.connect("hub").publish(OFFICES_EXCHANGE, office_in("b"), out)
    await asyncio.sleep(0.05)  # expired in office b's queue (b is down)
    dl = dead_letters(broker)
    (seen,) = await dl.look()
    assert (seen.reason, seen.queue, seen.user_id, seen.exchange) == (
        "expired",
        office_in("b"),
        "hub",
        OFFICES_EXCHANGE,
    )
    await dl.replay("f-1")
    assert broker.depth(office_in("b")) == 1


async def test_a_service_s_copy_is_not_replayed(broker: InMemoryBroker) -> None:
    """The hub's own dead_letter() of office a's message: user_id is the hub's, the sender
    only the hub's word in a header; replaying it as the hub would speak for office a."""
    await broker.connect("a").publish(HUB_EXCHANGE, "query", OutMessage(b"bad", "m-bad"))

    async def refuse(d: Delivery) -> None:
        await d.dead_letter("wire.malformed")

    await broker.connect("hub").consume(HUB_REQUESTS, refuse)
    await asyncio.sleep(0.01)
    dl = dead_letters(broker)
    (seen,) = await dl.look()
    assert (seen.by_broker, seen.user_id, seen.claimed_sender) == (False, "hub", "a")
    assert (seen.reason, seen.queue) == ("wire.malformed", HUB_REQUESTS)
    assert seen.refusal is not None and "not dead-lettered by the broker" in seen.refusal
    with pytest.raises(NotReplayable):
        await dl.replay("m-bad")
    assert broker.depth(DEAD_QUEUE) == 1  # it stays


async def test_a_message_sent_straight_to_the_dlx_is_not_replayed(broker: InMemoryBroker) -> None:
    forged = OutMessage(b"{}", "m-dlx", headers={"renkei-reason": "expired", "renkei-user-id": "b"})
    await broker.connect("a").publish(DLX_EXCHANGE, office_in("b"), forged)
    dl = dead_letters(broker)
    (seen,) = await dl.look()
    # what it says of itself is its word, shown as such beside the vouched user_id
    assert (seen.user_id, seen.by_broker, seen.claimed_sender) == ("a", False, "b")
    with pytest.raises(NotReplayable):
        await dl.replay("m-dlx")


@dataclass
class Forged:
    """A delivery from renkei.dead as a raw AMQP client could make one: an office may put
    any x-death on what it publishes to renkei.dlx; the broker vouches for user_id only."""

    user_id: str | None
    death: Death | None
    message_id: str = "m"
    body: bytes = b"{}"
    headers: Mapping[str, str] = field(default_factory=dict)
    routing_key: str = ""


@pytest.mark.parametrize(
    ("user", "exchange", "keys", "why"),
    [
        ("a", OFFICES_EXCHANGE, (office_in("b"),), "may not write"),  # to b, as the hub would
        ("a", "renkei.token", ("token.requests",), "not one a replay may use"),
        ("a", DLX_EXCHANGE, ("x",), "not one a replay may use"),
        ("a", "", (HUB_REQUESTS,), "not one a replay may use"),  # the default exchange
        ("hub", HUB_EXCHANGE, ("query",), "may not write"),  # the hub does not ask
        ("monitor", HUB_EXCHANGE, ("query",), "may not write"),
        ("stranger", HUB_EXCHANGE, ("query",), "no identity of the network"),
        (None, HUB_EXCHANGE, ("query",), "no broker-vouched sender"),
        ("a", HUB_EXCHANGE, ("query", "reply"), "keys, not one"),
    ],
)
def test_forged_deaths_are_refused(
    user: str | None, exchange: str, keys: tuple[str, ...], why: str
) -> None:
    death = Death(HUB_REQUESTS, "expired", exchange, keys, 1, T)
    refusal = why_not(Forged(user, death), TOPOLOGY)  # type: ignore[arg-type]
    assert refusal is not None and why in refusal


def test_what_a_forged_death_can_get_is_what_its_sender_could_send() -> None:
    death = Death(HUB_REQUESTS, "expired", HUB_EXCHANGE, ("query",), 1, T)
    assert why_not(Forged("a", death), TOPOLOGY) is None  # type: ignore[arg-type]


async def test_only_the_replayer_may_publish_as_someone_else(broker: InMemoryBroker) -> None:
    for identity in ("a", "hub", "monitor", "token"):
        with pytest.raises(AccessRefused):
            await broker.connect(identity).publish(
                HUB_EXCHANGE, "query", OutMessage(b"{}", "m"), as_user="b"
            )
    await broker.connect("a").publish(HUB_EXCHANGE, "query", OutMessage(b"{}", "m"), as_user="a")
    with pytest.raises(AccessRefused):  # nor may it write anywhere but the network's exchanges
        await broker.connect("replayer").publish(
            DLX_EXCHANGE, "x", OutMessage(b"{}", "m"), as_user="a"
        )


@pytest.mark.parametrize("message_id", ["", "x" * 256, "a\x00b", "q-2"])
async def test_bad_or_unknown_ids(broker: InMemoryBroker, message_id: str) -> None:
    await _dead_query(broker)
    with pytest.raises(NoDeadLetter):
        await dead_letters(broker).replay(message_id)
    assert broker.depth(DEAD_QUEUE) == 1


async def test_a_look_is_bounded(broker: InMemoryBroker) -> None:
    for n in range(5):
        await _dead_query(broker, f"q-{n}")
    dl = DeadLetters(broker.connect("replayer"), TOPOLOGY, quiet=0.05, scan=3)
    assert len(await dl.look(limit=10)) == 3
    assert len(await dl.look(limit=2)) == 2
    assert broker.depth(DEAD_QUEUE) == 5


@pytest.mark.parametrize("size", ["²", "9" * 1000, "-1", "", "1e9", "\x00"])
async def test_a_claimed_size_never_breaks_a_look(broker: InMemoryBroker, size: str) -> None:
    """What an office sends straight to renkei.dlx keeps the headers it set (no death): a
    size that is no size is not believed, and the look goes on."""
    claimed = OutMessage(b"{}", "m-size", headers={"renkei-body-size": size})
    await broker.connect("a").publish(DLX_EXCHANGE, "query", claimed)
    (seen,) = await dead_letters(broker).look()
    assert seen.size == 2


_EXPIRED = Death(office_in("a"), "expired", OFFICES_EXCHANGE, (office_in("a"),), 1, T)


@dataclass
class _Item:
    """An item of a bundle the broker dead-lettered, as the bus hands it to the replayer."""

    message_id: str
    bundled: Bundled
    body: bytes = b"{}"
    correlation_id: str | None = None
    content_type: str | None = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    user_id: str | None = "hub"
    death: Death | None = _EXPIRED
    routing_key: str = office_in("a")
    queue: str = DEAD_QUEUE
    settled: str = ""

    async def ack(self) -> None:
        self.settled = self.settled or "ack"

    async def nack(self, *, requeue: bool = True) -> None:
        self.settled = self.settled or ("requeue" if requeue else "reject")


class _SplitBus:
    """The replayer's bus over one dead bundle of three, whose second item's publish the
    broker refuses (a replay cut into several bundles: one taken, another not)."""

    def __init__(self) -> None:
        bundle = Bundled("b-1", 3)
        self.items = [_Item(f"m{n}", bundle) for n in range(3)]
        self.sent: list[str] = []

    async def consume(self, _queue: str, handler: Any, *, prefetch: int = 100) -> Any:
        tasks = [asyncio.create_task(handler(d)) for d in self.items]

        class Sub:
            async def cancel(self) -> None:
                await asyncio.gather(*tasks)

        return Sub()

    async def publish(self, _x: str, _k: str, m: OutMessage, **_kw: object) -> None:
        await asyncio.sleep(0)
        if m.message_id == "m1":
            raise Rejected.publish(_x, _k)
        self.sent.append(m.message_id)


async def test_a_bundle_whose_replay_is_refused_in_part_stays_whole() -> None:
    """What the broker took goes once more with the next replay (each receiver takes a
    message once by its id); nothing of the bundle is acked, so nothing is lost."""
    bus = _SplitBus()
    dl = DeadLetters(bus, TOPOLOGY, quiet=0.05)  # type: ignore[arg-type]
    with pytest.raises(ReplayFailed):
        await dl.replay("m2")
    assert sorted(bus.sent) == ["m0", "m2"]
    assert [d.settled for d in bus.items] == ["requeue"] * 3
