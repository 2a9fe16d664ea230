"""The router: validate → check the sender → check the law → translate → forward → record → reply.

Stateless between messages: what a worker needs to finish a query travels sealed in the
forwarded message (``Context``), and its deadline waits in the shared deadline store for any
worker's sweeper (``hub.routing.deadlines``), so several workers run side by side and any of
them takes any reply. A reply is released only after its access record is durable, and a query
id gets one record and one reply however often its messages are redelivered. A query id is
claimed in the shared records store when the query arrives (``freshness``): a second message
under it is refused before anything is forwarded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from hub.bus import (
    HUB_INTERACTIVE,
    HUB_REPLIES,
    HUB_REQUESTS,
    Bus,
    Delivery,
    Subscription,
)
from hub.directory import Directory
from hub.log import get_logger
from hub.records import Claimer, DeadlineStore, RecordStore, digest
from hub.routing.context import Context, ContextSealer
from hub.routing.deadlines import Sweeper
from hub.routing.desks import Desk, Forwarder
from hub.routing.desks.application import ApplicationDesk
from hub.routing.desks.change import ChangeDesk
from hub.routing.desks.enrollment import EnrollmentDesk
from hub.routing.desks.identify import IdentifyDesk
from hub.routing.desks.notice import NoticeDesk
from hub.routing.desks.portal import PortalDesk
from hub.routing.desks.query import QueryDesk
from hub.routing.exceptions import (
    HUB_BAD_OUTCOME,
    HUB_BAD_QUERY_ID,
    HUB_LATE_ENROLLMENT,
    HUB_REPLAYED_QUERY,
    HUB_SENDER_MISMATCH,
    HUB_UNEXPECTED_KIND,
    HUB_UNKNOWN_OFFICE,
    HUB_UNVERIFIED_SENDER,
    ForgedContext,
    RoutingError,
)
from hub.routing.finish import Finisher, record_key, refused, replay_key
from hub.routing.freshness import MAX_DEADLINE, Seen, check_times, seen
from hub.routing.legal import LegalTable
from hub.routing.offices import Registry
from hub.routing.quotas import QuotaGate
from hub.routing.tokens import TokenClient
from hub.tracing import OFF, Tracing, consume, current
from hub.tracing import names as tn
from hub.wire import (
    SIGNATURE_HEADER,
    BadSignature,
    ChangeEvent,
    Enroll,
    Failed,
    Identify,
    Message,
    Notice,
    OfficeKeys,
    Outcome,
    ProviderReply,
    PublicKeys,
    Query,
    Refused,
    TimedOut,
    WireError,
    check_content_type,
    decode,
    verify_by,
)

__all__ = ["Lanes", "Router", "RouterDeps", "desks_for", "utcnow"]

log = get_logger("hub.router")


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
    deadlines: DeadlineStore  # forwarded queries' deadlines, shared by every hub worker
    records: RecordStore | None = None  # read for disclosures to the portal
    clock: Callable[[], dt.datetime] = utcnow
    tracing: Tracing = OFF  # the hub's spans (``hub.tracing``)
    # queries and enrollments per office, shared by every worker (None: none)
    quotas: QuotaGate | None = None


def desks_for(d: RouterDeps, out: Forwarder) -> dict[type[Message], Desk]:
    """The hub's desks, by the request type each one takes."""
    portal = PortalDesk(
        tokens=d.tokens,
        registry=d.registry,
        directory=d.directory,
        records=d.records,
        forwarder=out,
        applications=ApplicationDesk(
            tokens=d.tokens, registry=d.registry, directory=d.directory, keys=d.keys
        ),
    )
    shared: dict[str, Any] = {"registry": d.registry, "tokens": d.tokens, "forwarder": out}
    return {
        Query: QueryDesk(
            table=d.table, directory=d.directory, portal=portal, quotas=d.quotas, **shared
        ),
        Enroll: EnrollmentDesk(directory=d.directory, quotas=d.quotas, clock=d.clock, **shared),
        ChangeEvent: ChangeDesk(directory=d.directory, **shared),
        Identify: IdentifyDesk(**shared),
        Notice: NoticeDesk(directory=d.directory, **shared),
    }


