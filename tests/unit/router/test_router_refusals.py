"""Every refusal on the hub's routing path, one test per code, through the router itself.

Each request goes in as it comes off the bus (``Router.on_request``: signed, with the broker's
word on its sender), a provider's reply likewise (``on_reply``), with in-memory fakes around the
router. A refused request comes out recorded and answered with its code (the finisher) and
forwarded to no office; a reply the hub cannot take is dead-lettered and finishes nothing.

Two codes of ``hub/routing`` no message can reach, so none is tested here: ``routing.no_items``
(the wire contract requires at least one item) and ``routing.unknown_kind`` (the registry does
not load with an office of a kind the legal table lacks). ``hub.unknown_office`` is reached
through the enrollment desk; the router's own check of it follows the check that the broker's
user has keys, and the sender is that user.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from hub.bus import CONTENT_TYPE, HUB_REPLIES, HUB_REQUESTS, office_in, signed_message
from hub.bus._common import run_handler
from hub.directory import MemoryDirectory
from hub.records import ClaimState, MemoryQuotaStore
from hub.routing import LegalTable, Registry
from hub.routing.legal import parse_table
from hub.routing.offices import parse_registry
from hub.routing.quotas import QuotaGate, parse_quotas
from hub.routing.router import Router, RouterDeps
from hub.routing.token_link import TokenLinkDown
from hub.routing.tokens import TokenClient
from hub.wire import (
    HUB,
    JLIS,
    JLIS_PKI,
    ChangeEvent,
    Delivered,
    Enroll,
    Envelope,
    ForwardedEnroll,
    ForwardedQuery,
    Identify,
    Message,
    Notice,
    Outcome,
    ProviderReply,
    Query,
    Refused,
    Reply,
    Resolved,
    TimedOut,
    new_traceparent,
    outcome_code,
)
from tests.unit.router.desk_fakes import (
    CHILD,
    HUB_KEYS,
    KEYS,
    NOW,
    OFFICE_KEYS,
    PORTAL,
    REGISTER,
    REGISTRY,
    SEALED,
    SEALER,
    TABLE,
    TAX,
    FakeBus,
    FakeFinisher,
    FakeTokens,
    token,
)
from tests.unit.routing.snippets import office, registry, row, table

HUB_P1 = token("p1", HUB)  # the hub's token for the person every test asks about


# ---- the fakes around the router --------------------------------------------------------------


@dataclass
class FakeDelivery:
    """A message as the bus hands it over; records how the router settled it."""

    body: bytes
    message_id: str
    correlation_id: str | None
    headers: Mapping[str, str]
    user_id: str | None
    queue: str = HUB_REQUESTS
    redelivered: bool = False
    content_type: str | None = CONTENT_TYPE
    exchange: str = ""
    routing_key: str = ""
    delivery_count: int = 0
    settled_as: str | None = None
    dead_reason: str = ""

    @property
    def settled(self) -> bool:
        return self.settled_as is not None

    async def ack(self) -> None:
        self.settled_as = self.settled_as or "ack"

    async def nack(self, *, requeue: bool = True) -> None:
        self.settled_as = self.settled_as or "nack"

    async def dead_letter(self, reason: str) -> None:
        self.settled_as, self.dead_reason = self.settled_as or "dead_letter", reason


@dataclass
class FakeClaims:
    taken: dict[uuid.UUID, bytes] = field(default_factory=dict)

    async def claim(self, key: uuid.UUID, digest: bytes) -> ClaimState:
        if key in self.taken:
            return ClaimState(False, self.taken[key])
        self.taken[key] = digest
        return ClaimState(True)


class NoTokenService:
    """A token channel on which the token service never answers."""

    async def call(self, body: bytes, *, timeout: float) -> bytes:
        raise TokenLinkDown("no reply from the token service")


@dataclass
class Hub:
    router: Router
    bus: FakeBus
    finisher: FakeFinisher
    directory: MemoryDirectory
    clock: list[dt.datetime]  # the hub's clock; a test may move it

    def outcome(self) -> Outcome:
        """The one outcome the hub recorded and answered."""
        [(_, outcome)] = self.finisher.finished
        return outcome

    async def refused(self, d: FakeDelivery) -> str:
        """The code ``d`` was refused with; it was settled and forwarded to no office."""
        await self.router.on_request(d)
        assert d.settled_as == "ack"
        assert self.bus.sent() == []
        outcome = self.outcome()
        assert isinstance(outcome, Refused), outcome
        return outcome.code


MakeHub = Callable[..., Hub]


@pytest.fixture
async def make_hub() -> AsyncIterator[MakeHub]:
    made: list[Hub] = []

    def make(
        *,
        legal: LegalTable = TABLE,
        offices: Registry = REGISTRY,
        tokens: Any = None,
        at: dt.datetime = NOW,
        quotas: str | None = None,
        quota_store: MemoryQuotaStore | None = None,
        claims: FakeClaims | None = None,
    ) -> Hub:
        bus, finisher, directory, clock = FakeBus(), FakeFinisher(), MemoryDirectory(), [at]
        gate = None
        if quotas is not None:
            limits = parse_quotas(quotas, offices, legal)
            store = quota_store or MemoryQuotaStore()
            gate = QuotaGate(limits, store, clock=lambda: clock[0])
        deps = RouterDeps(
            bus=bus,  # type: ignore[arg-type]
            table=legal,
            registry=offices,
            keys=KEYS,
            hub_keys=HUB_KEYS,
            sealer=SEALER,
            finisher=finisher,  # type: ignore[arg-type]
            tokens=tokens or FakeTokens(),
            directory=directory,
            claims=claims or FakeClaims(),  # type: ignore[arg-type]
            deadlines=bus.deadlines,
            clock=lambda: clock[0],
            quotas=gate,
        )
        made.append(Hub(Router(deps), bus, finisher, directory, clock))
        return made[-1]

    yield make
    for hub in made:
        await hub.router.stop()  # disarms the deadlines of what was forwarded


# ---- messages -----------------------------------------------------------------------------------


def envelope(
    sender: str,
    recipient: str,
    affair: str,
    *,
    at: dt.datetime = NOW,
    deadline: dt.datetime | None = None,
) -> Envelope:
    """A request's envelope: its correlation id is its message id, due 10 s after ``at``."""
    qid = uuid.uuid4()
    return Envelope(
        message_id=qid,
        correlation_id=qid,
        sender=sender,
        recipient=recipient,
        affair=affair,
        issued_at=at,
        deadline=deadline or at + dt.timedelta(seconds=10),
        traceparent=new_traceparent(),
    )


