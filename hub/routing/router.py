"""The router: validate → check the sender → check the law → translate → forward → record → reply.

Stateless between messages: what a worker needs to finish a query travels sealed in the
forwarded message (``Context``), so several workers run side by side and any of them takes any
reply. A reply is released only after its access record is durable, and a query id gets one
record and one reply however often its messages are redelivered. A query id is claimed in the
shared records store when the query arrives (``freshness``): a second message under it is
refused before anything is forwarded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from uuid import UUID, uuid4

from hub.bus import Bus, Delivery, OutMessage, Subscription, Unroutable
from hub.directory import Directory
from hub.log import get_logger
from hub.records import Claimer, RecordStore, digest
from hub.routing.changes import fan_out
from hub.routing.context import Context, ContextSealer
from hub.routing.exceptions import ForgedContext, RoutingError
from hub.routing.freshness import MAX_DEADLINE, check_times, seen
from hub.routing.legal import Decision, LegalTable
from hub.routing.limits import Buckets, Rate
from hub.routing.offices import Registry, authorize
from hub.routing.outcomes import Finisher, hub_error, record_key, refused, replay_key
from hub.routing.portal import LOGIN, is_portal
from hub.routing.portal_desk import PortalDesk
from hub.routing.registers import enrollment_refusal
from hub.routing.resolve import reference_date, resolve_provider
from hub.routing.tokens import TokenClient
from hub.wire import (
    HUB,
    JLIS,
    JLIS_PKI,
    SIGNATURE_HEADER,
    Answered,
    BadSignature,
    ChangeEvent,
    Delivered,
    Enroll,
    Enrolled,
    Envelope,
    Failed,
    ForwardedChange,
    ForwardedEnroll,
    ForwardedIdentify,
    ForwardedNotice,
    ForwardedQuery,
    Identified,
    Identify,
    Message,
    NotFound,
    Notice,
    OfficeKeys,
    Outcome,
    ProviderReply,
    PublicKeys,
    Query,
    Refused,
    Resolved,
    TimedOut,
    TokenOk,
    WireError,
    check_content_type,
    decode,
    encode,
    sign,
    verify,
)

__all__ = ["MAX_DEADLINE", "RATE_LIMITED", "Router", "RouterDeps", "utcnow"]

log = get_logger("hub.router")
_ENROLLMENT = "enrollment"
RATE_LIMITED = "hub.enrollment_rate_limited"
_ENROLL_RATE = Rate()


_Request = Query | Enroll | ChangeEvent | Identify | Notice
_Forwarded = (
    ForwardedQuery | ForwardedEnroll | ForwardedChange | ForwardedIdentify | ForwardedNotice
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class RouterDeps:
    bus: Bus
    table: LegalTable
    registry: Registry
    keys: Mapping[str, PublicKeys]  # every identity's public keys, the hub's own included
    hub_keys: OfficeKeys
    sealer: ContextSealer
    finisher: Finisher
    tokens: TokenClient
    directory: Directory
    claims: Claimer  # query ids taken, shared by every hub worker
    records: RecordStore | None = None  # read for disclosures to the portal
    clock: Callable[[], dt.datetime] = utcnow
    enroll_rate: Rate = _ENROLL_RATE  # per office, per worker


class Router:
    def __init__(self, deps: RouterDeps) -> None:
        self._d = deps
        self._portal = PortalDesk(
            tokens=deps.tokens,
            registry=deps.registry,
            directory=deps.directory,
            records=deps.records,
            keys=deps.keys,
        )
        self._timers: dict[UUID, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._subs: list[Subscription] = []
        self._enrollments = Buckets(deps.enroll_rate)

    async def start(self, *, prefetch: int = 200) -> None:
        bus = self._d.bus
        self._subs = [
            await bus.consume("hub.requests", self.on_request, prefetch=prefetch),
            await bus.consume("hub.replies", self.on_reply, prefetch=prefetch),
        ]

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.cancel()
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- inbound: queries and enrollments ---------------------------------------------------

    async def on_request(self, d: Delivery) -> None:
        if d.user_id not in self._d.keys:  # no broker-vouched office to answer or record
            await self._unreadable(d, "hub.unverified_sender", f"no known sender ({d.user_id!r})")
            return
        msg = await self._read(d)
        if msg is None:
            return
        if not isinstance(msg, Query | Enroll | ChangeEvent | Identify | Notice):
            await self._unreadable(d, "hub.unexpected_kind", f"a {msg.kind} is not a request")
            return
        ctx = self._context(msg, d)
        if isinstance(msg, Query) and not await self._first_copy(d, ctx):
            await d.ack()
            return
        outcome = self._check_sender(d, msg) or check_times(msg.envelope, ctx.asked_at)
        if outcome is None and isinstance(msg, Query):
            ctx, outcome = await self._route_query(msg, ctx)
        elif outcome is None and isinstance(msg, Enroll):
            outcome = (
                self._check_enroller(ctx)
                or self._check_enroll_rate(ctx)
                or await self._forward_enroll(msg, ctx)
            )
        elif outcome is None and isinstance(msg, Identify):
            outcome = self._check_identify(ctx) or await self._forward_identify(msg, ctx)
        elif outcome is None and isinstance(msg, Notice):
            outcome = await self._deliver_notice(msg, ctx)
        elif outcome is None and isinstance(msg, ChangeEvent):
            ctx, outcome = await fan_out(
                msg,
                ctx,
                registry=self._d.registry,
                tokens=self._d.tokens,
                directory=self._d.directory,
                envelope_for=lambda office: self._envelope(ctx, office),
                forward=lambda office, fwd: self.publish_to(office, "in", fwd),
            )
        if outcome is not None:  # else the provider's reply (or the deadline) finishes it
            await self._d.finisher.finish(ctx, outcome)
        await d.ack()

    async def _read(self, d: Delivery, *, answer: bool = True) -> Message | None:
        try:
            check_content_type(d.content_type)
            return decode(d.body)
        except WireError as exc:
            await self._unreadable(d, exc.code, str(exc), answer=answer)
            return None

    async def _unreadable(
        self, d: Delivery, code: str, reason: str, *, answer: bool = True
    ) -> None:
        """A message the hub cannot act on: keep it for review and, for a request, tell its
        broker-vouched sender (records are keyed by requester and query id, so a sender can
        only ever mark its own queries). An unreadable reply is only dead-lettered: answering
        or recording it could let one office finish another's query."""
        sender = d.user_id if d.user_id in self._d.keys else None
        query_id = _uuid_or_none(d.correlation_id) or _uuid_or_none(d.message_id)
        if answer and sender is not None and query_id is not None:
            now = self._d.clock()
            ctx = Context(
                kind="query",
                query_id=query_id,
                requester=sender,
                provider="",
                affair="unknown",
                items=(),
                person="",
                asked_at=now,
                deadline=now,
                query_digest=digest(d.body),
                traceparent="",
            )
            await self._d.finisher.finish(ctx, Failed(family="requester", code=code, reason=reason))
        log.warning("unreadable", code=code, reason=reason, sender=d.user_id, queue=d.queue)
        await d.dead_letter(f"{code}: {reason}")

    def _context(self, msg: _Request, d: Delivery) -> Context:
        env = msg.envelope
        now = self._d.clock()
        return Context(
            kind=msg.kind,
            query_id=env.correlation_id,
            # always answer the broker-vouched identity, never a claimed one
            requester=d.user_id or "",
            provider=env.recipient,
            affair=env.affair,
            items=_items(msg),
            person="",
            asked_at=now,
            deadline=min(env.deadline, now + MAX_DEADLINE),
            query_digest=digest(d.body),
            traceparent=env.traceparent,
        )

    async def _first_copy(self, d: Delivery, ctx: Context) -> bool:
        """Claim the query id for its (broker-vouched) requester; False when this message is
        not to be acted on: a redelivery of a finished query, or a replay — which is refused
        and recorded under a key of its own (the query's key is the first copy's)."""
        state = await self._d.claims.claim(
            record_key(ctx.requester, ctx.query_id), ctx.query_digest
        )
        verdict = seen(state, ctx.query_digest, redelivered=d.redelivered)
        if verdict in ("new", "redelivered"):
            return True
        if verdict == "replay":
            why = "this query id was used before by the same requester: a query is answered once"
            outcome = refused("hub.replayed_query", why)
            key = replay_key(ctx.requester, ctx.query_id, ctx.query_digest)
            await self._d.finisher.finish(ctx, outcome, key=key)
        log.info("query.again", query_id=str(ctx.query_id), verdict=verdict, sender=d.user_id)
        return False

    def _check_sender(self, d: Delivery, msg: _Request) -> Outcome | None:
        sender = msg.envelope.sender
        if d.user_id != sender:
            return refused(
                "hub.sender_mismatch",
                f"the message claims to come from {sender!r} but the broker says {d.user_id!r}",
            )
        keys = self._d.keys.get(sender)
        if keys is None:
            return refused("hub.unknown_office", f"{sender!r} is not an office of the network")
        try:
            verify(d.body, d.headers.get(SIGNATURE_HEADER), keys.verify)
        except BadSignature as exc:
            return refused(exc.code, str(exc))
        if msg.envelope.correlation_id != msg.envelope.message_id:
            return refused("hub.bad_query_id", "a request's correlation id must be its message id")
        return None

    async def _route_query(self, msg: Query, ctx: Context) -> tuple[Context, Outcome | None]:
        """The tokens, then the law, then the provider; the first refusal ends it.

        The token comes first so that even a refused query is recorded under the person and
        shows in their やりとり履歴 (a forged token leaves the record without a person). A
        query addressed to the hub itself asks the hub to find the provider (``resolve``).
        """
        d = self._d
        if is_portal(d.registry, ctx.requester):
            return await self._portal.route(msg, ctx, self._forward_query)
        if msg.document is not None:
            return ctx, refused("hub.unexpected_document", "only the portal files applications")
        if ctx.provider == HUB:
            ctx, refusal = await self._resolve(msg, ctx)
            if refusal is not None:
                return ctx, refusal
        result = await d.tokens.translate(msg.person, ctx.requester, (ctx.provider, HUB))
        if not isinstance(result, TokenOk):
            return ctx, result
        provider_token, hub_token = result.tokens
        ctx = replace(ctx, person=hub_token)
        asked = (ctx.requester, ctx.affair, ctx.provider, ctx.items)
        decision = authorize(d.table, d.registry, *asked, ctx.asked_at.date())
        if decision.allowed and msg.not_disclosed:
            ctx, decision = self._withhold(ctx, decision)
        if not decision.allowed:
            return ctx, refused(f"routing.{decision.code}", decision.reason)
        return ctx, await self._forward_query(msg, ctx, provider_token)

    def _withhold(self, ctx: Context, decision: Decision) -> tuple[Context, Decision]:
        """不開示 only where a row of the law allows it, until the end of its period; the
        basis and the end go with the record into the signed flag log."""
        rule = self._d.table.withholding(decision)
        if isinstance(rule, Decision):
            return ctx, rule
        until = rule.until(ctx.asked_at)
        reason = f"withheld at {ctx.requester}'s request until {until:%Y-%m-%d}: {rule.basis}"
        return replace(
            ctx, not_disclosed=True, withheld_until=until, withheld_reason=reason
        ), decision

    async def _resolve(self, msg: Query, ctx: Context) -> tuple[Context, Outcome | None]:
        """Which office may answer and held this person's record on the reference date."""
        d = self._d
        result = await d.tokens.translate(msg.person, ctx.requester, (HUB,))
        if not isinstance(result, TokenOk):
            return ctx, result
        ctx = replace(ctx, person=result.tokens[0])
        on = reference_date(ctx.items, msg.params, ctx.asked_at.date())
        holders = await d.directory.holders(ctx.person)
        asked = (ctx.requester, ctx.affair, ctx.items)
        found = resolve_provider(d.table, d.registry, *asked, holders, on, ctx.asked_at.date())
        if isinstance(found, str):
            return replace(ctx, provider=found), None
        return ctx, found

    def _check_enroller(self, ctx: Context) -> Outcome | None:
        if ctx.provider != JLIS or ctx.affair != _ENROLLMENT:
            return refused(
                "hub.bad_enrollment", "enrollment goes to 'jlis' under affair 'enrollment'"
            )
        if ctx.requester not in self._d.registry:
            return refused(
                "hub.unknown_office", f"{ctx.requester!r} is not an office of the network"
            )
        return None

    def _check_enroll_rate(self, ctx: Context) -> Outcome | None:
        if self._enrollments.take(ctx.requester, ctx.asked_at.timestamp()):
            return None
        rate = self._enrollments.rate
        return refused(
            RATE_LIMITED,
            f"{ctx.requester} enrolls more than {rate.burst} at once or {rate.per_second:g}"
            " a second: try again later",
        )

    async def _forward_query(self, msg: Query, ctx: Context, person: str) -> Outcome | None:
        fwd = ForwardedQuery(
            envelope=self._envelope(ctx, ctx.provider),
            requester=ctx.requester,
            person=person,
            items=msg.items,
            params=msg.params,
            seal_to=self._d.keys[ctx.requester].seal_b64,
            context=self._d.sealer.seal(ctx),
            document=msg.document,
        )
        return await self._forward(ctx, fwd)

    def _check_identify(self, ctx: Context) -> Outcome | None:
        if not is_portal(self._d.registry, ctx.requester):
            return refused("hub.not_a_portal", "only the portal identifies card holders")
        if ctx.provider != JLIS_PKI or ctx.affair != LOGIN:
            return refused(
                "hub.bad_identify", f"identify goes to {JLIS_PKI!r} under affair {LOGIN!r}"
            )
        return None

    async def _forward_identify(self, msg: Identify, ctx: Context) -> Outcome | None:
        fwd = ForwardedIdentify(
            envelope=self._envelope(ctx, JLIS_PKI),
            requester=ctx.requester,
            certificate=msg.certificate,
            context=self._d.sealer.seal(ctx),
        )
        return await self._forward(ctx, fwd)

    async def _deliver_notice(self, msg: Notice, ctx: Context) -> Outcome:
        """お知らせ: an office's notice to a resident, to the portal under the portal's token."""
        d = self._d
        if not is_portal(d.registry, ctx.provider):
            return refused("hub.not_a_portal", f"notices go to the portal, not {ctx.provider!r}")
        result = await d.tokens.translate(msg.person, ctx.requester, (ctx.provider,))
        if not isinstance(result, TokenOk):
            return result
        fwd = ForwardedNotice(
            envelope=self._envelope(ctx, ctx.provider),
            origin=ctx.requester,
            person=result.tokens[0],
            body=msg.body,
        )
        try:
            await self.publish_to(ctx.provider, "in", fwd)
        except Unroutable:
            return hub_error("hub.provider_unreachable", f"no queue for {ctx.provider!r}")
        return Delivered()

    async def _forward_enroll(self, msg: Enroll, ctx: Context) -> Outcome | None:
        fwd = ForwardedEnroll(
            envelope=self._envelope(ctx, JLIS),
            requester=ctx.requester,
            number=msg.number,
            context=self._d.sealer.seal(ctx),
        )
        return await self._forward(ctx, fwd)

    async def _forward(
        self, ctx: Context, fwd: ForwardedQuery | ForwardedEnroll | ForwardedIdentify
    ) -> Outcome | None:
        remaining_ms = int((ctx.deadline - self._d.clock()).total_seconds() * 1000)
        if remaining_ms <= 0:
            return TimedOut(reason="the deadline passed before the query could be forwarded")
        try:
            await self.publish_to(ctx.provider, "in", fwd, expiration_ms=remaining_ms)
        except Unroutable:
            return hub_error("hub.provider_unreachable", f"no queue for {ctx.provider!r}")
        self._arm(ctx, remaining_ms / 1000)
        return None

    # ---- replies from providers -------------------------------------------------------------

    async def on_reply(self, d: Delivery) -> None:
        msg = await self._read(d, answer=False)
        if msg is None:
            return
        if not isinstance(msg, ProviderReply):
            why = f"a {msg.kind} is not a reply"
            await self._unreadable(d, "hub.unexpected_kind", why, answer=False)
            return
        try:
            ctx = self._d.sealer.open(msg.context)
            self._check_provider(d, msg, ctx)
        except (RoutingError, WireError) as exc:
            log.warning("reply.refused", code=exc.code, reason=str(exc), sender=d.user_id)
            await d.dead_letter(f"{exc.code}: {exc}")
            return
        if ctx.kind in ("enroll", "identify") and self._d.clock() > ctx.deadline:
            # the requester was told it timed out: issuing a token now would leave a directory
            # entry the office knows nothing of
            await d.dead_letter("hub.late_enrollment: the enrollment's deadline had passed")
            return
        outcome = _provider_outcome(ctx, msg.outcome)
        if ctx.kind == "enroll":
            outcome, ctx = await self._complete_enrollment(ctx, outcome)
        elif ctx.kind == "identify":
            outcome, ctx = await self._complete_identify(ctx, outcome)
        self._disarm(ctx.query_id)
        await self._d.finisher.finish(ctx, outcome, reply_digest=digest(d.body))
        await d.ack()

    def _check_provider(self, d: Delivery, msg: ProviderReply, ctx: Context) -> None:
        if d.user_id != ctx.provider or msg.envelope.sender != ctx.provider:
            raise ForgedContext(f"{d.user_id!r} answered a query sent to {ctx.provider!r}")
        verify(d.body, d.headers.get(SIGNATURE_HEADER), self._d.keys[ctx.provider].verify)

    async def _complete_enrollment(self, ctx: Context, outcome: Outcome) -> tuple[Outcome, Context]:
        """The office's token — if it may hold the person (``registers``): the refusal is
        recorded under the person, so they see who tried."""
        if not isinstance(outcome, Resolved):
            return outcome, ctx
        d = self._d
        result = await d.tokens.issue(outcome.rrc, (ctx.requester, HUB))
        if not isinstance(result, TokenOk):
            return result, ctx
        ctx = replace(ctx, person=result.tokens[1])
        holders = await d.directory.holders(ctx.person)
        refusal = enrollment_refusal(
            d.registry, ctx.requester, holders, outcome.municipality, d.clock()
        )
        return refusal or Enrolled(token=result.tokens[0]), ctx

    async def _complete_identify(self, ctx: Context, outcome: Outcome) -> tuple[Outcome, Context]:
        if not isinstance(outcome, Identified):
            return outcome, ctx
        result = await self._d.tokens.translate(outcome.token, JLIS_PKI, (ctx.requester, HUB))
        if not isinstance(result, TokenOk):
            return result, ctx
        return Enrolled(token=result.tokens[0]), replace(ctx, person=result.tokens[1])

    # ---- deadlines --------------------------------------------------------------------------

    def _arm(self, ctx: Context, delay: float) -> None:
        self._disarm(ctx.query_id)
        loop = asyncio.get_running_loop()
        self._timers[ctx.query_id] = loop.call_later(delay, self._expire, ctx)

    def _disarm(self, query_id: UUID) -> None:
        handle = self._timers.pop(query_id, None)
        if handle is not None:
            handle.cancel()

    def _expire(self, ctx: Context) -> None:
        self._timers.pop(ctx.query_id, None)
        outcome = TimedOut(reason=f"{ctx.provider} did not answer before the deadline")
        task = asyncio.create_task(self._d.finisher.finish(ctx, outcome))
        self._tasks.add(task)
        task.add_done_callback(self._expired)

    def _expired(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("timeout.unrecorded", error=repr(task.exception()))

    # ---- publishing -------------------------------------------------------------------------

    def _envelope(self, ctx: Context, recipient: str) -> Envelope:
        return Envelope(
            message_id=uuid4(),
            correlation_id=ctx.query_id,
            sender=HUB,
            recipient=recipient,
            affair=ctx.affair,
            issued_at=self._d.clock(),
            deadline=ctx.deadline,
            traceparent=ctx.traceparent,
        )

    async def publish_to(
        self,
        office: str,
        queue: str,
        msg: _Forwarded,
        *,
        expiration_ms: int | None = None,
    ) -> None:
        body = encode(msg)
        out = OutMessage(
            body=body,
            message_id=str(msg.envelope.message_id),
            correlation_id=str(msg.envelope.correlation_id),
            headers={
                SIGNATURE_HEADER: sign(body, self._d.hub_keys.signing),
                "traceparent": msg.envelope.traceparent,
            },
            expiration_ms=expiration_ms,
        )
        await self._d.bus.publish("renkei.offices", f"office.{office}.{queue}", out)


_PROVIDER_FAMILIES = ("provider", "provider_system", "requester")  # never "hub"
_PROVIDER_OUTCOMES: dict[str, tuple[type, ...]] = {
    "enroll": (Resolved, NotFound, Refused, Failed),
    "identify": (Identified, NotFound, Refused, Failed),
}
# what a request that names no items is recorded under (a change: the kind of change)
_ITEMS: dict[str, tuple[str, ...]] = {
    "identify": ("card_holder",),
    "enroll": ("individual_number",),
}
_HUB_CODES = ("hub.", "routing.", "token.", "wire.")


def _provider_outcome(ctx: Context, outcome: Outcome) -> Outcome:
    """What a provider may answer: a provider cannot speak for the hub, the law or the
    requester, nor hand out tokens; anything else is recorded as the provider's failure."""
    allowed = _PROVIDER_OUTCOMES.get(ctx.kind, (Answered, NotFound, Refused, Failed))
    bad = not isinstance(outcome, allowed)
    if isinstance(outcome, Failed) and outcome.family not in _PROVIDER_FAMILIES:
        bad = True
    if isinstance(outcome, Refused | Failed) and outcome.code.startswith(_HUB_CODES):
        bad = True
    if bad:
        return Failed(
            family="provider",
            code="hub.bad_outcome",
            reason=f"{ctx.provider} answered {outcome.status}",
        )
    return outcome


def _items(msg: _Request) -> tuple[str, ...]:
    if isinstance(msg, Query):
        return msg.items
    if isinstance(msg, ChangeEvent):
        return (msg.change,)
    return _ITEMS.get(msg.kind, ())


def _uuid_or_none(text: str | None) -> UUID | None:
    try:
        return UUID(text) if text else None
    except ValueError:
        return None
