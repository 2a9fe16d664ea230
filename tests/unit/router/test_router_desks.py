"""Each hub desk on its own, with fakes: its refusals, its happy path, what it forwards to whom."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import replace
from typing import Any

import pytest

from hub.directory import MemoryDirectory
from hub.records import MemoryQuotaStore
from hub.routing.context import Context
from hub.routing.desks import DEADLINE_BATCH
from hub.routing.desks.application import ApplicationDesk
from hub.routing.desks.change import ChangeDesk
from hub.routing.desks.enrollment import EnrollmentDesk
from hub.routing.desks.identify import IdentifyDesk
from hub.routing.desks.notice import NoticeDesk
from hub.routing.desks.portal import PortalDesk
from hub.routing.desks.query import QueryDesk
from hub.routing.exceptions import HUB_NOT_A_REGISTER, ROUTING_QUOTA_EXCEEDED
from hub.routing.finish import record_key
from hub.routing.quotas import QuotaGate, parse_quotas
from hub.routing.router import RouterDeps, desks_for
from hub.wire import (
    JLIS,
    JLIS_PKI,
    ChangeEvent,
    Delivered,
    Enroll,
    Enrolled,
    Envelope,
    Fact,
    ForwardedChange,
    ForwardedEnroll,
    ForwardedIdentify,
    ForwardedNotice,
    ForwardedQuery,
    Identified,
    Identify,
    Notice,
    Query,
    Refused,
    Resolved,
    TimedOut,
)
from tests.unit.router.desk_fakes import (
    CHILD,
    KEYS,
    NOW,
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
    context,
    forwarder,
    token,
)


def envelope(ctx: Any) -> Envelope:
    return Envelope(
        message_id=ctx.query_id,
        correlation_id=ctx.query_id,
        sender=ctx.requester,
        recipient=ctx.provider,
        affair=ctx.affair,
        issued_at=NOW,
        deadline=ctx.deadline,
        traceparent=ctx.traceparent,
    )


def query_desk(bus: FakeBus, tokens: FakeTokens, directory: Any = None) -> QueryDesk:
    directory = directory or MemoryDirectory()
    out = forwarder(bus)
    apps = ApplicationDesk(tokens=tokens, registry=REGISTRY, directory=directory, keys=KEYS)  # type: ignore[arg-type]
    portal = PortalDesk(tokens, REGISTRY, directory, None, out, apps)  # type: ignore[arg-type]
    return QueryDesk(
        table=TABLE,
        registry=REGISTRY,
        tokens=tokens,  # type: ignore[arg-type]
        directory=directory,
        forwarder=out,
        portal=portal,
    )


def query(ctx: Any, **extra: Any) -> Query:
    return Query(
        envelope=envelope(ctx), person=token("p1", ctx.requester), items=ctx.items, **extra
    )


# ---- the query desk ---------------------------------------------------------------------------


async def test_a_lawful_query_goes_to_its_provider_under_the_providers_token() -> None:
    bus, tokens = FakeBus(), FakeTokens()
    ctx = context("query", CHILD, TAX, "child_allowance", ("local_tax",))
    ctx, outcome = await query_desk(bus, tokens).handle(query(ctx), ctx)
    assert outcome is None  # the provider's reply (or the deadline) finishes it
    assert ctx.person == token("p1", "hub")  # recorded under the hub's token for the person
    [(key, fwd)] = bus.sent()
    assert key == f"office.{TAX}.in" and isinstance(fwd, ForwardedQuery)
    assert (fwd.person, fwd.requester) == (token("p1", TAX), CHILD)
    assert fwd.seal_to == KEYS[CHILD].seal_b64
    assert SEALER.open(fwd.context) == ctx  # any worker can finish it from the reply


async def test_a_query_the_law_does_not_allow_is_refused_under_the_person() -> None:
    bus, tokens = FakeBus(), FakeTokens()
    ctx = context("query", CHILD, TAX, "public_assistance", ("local_tax",))
    ctx, outcome = await query_desk(bus, tokens).handle(query(ctx), ctx)
    assert isinstance(outcome, Refused) and outcome.code.startswith("routing.")
    assert ctx.person == token("p1", "hub") and bus.sent() == []


async def test_a_refused_translation_ends_the_query_and_forwards_nothing() -> None:
    bus = FakeBus()
    refusal = Refused(code="token.unknown", reason="no such token")
    ctx = context("query", CHILD, TAX, "child_allowance", ("local_tax",))
    ctx, outcome = await query_desk(bus, FakeTokens(refuse=refusal)).handle(query(ctx), ctx)
    assert outcome == refusal and ctx.person == "" and bus.sent() == []


async def test_only_the_portal_sends_a_document() -> None:
    bus, tokens = FakeBus(), FakeTokens()
    ctx = context("query", CHILD, TAX, "child_allowance", ("local_tax",))
    msg = query(ctx, document=SEALED)
    _, outcome = await query_desk(bus, tokens).handle(msg, ctx)
    assert isinstance(outcome, Refused) and outcome.code == "hub.unexpected_document"
    assert tokens.asked == [] and bus.sent() == []


async def test_the_portals_query_follows_the_portal_rules() -> None:
    bus, tokens = FakeBus(), FakeTokens()
    ctx = context("query", PORTAL, TAX, "self_information", ("local_tax",))
    ctx, outcome = await query_desk(bus, tokens).handle(query(ctx), ctx)
    assert outcome is None
    [(key, fwd)] = bus.sent()
    assert key == f"office.{TAX}.in" and fwd.person == token("p1", TAX)
    withheld = context("query", PORTAL, TAX, "self_information", ("local_tax",))
    _, outcome = await query_desk(bus, tokens).handle(query(withheld, not_disclosed=True), withheld)
    assert isinstance(outcome, Refused) and outcome.code == "routing.not_withholdable"


async def test_the_hub_says_where_the_portal_files_an_application() -> None:
    bus, tokens = FakeBus(), FakeTokens()
    ctx = context("query", PORTAL, "hub", "application", ("tax_return",))
    _, outcome = await query_desk(bus, tokens).handle(query(ctx), ctx)
    assert outcome is not None and outcome.status == "ok" and bus.sent() == []


# ---- enrollment -------------------------------------------------------------------------------


def enrollment_desk(bus: FakeBus, quotas: QuotaGate | None = None) -> EnrollmentDesk:
    return EnrollmentDesk(
        registry=REGISTRY,
        tokens=FakeTokens(),  # type: ignore[arg-type]
        directory=MemoryDirectory(),
        forwarder=forwarder(bus),
        clock=lambda: NOW,
        quotas=quotas,
    )


async def test_an_enrollment_goes_sealed_to_jlis() -> None:
    bus = FakeBus()
    ctx = context("enroll", CHILD, JLIS, "enrollment")
    _, outcome = await enrollment_desk(bus).handle(
        Enroll(envelope=envelope(ctx), number=SEALED), ctx
    )
    assert outcome is None
    [(key, fwd)] = bus.sent()
    assert key == f"office.{JLIS}.in" and isinstance(fwd, ForwardedEnroll)
    assert fwd.number == SEALED and fwd.requester == CHILD


@pytest.mark.parametrize(("provider", "affair"), [(TAX, "enrollment"), (JLIS, "child_allowance")])
async def test_an_enrollment_elsewhere_is_refused(provider: str, affair: str) -> None:
    bus = FakeBus()
    ctx = context("enroll", CHILD, provider, affair)
    _, outcome = await enrollment_desk(bus).handle(
        Enroll(envelope=envelope(ctx), number=SEALED), ctx
    )
    assert isinstance(outcome, Refused) and outcome.code == "hub.bad_enrollment"
    assert bus.sent() == []


ENROLL_QUOTAS = """
version = "t"
[default]
per_second = 1000
burst = 1000
[enrollment]
per_second = 0.001
burst = 2
"""


async def test_enrollments_beyond_the_quota_are_refused_with_a_retry_after() -> None:
    """Two desks (two hub workers) with the same shared buckets: together they let the
    office's burst through, not twice it; the office's queries are untouched."""
    bus = FakeBus()
    store = MemoryQuotaStore()
    limits = parse_quotas(ENROLL_QUOTAS, REGISTRY, TABLE)
    desks = [enrollment_desk(bus, QuotaGate(limits, store, clock=lambda: NOW)) for _ in range(2)]
    outcomes = []
    for i in range(4):
        ctx = context("enroll", CHILD, JLIS, "enrollment")
        msg = Enroll(envelope=envelope(ctx), number=SEALED)
        outcomes.append((await desks[i % 2].handle(msg, ctx))[1])
    assert outcomes[:2] == [None, None]
    for refusal in outcomes[2:]:
        assert isinstance(refusal, Refused) and refusal.code == ROUTING_QUOTA_EXCEEDED
        assert refusal.retry_after is not None and refusal.retry_after > 0
    assert len(bus.sent()) == 2
    gate = QuotaGate(limits, store, clock=lambda: NOW)
    assert await gate.check(CHILD, "child_allowance") is None  # its query bucket is its own


async def test_a_bad_enrollment_takes_no_token() -> None:
    """The checks that need nothing come first: a misaddressed enrollment is refused as such
    and leaves the office's bucket as it was."""
    store = MemoryQuotaStore()
    limits = parse_quotas(ENROLL_QUOTAS, REGISTRY, TABLE)
    desk = enrollment_desk(FakeBus(), QuotaGate(limits, store, clock=lambda: NOW))
    for _ in range(3):
        ctx = context("enroll", CHILD, TAX, "enrollment")
        _, outcome = await desk.handle(Enroll(envelope=envelope(ctx), number=SEALED), ctx)
        assert isinstance(outcome, Refused) and outcome.code == "hub.bad_enrollment"
    ctx = context("enroll", CHILD, JLIS, "enrollment")
    _, outcome = await desk.handle(Enroll(envelope=envelope(ctx), number=SEALED), ctx)
    assert outcome is None