def ask(
    requester: str,
    provider: str,
    affair: str,
    items: tuple[str, ...],
    *,
    at: dt.datetime = NOW,
    **extra: Any,
) -> Query:
    """A query about person p1, under the requester's token for them."""
    return Query(
        envelope=envelope(requester, provider, affair, at=at),
        person=token("p1", requester),
        items=items,
        **extra,
    )


def delivered(
    msg: Message,
    *,
    user_id: str | None = None,
    signer: str | None = None,
    queue: str = HUB_REQUESTS,
) -> FakeDelivery:
    """``msg`` as the bus hands it over: signed by ``signer``, published by the broker's user
    ``user_id`` (both its sender unless said)."""
    sender = msg.envelope.sender
    out = signed_message(msg, OFFICE_KEYS[signer or sender].signing)
    return FakeDelivery(
        body=out.body,
        message_id=out.message_id,
        correlation_id=out.correlation_id,
        headers=dict(out.headers),
        user_id=user_id or sender,
        queue=queue,
    )


def answer(
    fwd: ForwardedQuery | ForwardedEnroll, provider: str, outcome: Outcome, **kw: Any
) -> FakeDelivery:
    """``provider``'s reply to a forwarded request, echoing its sealed context."""
    asked = fwd.envelope
    env = Envelope(
        message_id=uuid.uuid4(),
        correlation_id=asked.correlation_id,
        sender=provider,
        recipient=HUB,
        affair=asked.affair,
        issued_at=NOW,
        deadline=asked.deadline,
        traceparent=asked.traceparent,
    )
    msg = ProviderReply(envelope=env, context=fwd.context, outcome=outcome)
    return delivered(msg, queue=HUB_REPLIES, **kw)


async def forwarded(hub: Hub, msg: Message) -> Any:
    """Send ``msg`` to the hub; the one message it forwarded."""
    await hub.router.on_request(delivered(msg))
    [(_, fwd)] = hub.bus.sent()
    return fwd


# ---- the steps every request shares -----------------------------------------------------------


async def test_hub_unverified_sender(make_hub: MakeHub) -> None:
    hub = make_hub()
    d = delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",)), user_id="stranger")
    await hub.router.on_request(d)
    assert d.settled_as == "dead_letter" and d.dead_reason.startswith("hub.unverified_sender:")
    assert hub.finisher.finished == [] and hub.bus.sent() == []  # no office to answer


