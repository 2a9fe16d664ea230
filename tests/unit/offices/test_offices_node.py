"""OfficeNode on the in-process bus: it answers the hub, only the hub, and asks through it.

The test plays the hub (and an impostor, and the monitor reading ``renkei.dead``) on one
``InMemoryBroker`` built from the real network topology; the node under test is chiyoda-tax.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import pytest

from hub.bus import (
    DEAD_QUEUE,
    HUB_REPLIES,
    HUB_REQUESTS,
    OFFICES_EXCHANGE,
    QUEUE_HEADER,
    REASON_HEADER,
    USER_HEADER,
    Delivery,
    InMemoryBroker,
    InMemoryBus,
    OutMessage,
    network_topology,
)
from hub.node import OFFICE_TIMED_OUT, EnrollmentRefused, NoRecord, NotIdentified, OfficeNode, Roles
from hub.node.runtime import _expire, _within
from hub.wire import (
    JLIS_PKI,
    SIGNATURE_HEADER,
    Answered,
    Envelope,
    Failed,
    ForwardedQuery,
    NotFound,
    OfficeKeys,
    ProviderReply,
    Query,
    Refused,
    Reply,
    SealError,
    TimedOut,
    decode,
    encode,
    open_sealed,
    seal,
    sign,
    verify,
)

OFFICE, REQUESTER = "chiyoda-tax", "chiyoda-child"
HUB_KEYS = OfficeKeys.from_seed(bytes(range(64)))
OFFICE_KEYS = OfficeKeys.from_seed(bytes(range(64, 128)))
REQUESTER_KEYS = OfficeKeys.from_seed(bytes(range(128, 192)))
STRANGER_KEYS = OfficeKeys.from_seed(bytes(range(192, 256)))
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CONTEXT = "c2VhbGVkLWNvbnRleHQ"  # opaque to the office: echoed unchanged

KNOWN = "tok-known-" + "k" * 34
MISSING = "tok-missing-" + "m" * 32
NO_YEAR = "tok-noyear-" + "n" * 33
BROKEN = "tok-broken-" + "b" * 33
ODD = "tok-odd-" + "o" * 36
ANSWER = {"local_tax": {"fiscal_year": 2025, "total_income": 5_800_000}}


class TaxOffice:
    """A provider whose behaviour depends on the person asked about."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, tuple[str, ...], dict[str, str | int]]] = []

    async def answer(
        self, person: str, items: tuple[str, ...], params: Mapping[str, str | int]
    ) -> Mapping[str, Any] | None:
        self.asked.append((person, items, dict(params)))
        if person == NO_YEAR:
            raise NoRecord("no assessment for fiscal year 2031 (held: 2024, 2025)")
        if person == BROKEN:
            raise ConnectionResetError("the tax mainframe hung up")
        if person == ODD:
            return {"local_tax": {"total_income": Decimal("5800000")}}  # not JSON
        return ANSWER if person == KNOWN else None


@dataclass
class Net:
    broker: InMemoryBroker
    node: OfficeNode
    provider: TaxOffice
    hub: InMemoryBus
    other: InMemoryBus  # not the hub
    replies: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue)
    requests: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue)
    dead: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
async def net() -> AsyncIterator[Net]:
    broker = InMemoryBroker(network_topology([OFFICE, REQUESTER]))
    office, hub = broker.connect(OFFICE), broker.connect("hub")
    # the replayer may write renkei.offices (a dead letter sent back as its sender): as itself,
    # it is someone other than the hub whose message reaches an office's queue
    other, monitor = broker.connect("replayer"), broker.connect("monitor")
    provider = TaxOffice()
    node = OfficeNode(
        code=OFFICE,
        bus=office,
        keys=OFFICE_KEYS,
        hub=HUB_KEYS.public,
        roles=Roles(provider=provider),
    )
    net = Net(broker, node, provider, hub, other)

    def collect(into: asyncio.Queue[Delivery]) -> Any:
        async def handle(d: Delivery) -> None:
            await d.ack()
            into.put_nowait(d)

        return handle

    await hub.consume(HUB_REPLIES, collect(net.replies))
    await hub.consume(HUB_REQUESTS, collect(net.requests))
    await monitor.consume(DEAD_QUEUE, collect(net.dead))
    await node.start()
    yield net
    await node.stop()
    for bus in (office, hub, other, monitor):
        await bus.close()