async def test_jlis_resolving_a_number_gives_the_office_its_token() -> None:
    ctx = context("enroll", "nenkin", JLIS, "enrollment")  # national: may hold anyone
    ctx, outcome = await enrollment_desk(FakeBus()).complete(ctx, Resolved(rrc=SEALED))
    assert outcome == Enrolled(token=token("p1", "nenkin"))
    assert ctx.person == token("p1", "hub")


async def test_a_municipality_does_not_enroll_another_ones_resident() -> None:
    ctx = context("enroll", CHILD, JLIS, "enrollment")
    _, outcome = await enrollment_desk(FakeBus()).complete(
        ctx, Resolved(rrc=SEALED, municipality="131041")
    )
    assert isinstance(outcome, Refused) and outcome.code == "hub.not_resident_here"


@pytest.mark.parametrize(
    "mismatched", [("name",), ("address",), ("birth_date",), ("sex",), ("name", "sex")]
)
async def test_facts_jlis_does_not_bear_out_refuse_the_enrollment_under_the_person(
    mismatched: tuple[Fact, ...],
) -> None:
    ctx = context("enroll", "nenkin", JLIS, "enrollment")  # one that may hold anyone
    ctx, outcome = await enrollment_desk(FakeBus()).complete(
        ctx, Resolved(rrc=SEALED, mismatched=mismatched)
    )
    assert isinstance(outcome, Refused) and outcome.code == "hub.identity_mismatch"
    assert all(f"({fact})" in outcome.reason for fact in mismatched)
    assert "番号法 第16条" in outcome.reason
    assert ctx.person == token("p1", "hub")  # filed under the person: they see who tried