async def test_hub_unexpected_kind(make_hub: MakeHub) -> None:
    hub = make_hub()
    not_a_request = Reply(envelope=envelope(CHILD, HUB, "child_allowance"), outcome=Delivered())
    d = delivered(not_a_request)
    await hub.router.on_request(d)
    assert d.settled_as == "dead_letter" and d.dead_reason.startswith("hub.unexpected_kind:")
    assert outcome_code(hub.outcome()) == "hub.unexpected_kind" and hub.bus.sent() == []
    # and a request on the replies queue is no reply
    d = delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",)), queue=HUB_REPLIES)
    await hub.router.on_reply(d)
    assert d.settled_as == "dead_letter" and d.dead_reason.startswith("hub.unexpected_kind:")
    assert len(hub.finisher.finished) == 1 and hub.bus.sent() == []


async def test_hub_replayed_query(make_hub: MakeHub) -> None:
    hub = make_hub()
    first = ask(CHILD, TAX, "child_allowance", ("local_tax",))
    again = first.model_copy(update={"params": {"fiscal_year": 2025}})  # re-signed, other params
    await hub.router.on_request(delivered(first))
    d = delivered(again)
    await hub.router.on_request(d)
    assert d.settled_as == "ack"
    assert outcome_code(hub.outcome()) == "hub.replayed_query"
    assert len(hub.bus.sent()) == 1  # the first copy only


async def test_the_translation_goes_with_the_claim_not_after_it(make_hub: MakeHub) -> None:
    """The quota and the tokens are asked while the query id is claimed (nothing another
    office sees): a claim that answers only once the token service was asked still lets the
    query through; one after the other, it would wait for ever."""
    asked = asyncio.Event()

    class Translating(FakeTokens):
        async def translate(self, tok: str, holder: str, targets: tuple[str, ...]) -> Any:
            asked.set()
            return await super().translate(tok, holder, targets)

    class WaitingClaims(FakeClaims):
        async def claim(self, key: uuid.UUID, digest: bytes) -> ClaimState:
            await asked.wait()
            return await super().claim(key, digest)

    hub = make_hub(tokens=Translating(), claims=WaitingClaims())
    d = delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",)))
    await asyncio.wait_for(hub.router.on_request(d), 5)
    assert d.settled_as == "ack" and len(hub.bus.sent()) == 1


async def test_a_claim_that_fails_leaves_the_request_unsettled(make_hub: MakeHub) -> None:
    """The records store down while the query id is claimed: the error reaches the bus (the
    broker redelivers the request), whatever the translation begun beside it gave."""

    class Down(FakeClaims):
        async def claim(self, key: uuid.UUID, digest: bytes) -> ClaimState:
            raise ConnectionError("the records store is down")

    hub = make_hub(claims=Down())
    d = delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",)))
    with pytest.raises(ConnectionError):
        await hub.router.on_request(d)
    assert d.settled_as is None and hub.bus.sent() == [] and hub.finisher.finished == []


class CutAfterCommit(FakeClaims):
    """A store whose session is cut the first ``cuts`` times a claim is written: committed,
    its answer lost — what a PostgreSQL stopped mid-statement leaves."""

    def __init__(self, cuts: int) -> None:
        super().__init__()
        self.cuts = cuts

    async def claim(self, key: uuid.UUID, digest: bytes) -> ClaimState:
        state = await super().claim(key, digest)
        if self.cuts:
            self.cuts -= 1
            raise ConnectionResetError("the records store went away")
        return state


async def test_a_request_handled_again_after_its_claim_was_cut_is_not_a_replay(
    make_hub: MakeHub,
) -> None:
    """PostgreSQL gone under the claim after it committed: the bus holds the request and
    hands it over again marked redelivered (``hub.bus._common.run_handler``), so the claim
    its first run wrote is its own — forwarded, not refused as a replay."""
    hub = make_hub(claims=CutAfterCommit(cuts=1))
    d = delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",)))
    with pytest.raises(ConnectionResetError):
        await hub.router.on_request(d)
    assert d.settled_as is None and hub.finisher.finished == []
    d.redelivered = True
    await hub.router.on_request(d)
    assert d.settled_as == "ack" and len(hub.bus.sent()) == 1
    assert hub.finisher.finished == []