def forwarded(person: str = KNOWN, **changes: Any) -> ForwardedQuery:
    qid = uuid.uuid4()
    envelope = Envelope(
        message_id=uuid.uuid4(),
        correlation_id=qid,
        sender="hub",
        recipient=OFFICE,
        affair="child_allowance",
        issued_at=now(),
        deadline=changes.pop("deadline", now() + dt.timedelta(seconds=10)),
        traceparent=TRACE,
    )
    fields: dict[str, Any] = {
        "envelope": envelope,
        "requester": REQUESTER,
        "person": person,
        "items": ("local_tax",),
        "params": {"fiscal_year": 2025},
        "seal_to": REQUESTER_KEYS.public.seal_b64,
        "context": CONTEXT,
    }
    return ForwardedQuery(**(fields | changes))


async def send(
    bus: InMemoryBus,
    body: bytes,
    *,
    signature: str | None = None,
    queue: str = f"office.{OFFICE}.in",
) -> None:
    """Publish ``body`` to the office as ``bus``'s identity (the hub: via renkei.offices)."""
    headers = {} if signature is None else {SIGNATURE_HEADER: signature}
    exchange = OFFICES_EXCHANGE if bus.identity in ("hub", "replayer") else ""
    await bus.publish(
        exchange, queue, OutMessage(body, message_id=str(uuid.uuid4()), headers=headers)
    )


async def from_hub(net: Net, message: ForwardedQuery | Reply, queue: str = "in") -> None:
    body = encode(message)
    await send(
        net.hub, body, signature=sign(body, HUB_KEYS.signing), queue=f"office.{OFFICE}.{queue}"
    )


async def provider_reply(net: Net) -> ProviderReply:
    d = await asyncio.wait_for(net.replies.get(), 2)
    assert d.user_id == OFFICE
    verify(d.body, d.headers.get(SIGNATURE_HEADER), OFFICE_KEYS.public.verify)
    message = decode(d.body)
    assert isinstance(message, ProviderReply)
    return message


async def dead_letter(net: Net) -> Delivery:
    return await asyncio.wait_for(net.dead.get(), 2)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


# ---- answering ---------------------------------------------------------------------------


async def test_an_answer_is_sealed_for_the_requester_and_signed_by_the_office(net: Net) -> None:
    query = forwarded(KNOWN)
    await from_hub(net, query)
    reply = await provider_reply(net)
    assert net.provider.asked == [(KNOWN, ("local_tax",), {"fiscal_year": 2025})]
    env = reply.envelope
    assert (env.correlation_id, env.sender, env.recipient) == (
        query.envelope.correlation_id,
        OFFICE,
        "hub",
    )
    assert env.message_id != query.envelope.message_id
    assert (env.affair, env.deadline, env.traceparent) == (
        "child_allowance",
        query.envelope.deadline,
        TRACE,
    )
    assert reply.context == CONTEXT
    assert isinstance(reply.outcome, Answered)
    assert orjson.loads(open_sealed(reply.outcome.payload, REQUESTER_KEYS.sealing)) == ANSWER
    with pytest.raises(SealError):  # the hub routes the answer but cannot read it
        open_sealed(reply.outcome.payload, HUB_KEYS.sealing)


async def test_a_provider_that_fails_is_a_provider_system_error(net: Net) -> None:
    await from_hub(net, forwarded(BROKEN))
    outcome = (await provider_reply(net)).outcome
    assert outcome == Failed(
        family="provider_system", code="office.system_error", reason="ConnectionResetError"
    )
    assert "mainframe" not in outcome.reason  # the provider's own words stay in its log


async def test_no_record_is_not_found_with_the_providers_reason(net: Net) -> None:
    await from_hub(net, forwarded(NO_YEAR))
    assert (await provider_reply(net)).outcome == NotFound(
        reason="no assessment for fiscal year 2031 (held: 2024, 2025)"
    )


async def test_an_unknown_person_is_not_found(net: Net) -> None:
    await from_hub(net, forwarded(MISSING))
    assert (await provider_reply(net)).outcome == NotFound(
        reason="chiyoda-tax holds no record for this person"
    )


async def test_an_office_that_provides_nothing_says_so(net: Net) -> None:
    net.node.roles = Roles()
    await from_hub(net, forwarded(KNOWN))
    outcome = (await provider_reply(net)).outcome
    assert isinstance(outcome, Failed)
    assert (outcome.family, outcome.code) == ("provider", "office.not_a_provider")