# ---- identify and notices ---------------------------------------------------------------------


async def test_only_the_portal_identifies_and_only_at_jlis_pki() -> None:
    bus = FakeBus()
    desk = IdentifyDesk(registry=REGISTRY, tokens=FakeTokens(), forwarder=forwarder(bus))  # type: ignore[arg-type]
    ctx = context("identify", CHILD, JLIS_PKI, "portal_login")
    msg = Identify(envelope=envelope(ctx), certificate=SEALED)
    assert (await desk.handle(msg, ctx))[1].code == "hub.not_a_portal"  # type: ignore[union-attr]
    ctx = context("identify", PORTAL, JLIS, "portal_login")
    assert (await desk.handle(msg, ctx))[1].code == "hub.bad_identify"  # type: ignore[union-attr]
    ctx = context("identify", PORTAL, JLIS_PKI, "portal_login")
    assert (await desk.handle(msg, ctx))[1] is None
    [(key, fwd)] = bus.sent()
    assert key == f"office.{JLIS_PKI}.in" and isinstance(fwd, ForwardedIdentify)
    ctx, outcome = await desk.complete(ctx, Identified(token=token("p1", JLIS_PKI)))
    assert outcome == Enrolled(token=token("p1", PORTAL)) and ctx.person == token("p1", "hub")


def notice_desk(bus: FakeBus, directory: MemoryDirectory) -> NoticeDesk:
    return NoticeDesk(
        registry=REGISTRY,
        tokens=FakeTokens(),  # type: ignore[arg-type]
        directory=directory,
        forwarder=forwarder(bus),
    )