class Router:
    def __init__(self, deps: RouterDeps) -> None:
        self._d = deps
        self._out = Forwarder(
            bus=deps.bus,
            hub_keys=deps.hub_keys,
            keys=deps.keys,
            sealer=deps.sealer,
            deadlines=deps.deadlines,
            clock=deps.clock,
        )
        self._sweeper = Sweeper(
            store=deps.deadlines,
            sealer=deps.sealer,
            finisher=deps.finisher,
            clock=deps.clock,
            tracing=deps.tracing,
        )
        self._tracer = deps.tracing.tracer
        self._desks = desks_for(deps, self._out)
        self._by_kind = {desk.kind: desk for desk in self._desks.values()}
        self._subs: list[Subscription] = []
        self._lanes = Lanes()

    async def start(self, *, prefetch: int = 200) -> None:
        bus, lanes = self._d.bus, self._lanes
        self._subs = [
            await bus.consume(HUB_INTERACTIVE, lanes.first(self.on_request), prefetch=prefetch),
            await bus.consume(HUB_REQUESTS, lanes.then(self.on_request), prefetch=prefetch),
            await bus.consume(HUB_REPLIES, self.on_reply, prefetch=prefetch),
        ]
        self._sweeper.start()

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.cancel()
        await self._sweeper.stop()

    # ---- inbound: the steps every request shares, then its desk ------------------------------

    async def on_request(self, d: Delivery) -> None:
        with current(consume(self._tracer, "process hub.requests", d)) as span:
            await self._on_request(d, span)

    async def _on_request(self, d: Delivery, span: Any) -> None:
        if d.user_id not in self._d.keys:  # no broker-vouched office to answer or record
            await self._unreadable(d, HUB_UNVERIFIED_SENDER, f"no known sender ({d.user_id!r})")
            return
        msg = await self._read(d)
        if msg is None:
            return
        desk = self._desks.get(type(msg))
        if desk is None:
            await self._unreadable(d, HUB_UNEXPECTED_KIND, f"a {msg.kind} is not a request")
            return
        ctx = self._context(msg, desk, d)
        span.add_event("validated")
        if span.is_recording():
            span.set_attributes(self._tags(ctx, msg.envelope.message_id, msg.kind))
        head: object = None
        if desk.claims:  # the desk's head start (quota, tokens) goes with the claim
            first, head = await self._claim(d, ctx, desk, msg)
            if first is None:
                await d.ack()
                return
            span.add_event("claimed")
        outcome = self._check_sender(d, msg) or _times(desk, msg, ctx, d)
        if outcome is None:
            span.add_event("checked")
            ctx, outcome = await desk.handle(msg, ctx, head)
        if outcome is not None:  # else the provider's reply (or the deadline) finishes it
            # redelivered: another worker may have recorded (and held) its own answer first
            await self._d.finisher.finish(ctx, outcome, redelivered=d.redelivered)
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
                deadline=now + MAX_DEADLINE,  # answered as it is, not as late
                query_digest=digest(d.body),
                traceparent="",
            )
            await self._d.finisher.finish(ctx, Failed(family="requester", code=code, reason=reason))
        log.warning("unreadable", code=code, reason=reason, sender=d.user_id, queue=d.queue)
        await d.dead_letter(f"{code}: {reason}")

    def _context(self, msg: Any, desk: Desk, d: Delivery) -> Context:
        env = msg.envelope
        now = self._d.clock()
        return Context(
            kind=msg.kind,
            query_id=env.correlation_id,
            # always answer the broker-vouched identity, never a claimed one
            requester=d.user_id or "",
            provider=env.recipient,
            affair=env.affair,
            items=desk.items(msg),
            person="",
            asked_at=now,
            deadline=min(env.deadline, now + MAX_DEADLINE),
            query_digest=digest(d.body),
            traceparent=env.traceparent,
        )

    async def _claim(
        self, d: Delivery, ctx: Context, desk: Desk, msg: Any
    ) -> tuple[Seen | None, object]:
        """The claim (``_first_copy``) and the desk's head start, at once; a redelivery's claim
        goes first, alone: whether an earlier run went for the query's token is in it (the two go
        together); the redelivered mark alone is no token taken — the earlier run may have
        died, or been held through an outage (``run_handler``), before either."""
        if d.redelivered:
            first = await self._first_copy(d, ctx)
            if first is None:
                return None, None
            return first, await desk.ahead(msg, ctx, claimed=first == "redelivered")
        verdict, head = await asyncio.gather(
            self._first_copy(d, ctx), desk.ahead(msg, ctx), return_exceptions=True
        )
        for failed in (verdict, head):  # both have ended: no exception is left unheard
            if isinstance(failed, BaseException):
                raise failed
        assert not isinstance(verdict, BaseException)
        return verdict, head

    async def _first_copy(self, d: Delivery, ctx: Context) -> Seen | None:
        """Claim the query id for its (broker-vouched) requester: ``new`` or ``redelivered``
        (an earlier run of this very message claimed it) to act on it; None when this message
        is not to be acted on: a redelivery of a finished query, or a replay — which is refused
        and recorded under a key of its own (the query's key is the first copy's)."""
        state = await self._d.claims.claim(
            record_key(ctx.requester, ctx.query_id), ctx.query_digest
        )
        verdict = seen(state, ctx.query_digest, redelivered=d.redelivered)
        if verdict in ("new", "redelivered"):
            return verdict
        if verdict == "replay":
            why = "this query id was used before by the same requester: a query is answered once"
            outcome = refused(HUB_REPLAYED_QUERY, why)
            key = replay_key(ctx.requester, ctx.query_id, ctx.query_digest)
            await self._d.finisher.finish(ctx, outcome, key=key)
        elif verdict == "done":  # recorded: its reply may not have gone out
            await self._d.finisher.again(ctx)
        log.info("query.again", query_id=str(ctx.query_id), verdict=verdict, sender=d.user_id)
        return None

    def _check_sender(self, d: Delivery, msg: Any) -> Outcome | None:
        sender = msg.envelope.sender
        if d.user_id != sender:
            return refused(
                HUB_SENDER_MISMATCH,
                f"the message claims to come from {sender!r} but the broker says {d.user_id!r}",
            )
        keys = self._d.keys.get(sender)
        if keys is None:
            return refused(HUB_UNKNOWN_OFFICE, f"{sender!r} is not an office of the network")
        try:
            verify_by(d.body, d.headers.get(SIGNATURE_HEADER), keys)
        except BadSignature as exc:
            return refused(exc.code, str(exc))
        if msg.envelope.correlation_id != msg.envelope.message_id:
            return refused(HUB_BAD_QUERY_ID, "a request's correlation id must be its message id")
        return None

    # ---- replies from providers -------------------------------------------------------------

    def _tags(self, ctx: Context, message_id: UUID, kind: str) -> dict[str, Any]:
        """What the hub's span says of a message: ids, kind, offices, affair, items."""
        tags: dict[str, Any] = {
            tn.MESSAGE_ID: str(message_id),
            tn.CONVERSATION_ID: str(ctx.query_id),
            tn.KIND: kind,
            tn.REQUESTER: ctx.requester,
            tn.AFFAIR: ctx.affair,
        }
        if ctx.provider in self._d.keys:  # a known office only: the name is the sender's word
            tags[tn.PROVIDER] = ctx.provider
        if ctx.items:
            tags[tn.ITEMS] = ctx.items
        return tags

    async def on_reply(self, d: Delivery) -> None:
        with current(consume(self._tracer, "process hub.replies", d)) as span:
            await self._on_reply(d, span)

    async def _on_reply(self, d: Delivery, span: Any) -> None:
        msg = await self._read(d, answer=False)
        if msg is None:
            return
        if not isinstance(msg, ProviderReply):
            why = f"a {msg.kind} is not a reply"
            await self._unreadable(d, HUB_UNEXPECTED_KIND, why, answer=False)
            return
        try:
            ctx = self._d.sealer.open(msg.context)
            self._check_provider(d, msg, ctx)
        except (RoutingError, WireError) as exc:
            log.warning("reply.refused", code=exc.code, reason=str(exc), sender=d.user_id)
            await d.dead_letter(f"{exc.code}: {exc}")
            return
        desk = self._by_kind[ctx.kind]
        if span.is_recording():  # the request's own span names the offices and the affair
            qid, mid = str(ctx.query_id), str(msg.envelope.message_id)
            span.set_attributes({tn.MESSAGE_ID: mid, tn.CONVERSATION_ID: qid, tn.KIND: ctx.kind})
        if desk.void_when_late and self._d.clock() > ctx.deadline:
            await d.dead_letter(f"{HUB_LATE_ENROLLMENT}: the enrollment's deadline had passed")
            return
        ctx, outcome = await desk.complete(ctx, _provider_outcome(ctx, msg.outcome, desk.answers))
        await self._d.finisher.finish(
            ctx, outcome, reply_digest=digest(d.body), redelivered=d.redelivered
        )
        await d.ack()

    def _check_provider(self, d: Delivery, msg: ProviderReply, ctx: Context) -> None:
        if d.user_id != ctx.provider or msg.envelope.sender != ctx.provider:
            raise ForgedContext(f"{d.user_id!r} answered a query sent to {ctx.provider!r}")
        verify_by(d.body, d.headers.get(SIGNATURE_HEADER), self._d.keys[ctx.provider])