async def test_a_request_past_its_deadline_is_dropped_unanswered(net: Net) -> None:
    await from_hub(net, forwarded(KNOWN, deadline=now() - dt.timedelta(seconds=1)))
    await settle()
    assert net.provider.asked  # it was read and answered ...
    assert net.replies.empty()  # ... but the late answer is not sent
    assert net.broker.depth(f"office.{OFFICE}.in") == net.broker.unacked(f"office.{OFFICE}.in") == 0
    assert net.dead.empty()


@pytest.mark.parametrize(
    "change", [{"person": ODD}, {"seal_to": "AAAA"}], ids=["odd-answer", "bad-seal-to"]
)
async def test_an_answer_that_cannot_be_sealed_is_a_failed_reply(
    net: Net, change: dict[str, str]
) -> None:
    await from_hub(net, forwarded(**change))
    outcome = (await provider_reply(net)).outcome
    assert isinstance(outcome, Failed)


# ---- only the hub is heard ---------------------------------------------------------------


async def test_a_request_from_anyone_but_the_hub_is_dead_lettered(net: Net) -> None:
    body = encode(forwarded(KNOWN))
    await send(
        net.other, body, signature=sign(body, HUB_KEYS.signing)
    )  # even with the hub's signature
    d = await dead_letter(net)
    assert d.headers[REASON_HEADER] == "office.not_from_hub: message from 'replayer'"
    assert d.headers[QUEUE_HEADER] == f"office.{OFFICE}.in"
    assert d.headers[USER_HEADER] == "replayer"
    assert d.body == body
    assert net.provider.asked == []
    assert net.replies.empty()


@pytest.mark.parametrize(
    ("signer", "reason"),
    [
        (STRANGER_KEYS, "wire.bad_signature: the signature does not match the sender's key"),
        (OFFICE_KEYS, "wire.bad_signature: the signature does not match the sender's key"),
        (None, "wire.bad_signature: the message carries no signature"),
    ],
    ids=["stranger", "office-itself", "unsigned"],
)
async def test_a_request_not_signed_by_the_hub_is_dead_lettered(
    net: Net, signer: OfficeKeys | None, reason: str
) -> None:
    body = encode(forwarded(KNOWN))
    signature = None if signer is None else sign(body, signer.signing)
    await send(net.hub, body, signature=signature)
    d = await dead_letter(net)
    assert d.headers[REASON_HEADER] == reason
    assert d.headers[USER_HEADER] == "hub"
    assert net.provider.asked == []


async def test_a_request_altered_after_signing_is_dead_lettered(net: Net) -> None:
    body = encode(forwarded(KNOWN))
    signature = sign(body, HUB_KEYS.signing)
    await send(net.hub, body.replace(b"2025", b"2024"), signature=signature)
    assert (await dead_letter(net)).headers[REASON_HEADER].startswith("wire.bad_signature: ")
    assert net.provider.asked == []


async def test_a_malformed_request_signed_by_the_hub_is_dead_lettered(net: Net) -> None:
    body = b'{"kind": "forwarded_query"}'
    await send(net.hub, body, signature=sign(body, HUB_KEYS.signing))
    reason = (await dead_letter(net)).headers[REASON_HEADER]
    assert reason.startswith("wire.malformed: forwarded_query.envelope: Field required")


async def test_a_message_that_is_not_a_request_is_dead_lettered(net: Net) -> None:
    reply = Reply(envelope=forwarded().envelope, outcome=NotFound(reason="x"))
    await from_hub(net, reply)
    d = await dead_letter(net)
    assert d.headers[REASON_HEADER] == "office.unexpected: not a request from the hub"


# ---- asking ------------------------------------------------------------------------------


async def hub_answers(net: Net, data: Mapping[str, Any], record_id: uuid.UUID) -> Query:
    """Take the office's next query off hub.requests and answer it as the hub would."""
    d = await asyncio.wait_for(net.requests.get(), 2)
    verify(d.body, d.headers.get(SIGNATURE_HEADER), OFFICE_KEYS.public.verify)
    query = decode(d.body)
    assert isinstance(query, Query)
    envelope = query.envelope.model_copy(
        update={"message_id": uuid.uuid4(), "sender": "hub", "recipient": OFFICE}
    )
    payload = seal(orjson.dumps(data), OFFICE_KEYS.public.seal)
    await from_hub(
        net,
        Reply(envelope=envelope, outcome=Answered(payload=payload), record_id=record_id),
        queue="replies",
    )
    return query