async def test_a_notice_reaches_the_portal_under_the_portals_token() -> None:
    bus, directory = FakeBus(), MemoryDirectory()
    await directory.enrolled(token("p1", "hub"), TAX, NOW - dt.timedelta(days=30))
    desk = notice_desk(bus, directory)
    ctx = context("notice", TAX, PORTAL, "notice")
    msg = Notice(envelope=envelope(ctx), person=token("p1", TAX), body=SEALED)
    assert (await desk.handle(msg, ctx))[1] == Delivered()
    [(key, fwd)] = bus.sent()
    assert key == f"office.{PORTAL}.in" and isinstance(fwd, ForwardedNotice)
    assert (fwd.person, fwd.origin) == (token("p1", PORTAL), TAX)
    elsewhere = replace(ctx, provider=CHILD)
    _, outcome = await desk.handle(msg, elsewhere)
    assert isinstance(outcome, Refused) and outcome.code == "hub.not_a_portal"
    bus.unroutable.add(PORTAL)
    _, outcome = await desk.handle(msg, ctx)
    assert outcome.status == "error" and outcome.code == "hub.provider_unreachable"  # type: ignore[union-attr]


async def test_a_notice_comes_only_from_an_office_that_holds_the_person_now() -> None:
    """A dishonest office with a valid token of its own for a person it does not hold (never
    enrolled, or its holding ended: the resident moved away) cannot notify them."""
    bus, directory = FakeBus(), MemoryDirectory()
    hub_p1 = token("p1", "hub")
    await directory.enrolled(hub_p1, CHILD, NOW - dt.timedelta(days=30))
    desk = notice_desk(bus, directory)
    never = context("notice", TAX, PORTAL, "notice")
    msg = Notice(envelope=envelope(never), person=token("p1", TAX), body=SEALED)
    _, outcome = await desk.handle(msg, never)
    assert isinstance(outcome, Refused) and outcome.code == "hub.not_a_holder"
    held = context("notice", CHILD, PORTAL, "notice")
    msg = Notice(envelope=envelope(held), person=token("p1", CHILD), body=SEALED)
    assert (await desk.handle(msg, held))[1] == Delivered()
    await directory.ended(hub_p1, [CHILD], NOW)
    _, outcome = await desk.handle(msg, held)
    assert isinstance(outcome, Refused) and outcome.code == "hub.not_a_holder"
    assert len(bus.sent()) == 1  # only the holder's notice left the hub


# ---- change events ----------------------------------------------------------------------------


async def test_a_death_reaches_every_holder_and_ends_every_holding() -> None:
    bus, directory = FakeBus(), MemoryDirectory()
    hub_p1 = token("p1", "hub")
    for office in (REGISTER, TAX, CHILD):
        await directory.enrolled(hub_p1, office, NOW - dt.timedelta(days=30))
    desk = ChangeDesk(
        registry=REGISTRY, tokens=FakeTokens(), directory=directory, forwarder=forwarder(bus)
    )  # type: ignore[arg-type]
    ctx = context("change", REGISTER, "hub", "change_notice", ("death",))
    msg = ChangeEvent(
        envelope=envelope(ctx), person=token("p1", REGISTER), change="death", effective=NOW.date()
    )
    ctx, outcome = await desk.handle(msg, ctx)
    assert outcome == Delivered() and ctx.person == hub_p1
    sent = dict(bus.sent())
    assert set(sent) == {f"office.{TAX}.in", f"office.{CHILD}.in"}
    assert all(isinstance(f, ForwardedChange) and f.origin == REGISTER for f in sent.values())
    assert sent[f"office.{TAX}.in"].person == token("p1", TAX)
    assert all(e.until is not None for e in await directory.holders(hub_p1))


async def test_only_a_register_reports_changes() -> None:
    bus = FakeBus()
    desk = ChangeDesk(
        registry=REGISTRY,
        tokens=FakeTokens(),
        directory=MemoryDirectory(),
        forwarder=forwarder(bus),
    )  # type: ignore[arg-type]
    ctx = context("change", TAX, "hub", "change_notice", ("death",))
    msg = ChangeEvent(
        envelope=envelope(ctx), person=token("p1", TAX), change="death", effective=NOW.date()
    )
    _, outcome = await desk.handle(msg, ctx)
    assert isinstance(outcome, Refused) and outcome.code == HUB_NOT_A_REGISTER and bus.sent() == []


# ---- the forwarder and the table --------------------------------------------------------------


