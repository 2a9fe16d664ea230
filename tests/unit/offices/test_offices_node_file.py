"""``OfficeNode.file``: an application whose answer is a time-out is sent again — the same
signed document, a new query id and deadline each time — after a pause, until the answer is
known (a receipt, a refusal) or the sends run out. A fake clock (the node's ``sleep`` moves it),
on the in-process broker with the real topology; the test plays the hub."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from hub.bus import (
    HUB_REQUESTS,
    OFFICES_EXCHANGE,
    Delivery,
    InMemoryBroker,
    InMemoryBus,
    NotConfirmed,
    network_topology,
    office_replies,
    signed_message,
)
from hub.node import OfficeNode
from hub.node.backoff import Backoff
from hub.wire import (
    Answered,
    OfficeKeys,
    Outcome,
    Query,
    Refused,
    Reply,
    TimedOut,
    decode,
    open_sealed,
    seal,
)

PORTAL, NTA = "myna-portal", "nta"
HUB_KEYS = OfficeKeys.from_seed(bytes(range(64)))
PORTAL_KEYS = OfficeKeys.from_seed(bytes(range(64, 128)))
NTA_KEYS = OfficeKeys.from_seed(bytes(range(128, 192)))
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
PERSON = "tok-person-" + "p" * 33
SIGNED = b"a signed tax return (CMS)"
LATE = TimedOut(reason="the provider did not answer before the deadline")
RESEND = Backoff(first=1.0, factor=2.0, most=30.0, attempts=4)


@dataclass
class Net:
    node: OfficeNode
    hub: InMemoryBus
    now: list[dt.datetime]
    answers: list[Outcome]  # the hub's, in turn (the last repeats)
    pauses: list[float] = field(default_factory=list)
    queries: list[Query] = field(default_factory=list)


@pytest.fixture
async def net() -> AsyncIterator[Net]:
    broker = InMemoryBroker(network_topology([PORTAL, NTA]))
    bus, hub = broker.connect(PORTAL), broker.connect("hub")
    now = [T0]
    node = OfficeNode(
        code=PORTAL,
        bus=bus,
        keys=PORTAL_KEYS,
        hub=HUB_KEYS.public,
        peers={NTA: NTA_KEYS.public},
        clock=lambda: now[0],
        draw=lambda: 0.5,
    )
    made = Net(node, hub, now, [LATE])

    async def sleep(seconds: float) -> None:
        made.pauses.append(seconds)
        now[0] += dt.timedelta(seconds=seconds)

    node.sleep = sleep

    async def handle(d: Delivery) -> None:  # the hub: the next answer, in turn
        await d.ack()
        query = decode(d.body)
        assert isinstance(query, Query)
        made.queries.append(query)
        outcome = made.answers[min(len(made.queries), len(made.answers)) - 1]
        env = query.envelope.model_copy(update={"message_id": uuid.uuid4(), "sender": "hub"})
        reply = Reply(envelope=env, outcome=outcome, record_id=uuid.uuid4())
        await hub.publish(
            OFFICES_EXCHANGE, office_replies(PORTAL), signed_message(reply, HUB_KEYS.signing)
        )

    await hub.consume(HUB_REQUESTS, handle)
    await node.start()
    yield made
    await node.stop()
    for b in (bus, hub):
        await b.close()


def receipt() -> Answered:
    return Answered(payload=seal(orjson.dumps({"receipt": "nta-1"}), PORTAL_KEYS.public.seal))


async def test_a_timed_out_application_is_sent_again_until_its_receipt(net: Net) -> None:
    net.answers = [LATE, LATE, receipt()]
    answer = await net.node.file(NTA, "tax_return", PERSON, SIGNED, resend=RESEND)
    assert answer.status == "ok" and answer.data == {"receipt": "nta-1"}
    first, second, third = (q.envelope.correlation_id for q in net.queries)
    assert answer.query_id == third and answer.earlier == (first, second)
    assert len({first, second, third}) == 3  # a query id, a deadline and a record of its own
    assert net.pauses == [0.5, 1.0]  # 1 s, then 2 s, jittered (the draw: 0.5)
    # the very document, each time (sealed afresh for the office)
    assert {open_sealed(q.document, NTA_KEYS.sealing) for q in net.queries if q.document} == {
        SIGNED
    }
    assert all(q.items == ("tax_return",) and q.envelope.recipient == NTA for q in net.queries)


async def test_a_refusal_is_an_answer_not_sent_again(net: Net) -> None:
    net.answers = [LATE, Refused(code="nta.application_duplicate", reason="another document")]
    answer = await net.node.file(NTA, "tax_return", PERSON, SIGNED, resend=RESEND)
    assert answer.status == "refused" and len(net.queries) == 2


async def test_the_sends_run_out_still_timed_out(net: Net) -> None:
    answer = await net.node.file(NTA, "tax_return", PERSON, SIGNED, resend=RESEND)
    assert answer.status == "timed_out" and len(net.queries) == RESEND.attempts
    assert len(answer.earlier) == RESEND.attempts - 1


async def test_resumed_after_a_restart_it_counts_the_sends_made(net: Net) -> None:
    before = (uuid.uuid4(), uuid.uuid4())
    net.answers = [receipt()]
    answer = await net.node.file(NTA, "tax_return", PERSON, SIGNED, sent=before, resend=RESEND)
    assert answer.status == "ok" and answer.earlier == before
    assert net.pauses == [1.0]  # the pause after the second send: 2 s, jittered


async def test_a_first_answer_is_taken_at_once(net: Net) -> None:
    net.answers = [receipt()]
    answer = await net.node.file(NTA, "tax_return", PERSON, SIGNED)
    assert answer.status == "ok" and answer.earlier == () and net.pauses == []


async def test_after_a_time_out_the_hubs_refusal_is_not_the_offices_word(net: Net) -> None:
    """The token service down on the second send (the hub refuses it before the office): the
    first send may be filed all the same, so it is sent again."""
    down = Refused(code="hub.token_service_unavailable", reason="the token service is down")
    net.answers = [LATE, down, receipt()]
    answer = await net.node.file(NTA, "tax_return", PERSON, SIGNED, resend=RESEND)
    assert answer.status == "ok" and len(answer.earlier) == 2


async def test_the_hubs_refusal_of_a_first_send_is_its_answer(net: Net) -> None:
    net.answers = [Refused(code="hub.token_service_unavailable", reason="down"), receipt()]
    answer = await net.node.file(NTA, "tax_return", PERSON, SIGNED, resend=RESEND)
    assert answer.status == "refused" and len(net.queries) == 1


async def test_a_resend_the_broker_did_not_confirm_is_tried_again(net: Net) -> None:
    """The broker down after the first send: no answer is known yet, so it goes on."""
    net.answers = [LATE, receipt()]
    publish, calls = net.node.bus.publish, [0]

    async def flaky(*args: Any, **kw: Any) -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise NotConfirmed("the broker's connection dropped")
        await publish(*args, **kw)

    net.node.bus.publish = flaky  # type: ignore[method-assign]
    answer = await net.node.file(NTA, "tax_return", PERSON, SIGNED, resend=RESEND)
    assert answer.status == "ok" and len(answer.earlier) == 1 and len(net.queries) == 2
    assert net.pauses == [0.5, 1.0]


async def test_the_first_send_not_confirmed_is_raised(net: Net) -> None:
    async def down(*args: Any, **kw: Any) -> None:
        raise NotConfirmed("no broker")

    net.node.bus.publish = down  # type: ignore[method-assign]
    with pytest.raises(NotConfirmed):
        await net.node.file(NTA, "tax_return", PERSON, SIGNED, resend=RESEND)