async def test_ask_returns_the_opened_answer(net: Net) -> None:
    record = uuid.uuid4()
    asking = asyncio.create_task(
        net.node.ask("local_tax_assessment", "chiyoda-resident", ("resident_record",), KNOWN)
    )
    query = await hub_answers(net, {"resident_record": {"name": "佐藤 健一"}}, record)
    answer = await asking
    assert (query.envelope.sender, query.envelope.recipient) == (OFFICE, "chiyoda-resident")
    assert (query.person, query.items) == (KNOWN, ("resident_record",))
    assert answer.status == "ok"
    assert answer.data == {"resident_record": {"name": "佐藤 健一"}}
    assert (answer.query_id, answer.record_id) == (query.envelope.correlation_id, record)
    assert net.node._pending == {}


async def test_ask_times_out_when_nothing_answers(net: Net) -> None:
    net.node.deadline = dt.timedelta(milliseconds=20)
    started = asyncio.get_running_loop().time()
    answer = await net.node.ask("child_allowance", "chiyoda-resident", ("resident_record",), KNOWN)
    waited = asyncio.get_running_loop().time() - started
    assert answer.status == "timed_out"
    assert answer.reason == "no reply before the deadline"
    assert answer.data is None
    assert waited >= 0.02  # the deadline, plus the grace for the hub's own timed-out reply
    query = decode((await asyncio.wait_for(net.requests.get(), 1)).body)
    assert query.envelope.correlation_id == answer.query_id
    assert net.node._pending == {}


async def test_a_reply_nobody_waits_for_is_acked_and_ignored(net: Net) -> None:
    stray = Reply(
        envelope=forwarded().envelope.model_copy(update={"recipient": OFFICE}),
        outcome=NotFound(reason="late"),
    )
    await from_hub(net, stray, queue="replies")
    await settle()
    queue = f"office.{OFFICE}.replies"
    assert net.broker.depth(queue) == net.broker.unacked(queue) == 0
    assert net.dead.empty()
    assert net.node._pending == {}


async def test_a_reply_not_from_the_hub_is_dead_lettered_and_ask_keeps_waiting(net: Net) -> None:
    net.node.deadline = dt.timedelta(milliseconds=20)
    asking = asyncio.create_task(
        net.node.ask("child_allowance", "chiyoda-resident", ("resident_record",), KNOWN)
    )
    d = await asyncio.wait_for(net.requests.get(), 2)
    query = decode(d.body)
    forged = Reply(envelope=query.envelope, outcome=NotFound(reason="forged"))
    body = encode(forged)
    await send(
        net.hub, body, signature=sign(body, STRANGER_KEYS.signing), queue=f"office.{OFFICE}.replies"
    )
    dead = await dead_letter(net)
    assert dead.headers[QUEUE_HEADER] == f"office.{OFFICE}.replies"
    assert (await asking).status == "timed_out"


async def test_a_refused_login_is_not_identified_not_an_enrollment_refusal(net: Net) -> None:
    """A failed login raised ``EnrollmentRefused``; it is a login error of its own."""
    net.node.peers = {JLIS_PKI: STRANGER_KEYS.public}
    asking = asyncio.create_task(net.node.identify(b"certificate"))
    d = await asyncio.wait_for(net.requests.get(), 2)
    ident = decode(d.body)
    envelope = ident.envelope.model_copy(
        update={"message_id": uuid.uuid4(), "sender": "hub", "recipient": OFFICE}
    )
    refusal = Refused(code="pki.revoked", reason="the certificate is revoked")
    await from_hub(net, Reply(envelope=envelope, outcome=refusal), queue="replies")
    with pytest.raises(NotIdentified, match="the certificate is revoked") as refused:
        await asking
    assert not isinstance(refused.value, EnrollmentRefused)
    assert refused.value.code == "pki.revoked"


async def test_the_hubs_time_out_of_a_login_is_unanswered_not_refused(net: Net) -> None:
    """J-LIS did not answer by the deadline and the hub said so first: that is ``timed_out``
    (the portal's 503, try again), as the node's own time-out is — it read as a refusal of the
    certificate (a 403) when the hub's reply came before the node's own timer."""
    net.node.peers = {JLIS_PKI: STRANGER_KEYS.public}
    asking = asyncio.create_task(net.node.identify(b"certificate"))
    d = await asyncio.wait_for(net.requests.get(), 2)
    envelope = decode(d.body).envelope.model_copy(
        update={"message_id": uuid.uuid4(), "sender": "hub", "recipient": OFFICE}
    )
    late = TimedOut(reason="jlis-pki did not answer before the deadline")
    await from_hub(net, Reply(envelope=envelope, outcome=late), queue="replies")
    with pytest.raises(NotIdentified) as unanswered:
        await asking
    assert unanswered.value.code == OFFICE_TIMED_OUT