async def test_the_forwarder_times_out_what_it_cannot_send_in_time() -> None:
    bus = FakeBus()
    out = forwarder(bus)
    ctx = context("query", CHILD, TAX, "child_allowance", ("local_tax",))
    fwd = ForwardedEnroll(
        envelope=out.envelope(ctx, TAX), requester=CHILD, number=SEALED, context="x"
    )
    late = replace(ctx, deadline=NOW - dt.timedelta(seconds=1))
    assert isinstance(await out.forward(late, fwd), TimedOut) and bus.sent() == []
    bus.unroutable.add(TAX)
    outcome = await out.forward(ctx, fwd)
    assert outcome is not None and outcome.code == "hub.provider_unreachable"  # type: ignore[union-attr]


async def test_the_deadline_is_kept_with_the_query() -> None:
    """No timer in the worker: the query's deadline, its record key and its context (sealed,
    as the forwarded message carries it) are left in the deadline store, with the query."""
    bus = FakeBus()
    out = forwarder(bus)
    ctx = context("query", CHILD, TAX, "child_allowance", ("local_tax",))
    soon = replace(ctx, deadline=NOW + dt.timedelta(seconds=4))
    fwd = ForwardedEnroll(
        envelope=out.envelope(soon, TAX), requester=CHILD, number=SEALED, context=out.seal(soon)
    )
    assert await out.forward(soon, fwd) is None
    [pending] = bus.deadlines.pending()
    assert pending.key == record_key(CHILD, soon.query_id) and pending.deadline == soon.deadline
    assert SEALER.open(pending.context) == soon
    assert [ex for ex, _, _ in bus.published] == ["renkei.offices"]


class FailingDeadlines:
    async def add(self, pending: Any) -> None:
        raise ConnectionResetError("the database is gone")


async def test_a_deadline_the_store_did_not_take_fails_the_forward() -> None:
    """Then the request is not acknowledged: another delivery forwards it again, with its
    deadline (a provider's answer to either copy finishes it once)."""
    bus = FakeBus()
    out = forwarder(bus)
    out._deadlines = FailingDeadlines()  # type: ignore[assignment]
    ctx = context("query", CHILD, TAX, "child_allowance", ("local_tax",))
    fwd = ForwardedEnroll(
        envelope=out.envelope(ctx, TAX), requester=CHILD, number=SEALED, context="x"
    )
    with pytest.raises(ConnectionResetError):
        await out.forward(ctx, fwd)


async def test_deadlines_forwarded_together_share_one_write() -> None:
    """The natural batch: what a worker forwards at once goes to the store in one write, up to
    DEADLINE_BATCH each."""
    bus = FakeBus()
    out = forwarder(bus)
    writes: list[int] = []
    add = bus.deadlines.add

    async def counted(pending: Any) -> None:
        writes.append(len(pending))
        await add(pending)

    bus.deadlines.add = counted  # type: ignore[method-assign]
    base = context("query", CHILD, TAX, "child_allowance", ("local_tax",))
    ctxs = [
        replace(base, query_id=uuid.uuid4(), deadline=NOW + dt.timedelta(seconds=s))
        for s in [4] * (DEADLINE_BATCH + 6) + [40] * 3
    ]

    async def one(ctx: Context) -> Any:
        fwd = ForwardedEnroll(
            envelope=out.envelope(ctx, TAX), requester=CHILD, number=SEALED, context="x"
        )
        return await out.forward(ctx, fwd)

    assert await asyncio.gather(*(one(c) for c in ctxs)) == [None] * len(ctxs)
    assert writes == [DEADLINE_BATCH, 9]  # all there when the first write starts
    kept = {p.key for p in bus.deadlines.pending()}
    assert kept == {record_key(CHILD, c.query_id) for c in ctxs}


def test_one_desk_per_request_type_each_with_its_own_kind() -> None:
    deps = RouterDeps(
        bus=FakeBus(),  # type: ignore[arg-type]
        table=TABLE,
        registry=REGISTRY,
        keys=KEYS,
        hub_keys=None,  # type: ignore[arg-type]
        sealer=SEALER,
        finisher=FakeFinisher(),  # type: ignore[arg-type]
        tokens=FakeTokens(),  # type: ignore[arg-type]
        directory=MemoryDirectory(),
        claims=None,  # type: ignore[arg-type]
        deadlines=None,  # type: ignore[arg-type]
    )
    desks = desks_for(deps, forwarder(FakeBus()))
    assert set(desks) == {Query, Enroll, ChangeEvent, Identify, Notice}
    assert {t.model_fields["kind"].default: d.kind for t, d in desks.items()} == {
        "query": "query",
        "enroll": "enroll",
        "change": "change",
        "identify": "identify",
        "notice": "notice",
    }
    assert [t for t, d in desks.items() if d.claims] == [Query]  # only queries are claimed once
