"""``OfficeNode.ask`` sends again what the hub refused with a retry-after (its quota) or the
broker rejected (a full queue), with exponential back-off and jitter, within the query's
deadline; then it gives up with a clear answer. A fake clock: the node's ``sleep`` moves it
(nothing waits), on the in-process broker with the real topology (a tiny inbox bound)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from hub.bus import (
    HUB_EXCHANGE,
    HUB_REQUESTS,
    OFFICES_EXCHANGE,
    Delivery,
    InMemoryBroker,
    InMemoryBus,
    OutMessage,
    network_topology,
    office_replies,
    signed_message,
)
from hub.node import OfficeNode
from hub.node.backoff import Backoff, until_done
from hub.wire import Envelope, NotFound, OfficeKeys, Query, Refused, Reply, decode

OFFICE = "chiyoda-child"
HUB_KEYS = OfficeKeys.from_seed(bytes(range(64)))
OFFICE_KEYS = OfficeKeys.from_seed(bytes(range(64, 128)))
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
PERSON = "tok-person-" + "p" * 33
QUOTA = "routing.quota_exceeded"


@dataclass
class Net:
    broker: InMemoryBroker
    node: OfficeNode
    hub: InMemoryBus
    other: InMemoryBus
    now: list[dt.datetime]
    pauses: list[float] = field(default_factory=list)
    queries: list[Query] = field(default_factory=list)
    on_pause: Callable[[], Awaitable[None]] | None = None
    answers: list[Refused | NotFound] = field(default_factory=list)  # the hub's, in turn


@pytest.fixture
async def net() -> AsyncIterator[Net]:
    broker = InMemoryBroker(network_topology([OFFICE, "chiyoda-tax"], inbox_max_length=1))
    bus, hub, other = broker.connect(OFFICE), broker.connect("hub"), broker.connect("chiyoda-tax")
    now = [T0]
    node = OfficeNode(
        code=OFFICE,
        bus=bus,
        keys=OFFICE_KEYS,
        hub=HUB_KEYS.public,
        clock=lambda: now[0],
        draw=lambda: 0.5,
    )
    net = Net(broker, node, hub, other, now)

    async def sleep(seconds: float) -> None:
        net.pauses.append(seconds)
        now[0] += dt.timedelta(seconds=seconds)
        if net.on_pause is not None:
            await net.on_pause()

    node.sleep = sleep
    await node.start()
    yield net
    await node.stop()
    for b in (bus, hub, other):
        await b.close()


async def serve(net: Net) -> None:
    """Play the hub: answer each query with the next of ``net.answers`` (the last repeats)."""

    async def handle(d: Delivery) -> None:
        await d.ack()
        query = decode(d.body)
        if not isinstance(query, Query):
            return
        net.queries.append(query)
        outcome = net.answers[min(len(net.queries), len(net.answers)) - 1]
        env = query.envelope
        reply = Reply(
            envelope=Envelope(
                message_id=uuid.uuid4(),
                correlation_id=env.correlation_id,
                sender="hub",
                recipient=OFFICE,
                affair=env.affair,
                issued_at=net.now[0],
                deadline=env.deadline,
                traceparent=env.traceparent,
            ),
            outcome=outcome,
        )
        out = signed_message(reply, HUB_KEYS.signing)
        await net.hub.publish(OFFICES_EXCHANGE, office_replies(OFFICE), out)

    await net.hub.consume(HUB_REQUESTS, handle)


def over(after: float) -> Refused:
    return Refused(code=QUOTA, reason="over quota", retry_after=after)


async def ask(net: Net) -> object:
    return await net.node.ask("child_allowance", "chiyoda-tax", ("local_tax",), PERSON)


# ---- the back-off alone ---------------------------------------------------------------------------


def test_backoff_grows_caps_and_keeps_the_floor() -> None:
    b = Backoff(first=0.1, factor=2, most=1.0)
    assert [b.pause(n, 0.0, 1.0) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert b.pause(0, 2.0, 0.0) == 2.0  # never before the hub's retry-after
    assert b.pause(3, 2.0, 0.5) == 2.4  # jitter on top of it
    assert b.pause(10_000, 0.0, 0.5) == 0.5  # no overflow for a huge attempt count
    assert b.pause(0, -5.0, 2.0) == 0.1  # a bad floor or draw is clamped


@pytest.mark.parametrize(
    "bad",
    [
        {"first": 0},
        {"factor": 0.5},
        {"most": 0.01},
        {"attempts": 0},
    ],
)
def test_a_bad_backoff_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="back-off"):
        Backoff(**bad)  # type: ignore[arg-type]


# ---- a quota's refusal -----------------------------------------------------------------------------


async def test_a_quota_refusal_is_sent_again_after_its_retry_after(net: Net) -> None:
    net.answers = [over(0.5), over(1.5), NotFound(reason="no such person")]
    await serve(net)
    answer = await ask(net)
    assert answer.status == "not_found" and answer.attempts == 3  # type: ignore[attr-defined]
    # jitter on top of the retry-after: cap 0.05 then 0.1, drawn at 0.5
    assert net.pauses == [0.525, 1.55]
    ids = {q.envelope.message_id for q in net.queries}
    assert len(ids) == 3  # a new query id each time (the hub refuses a replayed one)
    assert len({q.envelope.deadline for q in net.queries}) == 1  # the first one's deadline
    assert net.queries[0].envelope.deadline == T0 + net.node.deadline


async def test_it_gives_up_when_the_deadline_comes_first(net: Net) -> None:
    net.answers = [over(4.0)]
    await serve(net)
    answer = await ask(net)  # deadline 10 s: sends at 0, ~4, ~8; the next would be past it
    assert answer.status == "refused" and answer.code == QUOTA  # type: ignore[attr-defined]
    assert answer.attempts == 3  # type: ignore[attr-defined]
    assert "sent 3 times; no time left before the deadline" in answer.reason  # type: ignore[attr-defined]
    assert net.now[0] < T0 + net.node.deadline


async def test_any_other_refusal_is_not_retried(net: Net) -> None:
    net.answers = [Refused(code="routing.no_row", reason="no row")]
    await serve(net)
    answer = await ask(net)
    assert answer.code == "routing.no_row" and answer.attempts == 1  # type: ignore[attr-defined]
    assert net.pauses == []


# ---- the broker's nack (a full queue) --------------------------------------------------------------


async def fill_the_inbox(net: Net) -> None:
    """Another office's messages fill hub.requests (bound 1; a quorum queue refuses once it is
    over its bound): every publish is nacked."""
    for n in range(2):
        await net.other.publish(HUB_EXCHANGE, "query", OutMessage(b"{}", message_id=f"fill-{n}"))


async def test_a_rejected_send_backs_off_then_goes_through(net: Net) -> None:
    await fill_the_inbox(net)
    net.answers = [NotFound(reason="no such person")]

    async def drain_on_third_pause() -> None:
        if len(net.pauses) == 3:
            await serve(net)  # the hub comes back: the filler is taken, the queue has room
            await asyncio.sleep(0)

    net.on_pause = drain_on_third_pause
    answer = await ask(net)
    assert answer.status == "not_found" and answer.attempts == 4  # type: ignore[attr-defined]
    assert net.pauses == [0.025, 0.05, 0.1]  # exponential: no retry-after from a nack
    assert len(net.queries) == 1  # only the accepted send reached the hub


async def test_always_rejected_gives_up_with_back_pressure(net: Net) -> None:
    await fill_the_inbox(net)
    answer = await ask(net)
    assert answer.status == "error" and answer.code == "office.back_pressure"  # type: ignore[attr-defined]
    assert "refused the query every time (back-pressure)" in answer.reason  # type: ignore[attr-defined]
    assert sum(net.pauses) < net.node.deadline.total_seconds()
    assert net.pauses[-1] == 2.5  # capped at 5 s, drawn at 0.5


async def test_the_attempts_are_bounded_too(net: Net) -> None:
    await fill_the_inbox(net)
    net.node.backoff = Backoff(first=0.001, most=0.001, attempts=4)
    answer = await ask(net)
    assert answer.code == "office.back_pressure" and answer.attempts == 4  # type: ignore[attr-defined]
    assert len(net.pauses) == 3


async def test_until_done_tries_a_step_again_after_pauses_that_double_to_the_most() -> None:
    calls, said = 0, []

    async def thrice_failing() -> str:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise OSError(f"failure {calls}")
        return "done"

    def failed(exc: Exception, pause: float) -> None:
        said.append((str(exc), pause))

    assert await until_done(thrice_failing, failed, Backoff(first=0.001, most=0.003)) == "done"
    assert said == [("failure 1", 0.001), ("failure 2", 0.002), ("failure 3", 0.003)]