class Taken:
    """An office's applications desk that notes what it was given."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def receive(self, person: str, kind: str, document: bytes) -> Mapping[str, Any]:
        self.received.append(document)
        return {"receipt": "r-1"}


@pytest.mark.parametrize("late", [False, True], ids=["in-time", "past-deadline"])
async def test_an_application_taken_from_the_queue_past_its_deadline_is_not_filed(
    net: Net, late: bool
) -> None:
    """The hub recorded it timed out and told the portal so: an office that filed it now would
    hold an application the resident was told did not go through."""
    taken = Taken()
    net.node.roles = Roles(applications=taken)
    deadline = now() + dt.timedelta(seconds=-1 if late else 10)
    document = seal(b"signed", OFFICE_KEYS.public.seal)
    msg = forwarded(KNOWN, deadline=deadline, items=("tax_return",), document=document)
    await from_hub(net, msg)
    await settle()
    assert taken.received == ([] if late else [b"signed"])
    assert net.replies.empty() is late


async def test_an_event_kept_after_a_cut_is_reacted_to_once() -> None:
    """The store cut after the office reacted to an event, before it kept it: the bus holds
    the delivery and hands it over again (``hub.bus._common.run_handler``); the office keeps
    it then, without reacting a second time (a change applied twice)."""
    from hub.node import MemoryStore
    from hub.wire import ForwardedChange

    reacted: list[str] = []

    class Listener:
        async def changed(self, person: str, change: str, effective: Any, detail: Any) -> None:
            reacted.append(person)

    class CutOnce(MemoryStore):
        cut = True

        async def put_many(self, collection: str, rows: Any) -> int:
            if self.cut:
                self.cut = False
                raise ConnectionResetError("the store went away")
            return await super().put_many(collection, rows)

    store = CutOnce()
    node = OfficeNode(
        code=OFFICE,
        bus=None,  # type: ignore[arg-type]  # _changed publishes nothing
        keys=OFFICE_KEYS,
        hub=HUB_KEYS.public,
        roles=Roles(listener=Listener()),
        store=store,
    )
    qid = uuid.uuid4()
    event = ForwardedChange(
        envelope=Envelope(
            message_id=qid,
            correlation_id=qid,
            sender="hub",
            recipient=OFFICE,
            affair="change_notification",
            issued_at=dt.datetime.now(dt.UTC),
            deadline=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10),
            traceparent=TRACE,
        ),
        origin="chiyoda-resident",
        person=KNOWN,
        change="address_changed",
        effective=dt.date(2026, 12, 1),
    )
    with pytest.raises(ConnectionResetError):
        await node._changed(event)
    await node._changed(event)  # handed over again
    await node._changed(event)  # a later redelivery: a duplicate
    assert reacted == [KNOWN]
    assert await store.get("_events", str(qid)) is not None


async def test_a_reply_is_awaited_under_one_timer_that_goes_with_it() -> None:
    """``_within`` (bench/README.md, issue 19, the office nodes): the reply's future under one
    timer, not ``asyncio.wait_for``'s own future and task switch — the result when it comes,
    ``TimeoutError`` after the wait, the future cancelled with its caller."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[Any] = loop.create_future()
    loop.call_later(0.01, answered.set_result, "reply")
    assert await _within(answered, 5.0) == "reply"
    unanswered: asyncio.Future[Any] = loop.create_future()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await _within(unanswered, 0.02)
    assert loop.time() - started >= 0.02
    abandoned: asyncio.Future[Any] = loop.create_future()
    waiting = asyncio.ensure_future(_within(abandoned, 5.0))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert abandoned.cancelled()
    late: asyncio.Future[Any] = loop.create_future()
    _expire(late)  # the timer after the reply came: nothing changes
    late2: asyncio.Future[Any] = loop.create_future()
    late2.set_result("reply")
    _expire(late2)
    assert late2.result() == "reply"
    assert isinstance(late.exception(), TimeoutError)