Handler = Callable[[Delivery], Awaitable[None]]


class Lanes:
    """Interactive before batch, within a worker: a request of the batch lane (``hub.requests``)
    starts only while no request of the interactive lane (``hub.interactive``) is in hand, so a
    batch flood's deliveries wait at the door and the interactive ones go through a worker that
    is not busy with them. A request in hand is brief (the hub forwards and returns; the reply is
    another message), and the interactive lane is bounded by its offices' quotas; which offices
    may use it the broker decides (``hub.bus.topology``)."""

    def __init__(self) -> None:
        self._busy = 0
        self._clear = asyncio.Event()
        self._clear.set()

    def first(self, handler: Handler) -> Handler:
        async def interactive(d: Delivery) -> None:
            self._busy += 1
            self._clear.clear()
            try:
                await handler(d)
            finally:
                self._busy -= 1
                if not self._busy:
                    self._clear.set()

        return interactive

    def then(self, handler: Handler) -> Handler:
        async def batch(d: Delivery) -> None:
            await self._clear.wait()
            await handler(d)

        return batch


_PROVIDER_FAMILIES = ("provider", "provider_system", "requester")  # never "hub"
_HUB_CODES = ("hub.", "routing.", "token.", "wire.")


def _provider_outcome(ctx: Context, outcome: Outcome, allowed: tuple[type, ...]) -> Outcome:
    """What a provider may answer: a provider cannot speak for the hub, the law or the
    requester, nor hand out tokens; anything else is recorded as the provider's failure."""
    bad = not isinstance(outcome, allowed)
    if isinstance(outcome, Failed) and outcome.family not in _PROVIDER_FAMILIES:
        bad = True
    if isinstance(outcome, Refused | Failed) and outcome.code.startswith(_HUB_CODES):
        bad = True
    if bad:
        return Failed(
            family="provider",
            code=HUB_BAD_OUTCOME,
            reason=f"{ctx.provider} answered {outcome.status}",
        )
    return outcome


def _uuid_or_none(text: str | None) -> UUID | None:
    try:
        return UUID(text) if text else None
    except ValueError:
        return None


def _times(desk: Desk, msg: Message, ctx: Context, d: Delivery) -> Outcome | None:
    """``check_times``, but a request of a desk that sends on late (``Desk.resent_late``: a
    change event) is sent on even past its deadline when the broker redelivers it: the hub
    that had it first may have sent it on before dying unrecorded, and the holders keep an
    event once — recorded delivered, never a time-out its holders contradict."""
    found = check_times(msg.envelope, ctx.asked_at)
    if isinstance(found, TimedOut) and desk.resent_late and d.redelivered:
        return None
    return found