async def test_a_redelivered_query_takes_no_second_token(make_hub: MakeHub) -> None:
    """A worker took the query's token and claimed it, then died before its acknowledgement:
    the broker's redelivery goes ahead on the token its first delivery took (before, it took
    another: an office lost a token to every hub worker that died under its query). Its claim
    says so — that run claimed the id with this very message —, not the redelivered mark."""
    quotas = 'version = "t"\n[default]\nper_second = 1\nburst = 2\n'
    hub = make_hub(quotas=quotas, claims=CutAfterCommit(cuts=1))
    d = delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",)))
    with pytest.raises(ConnectionResetError):
        await hub.router.on_request(d)
    d.redelivered = True
    await hub.router.on_request(d)
    assert d.settled_as == "ack" and len(hub.bus.sent()) == 1
    # the second of its two tokens is still there; a third query finds none
    second = delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",)))
    await hub.router.on_request(second)
    assert len(hub.bus.sent()) == 2
    third = delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",)))
    await hub.router.on_request(third)
    assert len(hub.bus.sent()) == 2
    _, outcome = hub.finisher.finished[-1]
    assert isinstance(outcome, Refused) and outcome.code == "routing.quota_exceeded"


class DownFor(FakeClaims):
    """A records store out of reach for the first ``tries`` claims: nothing written."""

    def __init__(self, tries: int) -> None:
        super().__init__()
        self.tries = tries

    async def claim(self, key: uuid.UUID, digest: bytes) -> ClaimState:
        if self.tries:
            self.tries -= 1
            raise ConnectionRefusedError("the records store is out of reach")
        return await super().claim(key, digest)


class QuotaDownFor(MemoryQuotaStore):
    """The quota buckets (the same PostgreSQL) out of reach while ``tries`` lasts."""

    def __init__(self) -> None:
        super().__init__()
        self.tries = 0

    async def take(self, wants: Any, now: dt.datetime) -> Any:
        if self.tries:
            self.tries -= 1
            raise ConnectionRefusedError("the records store is out of reach")
        return await super().take(wants, now)


ONE_TOKEN = 'version = "t"\n[default]\nper_second = 1\nburst = 1\n'


async def test_a_query_held_through_an_outage_takes_its_token_when_it_goes(
    make_hub: MakeHub,
) -> None:
    """PostgreSQL out of reach under a query's first run: neither its claim nor its token was
    taken. The bus holds it and runs it again marked redelivered (``run_handler``); that run
    finds the query id unclaimed — its first run never got to the claim nor so to the take,
    which go together — and takes the token. Before, the mark alone let it go free: every
    query a worker held through an outage went past its office's quota."""
    buckets, claims = QuotaDownFor(), DownFor(tries=0)
    hub = make_hub(quotas=ONE_TOKEN, quota_store=buckets, claims=claims)
    await hub.router.on_request(delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",))))
    assert len(hub.bus.sent()) == 1  # the office's one token is spent
    claims.tries, buckets.tries = 1, 1  # the outage
    d = delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",)))
    down = [True]

    async def store_down() -> bool:
        return down.pop() if down else False

    await run_handler(d, hub.router.on_request, store_down)  # type: ignore[arg-type]
    assert d.settled_as == "ack" and len(hub.bus.sent()) == 1
    _, outcome = hub.finisher.finished[-1]
    assert isinstance(outcome, Refused) and outcome.code == "routing.quota_exceeded"


async def test_a_redelivery_never_claimed_takes_a_token(make_hub: MakeHub) -> None:
    """The broker's redelivery of a message no run of the hub got to (a worker died with it
    in hand: waiting at the batch lane's door, or an item of a bundle not begun): its query
    id is unclaimed, so no token was taken for it, and it takes one now — the broker's mark
    is not a token taken (a bundle of 64 items a dying worker had not begun went free)."""
    hub = make_hub(quotas=ONE_TOKEN)
    await hub.router.on_request(delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",))))
    d = delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",)))
    d.redelivered = True
    await hub.router.on_request(d)
    assert d.settled_as == "ack" and len(hub.bus.sent()) == 1
    _, outcome = hub.finisher.finished[-1]
    assert isinstance(outcome, Refused) and outcome.code == "routing.quota_exceeded"


async def test_routing_quota_exceeded(make_hub: MakeHub) -> None:
    """Over its quota, a query is refused with a retry-after, recorded, and forwarded to no
    office; one more second gives the office one more query."""
    quotas = 'version = "t"\n[default]\nper_second = 1\nburst = 2\n'
    hub = make_hub(quotas=quotas)
    for _ in range(2):
        await hub.router.on_request(delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",))))
    assert len(hub.bus.sent()) == 2
    d = delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",)))
    await hub.router.on_request(d)
    assert d.settled_as == "ack" and len(hub.bus.sent()) == 2
    ctx, outcome = hub.finisher.finished[-1]
    assert isinstance(outcome, Refused) and outcome.code == "routing.quota_exceeded"
    assert outcome.retry_after == 1.0
    assert ctx.requester == CHILD and ctx.person == ""  # recorded, under no person
    hub.clock[0] += dt.timedelta(seconds=1)
    fresh = ask(CHILD, TAX, "child_allowance", ("local_tax",), at=hub.clock[0])
    await hub.router.on_request(delivered(fresh))
    assert len(hub.bus.sent()) == 3


async def test_hub_sender_mismatch(make_hub: MakeHub) -> None:
    hub = make_hub()
    msg = ask(CHILD, TAX, "child_allowance", ("local_tax",))  # says chiyoda-child
    assert await hub.refused(delivered(msg, user_id=REGISTER)) == "hub.sender_mismatch"


async def test_wire_bad_signature(make_hub: MakeHub) -> None:
    hub = make_hub()
    msg = ask(CHILD, TAX, "child_allowance", ("local_tax",))
    assert await hub.refused(delivered(msg, signer=REGISTER)) == "wire.bad_signature"


async def test_hub_bad_query_id(make_hub: MakeHub) -> None:
    hub = make_hub()
    msg = ask(CHILD, TAX, "child_allowance", ("local_tax",))
    msg = msg.model_copy(
        update={"envelope": msg.envelope.model_copy(update={"message_id": uuid.uuid4()})}
    )
    assert await hub.refused(delivered(msg)) == "hub.bad_query_id"


S = dt.timedelta(seconds=1)


TIMES = [
    (NOW - 301 * S, NOW + 10 * S, "hub.stale_request"),
    (NOW + 301 * S, NOW + 311 * S, "hub.future_request"),
    (NOW, NOW + 121 * S, "hub.deadline_too_far"),
]


@pytest.mark.parametrize(("at", "deadline", "code"), TIMES, ids=[t[-1] for t in TIMES])
async def test_a_request_out_of_time_is_refused(
    make_hub: MakeHub, at: dt.datetime, deadline: dt.datetime, code: str
) -> None:
    hub = make_hub()
    msg = Query(
        envelope=envelope(CHILD, TAX, "child_allowance", at=at, deadline=deadline),
        person=token("p1", CHILD),
        items=("local_tax",),
    )
    assert await hub.refused(delivered(msg)) == code


async def test_a_request_past_its_deadline_is_answered_timed_out(make_hub: MakeHub) -> None:
    """As its requester concluded on its own: one outcome, recorded and answered."""
    hub = make_hub()
    msg = Query(
        envelope=envelope(CHILD, TAX, "child_allowance", at=NOW - 10 * S, deadline=NOW),
        person=token("p1", CHILD),
        items=("local_tax",),
    )
    await hub.router.on_request(delivered(msg))
    assert isinstance(hub.outcome(), TimedOut) and hub.bus.sent() == []


async def test_hub_token_service_unavailable(make_hub: MakeHub) -> None:
    hub = make_hub(tokens=TokenClient(NoTokenService()))
    d = delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",)))
    await hub.router.on_request(d)
    assert outcome_code(hub.outcome()) == "hub.token_service_unavailable"
    assert hub.outcome().status == "error" and hub.bus.sent() == []


# ---- queries: the law, the registry, finding the provider ---------------------------------------


UNLAWFUL = [
    (HUB, TAX, "child_allowance", ("local_tax",), "routing.unknown_requester"),
    (CHILD, "minato-tax", "child_allowance", ("local_tax",), "routing.unknown_provider"),
    (CHILD, TAX, "pachinko", ("local_tax",), "routing.unknown_affair"),
    (CHILD, TAX, "child_allowance", ("shoe_size",), "routing.unknown_item"),
    (TAX, REGISTER, "child_allowance", ("resident_record",), "routing.affair_not_performed"),
    (CHILD, JLIS, "child_allowance", ("local_tax",), "routing.no_row"),
    (CHILD, "shinjuku-resident", "child_allowance", ("local_tax",), "routing.item_not_held"),
    (CHILD, "chiyoda-tax", "child_allowance", ("local_tax",), "routing.in_house"),  # 庁内連携
    (CHILD, HUB, "child_allowance", ("pension_benefit",), "routing.no_provider"),  # resolve
]


@pytest.mark.parametrize(
    ("requester", "provider", "affair", "items", "code"), UNLAWFUL, ids=[c[-1] for c in UNLAWFUL]
)
async def test_a_query_the_law_or_the_registry_refuses_is_forwarded_nowhere(
    make_hub: MakeHub,
    requester: str,
    provider: str,
    affair: str,
    items: tuple[str, ...],
    code: str,
) -> None:
    hub = make_hub()
    assert await hub.refused(delivered(ask(requester, provider, affair, items))) == code


async def test_routing_not_yet_in_force(make_hub: MakeHub) -> None:
    before = dt.datetime(2017, 1, 1, 9, tzinfo=dt.UTC)  # row r01 applies from 2017-11-13
    hub = make_hub(at=before)
    msg = ask(CHILD, TAX, "child_allowance", ("local_tax",), at=before)
    assert await hub.refused(delivered(msg)) == "routing.not_yet_in_force"


async def test_routing_expired(make_hub: MakeHub) -> None:
    legal = parse_table(table(row(effective_until="2020-01-01")))
    offices = parse_registry(
        registry(
            office(TAX, affairs="[]", municipality='"131041"'),
            office(CHILD, provides="[]"),
        ),
        legal,
    )
    hub = make_hub(legal=legal, offices=offices)
    msg = ask(CHILD, TAX, "child_allowance", ("local_tax",))
    assert await hub.refused(delivered(msg)) == "routing.expired"


async def test_routing_not_withholdable(make_hub: MakeHub) -> None:
    hub = make_hub()
    msg = ask(CHILD, TAX, "child_allowance", ("local_tax",), not_disclosed=True)  # r01: no 不開示
    assert await hub.refused(delivered(msg)) == "routing.not_withholdable"


async def test_routing_ambiguous_provider(make_hub: MakeHub) -> None:
    offices = parse_registry(
        registry(
            office(CHILD, provides="[]"),
            office(TAX, affairs="[]", municipality='"131041"'),
            office("minato-tax", affairs="[]", municipality='"131032"'),
        ),
        TABLE,
    )
    hub = make_hub(offices=offices)
    for holder in (TAX, "minato-tax"):  # two tax offices held the person: the hub cannot pick
        await hub.directory.enrolled(HUB_P1, holder, NOW - dt.timedelta(days=400))
    msg = ask(CHILD, HUB, "child_allowance", ("local_tax",))
    assert await hub.refused(delivered(msg)) == "routing.ambiguous_provider"


async def test_hub_unexpected_document(make_hub: MakeHub) -> None:
    hub = make_hub()
    msg = ask(CHILD, TAX, "child_allowance", ("local_tax",), document=SEALED)
    assert await hub.refused(delivered(msg)) == "hub.unexpected_document"


async def test_hub_provider_unreachable(make_hub: MakeHub) -> None:
    hub = make_hub()
    hub.bus.unroutable.add(TAX)
    await hub.router.on_request(delivered(ask(CHILD, TAX, "child_allowance", ("local_tax",))))
    assert outcome_code(hub.outcome()) == "hub.provider_unreachable"
    assert hub.outcome().status == "error" and hub.bus.sent() == []


# ---- the portal ---------------------------------------------------------------------------------


WITHHELD = {"not_disclosed": True}
PORTAL_REFUSED = [
    ("disclosure", TAX, ("access_records",), {}, "routing.no_row"),
    ("child_allowance", TAX, ("local_tax",), {}, "routing.affair_not_performed"),
    ("self_information", "minato-tax", ("local_tax",), {}, "routing.unknown_provider"),
    ("self_information", TAX, ("resident_record",), {}, "routing.item_not_held"),
    ("self_information", TAX, ("local_tax",), WITHHELD, "routing.not_withholdable"),
    ("application", HUB, ("tax_return", "moving"), {}, "hub.unaddressed_application"),
]


@pytest.mark.parametrize(
    ("affair", "provider", "items", "extra", "code"),
    PORTAL_REFUSED,
    ids=[f"portal-{c[-1]}" for c in PORTAL_REFUSED],
)
async def test_what_the_portal_rules_refuse_is_forwarded_nowhere(
    make_hub: MakeHub,
    affair: str,
    provider: str,
    items: tuple[str, ...],
    extra: dict[str, Any],
    code: str,
) -> None:
    hub = make_hub()
    assert await hub.refused(delivered(ask(PORTAL, provider, affair, items, **extra))) == code


async def test_hub_no_records(make_hub: MakeHub) -> None:
    hub = make_hub()  # a worker with no records store to read
    await hub.router.on_request(delivered(ask(PORTAL, HUB, "disclosure", ("access_records",))))
    assert outcome_code(hub.outcome()) == "hub.no_records" and hub.outcome().status == "error"


# ---- enrollment, change events, identify, notices ---------------------------------------------


def enroll(requester: str, provider: str = JLIS, affair: str = "enrollment") -> Enroll:
    return Enroll(envelope=envelope(requester, provider, affair), number=SEALED)


async def test_hub_bad_enrollment(make_hub: MakeHub) -> None:
    hub = make_hub()
    assert await hub.refused(delivered(enroll(CHILD, provider=TAX))) == "hub.bad_enrollment"


async def test_hub_unknown_office(make_hub: MakeHub) -> None:
    hub = make_hub()  # the hub's own identity has keys, but is no office of the registry
    assert await hub.refused(delivered(enroll(HUB))) == "hub.unknown_office"


async def test_an_enrollment_over_quota_across_two_hub_workers(make_hub: MakeHub) -> None:
    """The enrollment bucket is shared by the hub's workers (one store): with a burst of 1,
    the second enrollment is refused whichever worker takes it, with a retry-after, and
    recorded under no person like a query over quota."""
    quotas = (
        'version = "t"\n[default]\nper_second = 100\nburst = 100\n'
        "[enrollment]\nper_second = 0.5\nburst = 1\n"
    )
    store = MemoryQuotaStore()
    first, second = (make_hub(quotas=quotas, quota_store=store) for _ in range(2))
    await first.router.on_request(delivered(enroll(CHILD)))
    assert len(first.bus.sent()) == 1
    d = delivered(enroll(CHILD))
    await second.router.on_request(d)
    assert d.settled_as == "ack" and second.bus.sent() == []
    ctx, outcome = second.finisher.finished[-1]
    assert isinstance(outcome, Refused) and outcome.code == "routing.quota_exceeded"
    assert outcome.retry_after == 2.0
    assert (ctx.kind, ctx.requester, ctx.person) == ("enroll", CHILD, "")


async def test_hub_not_resident_here(make_hub: MakeHub) -> None:
    hub = make_hub()
    fwd = await forwarded(hub, enroll(CHILD))
    # J-LIS numbered the person at 新宿区's request: not chiyoda's to enroll
    d = answer(fwd, JLIS, Resolved(rrc=SEALED, municipality="131041"))
    await hub.router.on_reply(d)
    assert d.settled_as == "ack"
    assert outcome_code(hub.outcome()) == "hub.not_resident_here"  # and no token handed out


def change(sender: str, effective: dt.date, kind: str = "death") -> ChangeEvent:
    return ChangeEvent(
        envelope=envelope(sender, HUB, "change_notice"),
        person=token("p1", sender),
        change=kind,  # type: ignore[arg-type]
        effective=effective,
    )


@pytest.mark.parametrize("redelivered", [False, True])
async def test_a_change_event_past_its_deadline_is_sent_on_only_if_it_may_have_been_already(
    make_hub: MakeHub, redelivered: bool
) -> None:
    """A fresh one past its deadline times out, unsent, as the register concluded. A
    redelivered one (a hub killed after sending it on, before recording it: the holders may
    have it) is sent on again — each holder keeps an event once — and recorded delivered,
    never a time-out that the holders' records contradict."""
    hub = make_hub()
    await hub.directory.enrolled(HUB_P1, REGISTER, NOW - dt.timedelta(days=30))
    await hub.directory.enrolled(HUB_P1, CHILD, NOW - dt.timedelta(days=30))
    msg = ChangeEvent(
        envelope=envelope(REGISTER, HUB, "change_notice", at=NOW - 10 * S, deadline=NOW - S),
        person=token("p1", REGISTER),
        change="address_changed",
        effective=NOW.date(),
    )
    d = delivered(msg)
    d.redelivered = redelivered
    await hub.router.on_request(d)
    assert d.settled_as == "ack"
    if redelivered:
        assert hub.outcome() == Delivered()
        assert [key for key, _ in hub.bus.sent()] == [office_in(CHILD)]
    else:
        assert isinstance(hub.outcome(), TimedOut) and hub.bus.sent() == []


async def test_hub_not_a_register(make_hub: MakeHub) -> None:
    hub = make_hub()
    assert await hub.refused(delivered(change(TAX, NOW.date()))) == "hub.not_a_register"


async def test_hub_not_the_register(make_hub: MakeHub) -> None:
    hub = make_hub()  # the person is chiyoda's resident: shinjuku's register cannot report
    await hub.directory.enrolled(HUB_P1, REGISTER, NOW - dt.timedelta(days=30))
    await hub.directory.enrolled(HUB_P1, CHILD, NOW - dt.timedelta(days=30))
    assert await hub.refused(delivered(change("shinjuku-resident", NOW.date()))) == (
        "hub.not_the_register"
    )


async def test_hub_bad_effective_date(make_hub: MakeHub) -> None:
    hub = make_hub()
    await hub.directory.enrolled(HUB_P1, REGISTER, NOW - dt.timedelta(days=30))
    await hub.directory.enrolled(HUB_P1, CHILD, NOW - dt.timedelta(days=30))
    ahead = NOW.date() + dt.timedelta(days=5)  # a death five days from now
    assert await hub.refused(delivered(change(REGISTER, ahead))) == "hub.bad_effective_date"
    assert all(e.until is None for e in await hub.directory.holders(HUB_P1))  # nothing ended


@pytest.mark.parametrize(
    "msg",
    [
        Identify(envelope=envelope(CHILD, JLIS_PKI, "portal_login"), certificate=SEALED),
        Notice(envelope=envelope(TAX, CHILD, "notice"), person=token("p1", TAX), body=SEALED),
    ],
    ids=["identify", "notice"],
)
async def test_hub_not_a_portal(make_hub: MakeHub, msg: Identify | Notice) -> None:
    hub = make_hub()
    assert await hub.refused(delivered(msg)) == "hub.not_a_portal"


async def test_hub_not_a_holder(make_hub: MakeHub) -> None:
    hub = make_hub()  # the person is held by the child office; the tax office notifies them
    await hub.directory.enrolled(HUB_P1, CHILD, NOW - dt.timedelta(days=30))
    msg = Notice(envelope=envelope(TAX, PORTAL, "notice"), person=token("p1", TAX), body=SEALED)
    assert await hub.refused(delivered(msg)) == "hub.not_a_holder"


async def test_hub_bad_identify(make_hub: MakeHub) -> None:
    hub = make_hub()
    msg = Identify(envelope=envelope(PORTAL, JLIS, "portal_login"), certificate=SEALED)
    assert await hub.refused(delivered(msg)) == "hub.bad_identify"


# ---- providers' replies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "signer", "code"),
    [
        (REGISTER, REGISTER, "routing.forged_context"),  # an office that was not asked
        (TAX, REGISTER, "wire.bad_signature"),  # the one asked, in another's hand
    ],
    ids=["routing.forged_context", "reply-wire.bad_signature"],
)
async def test_a_reply_not_from_the_provider_asked_is_dead_lettered(
    make_hub: MakeHub, provider: str, signer: str, code: str
) -> None:
    hub = make_hub()
    fwd = await forwarded(hub, ask(CHILD, TAX, "child_allowance", ("local_tax",)))
    d = answer(fwd, provider, Resolved(rrc=SEALED), signer=signer)
    await hub.router.on_reply(d)
    assert d.settled_as == "dead_letter" and d.dead_reason.startswith(f"{code}:")
    assert hub.finisher.finished == []  # nothing recorded, nothing answered


async def test_hub_bad_outcome(make_hub: MakeHub) -> None:
    hub = make_hub()
    fwd = await forwarded(hub, ask(CHILD, TAX, "child_allowance", ("local_tax",)))
    speaking_for_the_law = Refused(code="routing.no_row", reason="says the provider")
    await hub.router.on_reply(answer(fwd, TAX, speaking_for_the_law))
    outcome = hub.outcome()
    assert outcome_code(outcome) == "hub.bad_outcome" and outcome.status == "error"


async def test_hub_late_enrollment(make_hub: MakeHub) -> None:
    hub = make_hub()
    fwd = await forwarded(hub, enroll("nenkin"))
    hub.clock[0] = fwd.envelope.deadline + S  # J-LIS answers after the office was told: too late
    d = answer(fwd, JLIS, Resolved(rrc=SEALED))
    await hub.router.on_reply(d)
    assert d.settled_as == "dead_letter" and d.dead_reason.startswith("hub.late_enrollment:")
    assert hub.finisher.finished == []  # no token: the office was told it timed out
