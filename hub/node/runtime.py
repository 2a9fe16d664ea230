"""The participant runtime: how every office joins the network — the portal and J-LIS's
certification service too.

An office maps its own data to and from the wire, nothing more. ``OfficeNode`` does everything
else — signing, sealing, the bus, deadlines, many queries in flight — so an office's own code is
its role objects (``hub.node.roles``: a ``Provider`` answers a query about one of its people, by
its own token, ...) and calls to ``ask``, ``file``, ``enroll``, ``report_change``,
``identify`` and ``notify``. It never touches the transport library.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from hub.bus import (
    HUB_EXCHANGE,
    RK_CHANGE,
    RK_ENROLL,
    RK_IDENTIFY,
    RK_NOTICE,
    RK_QUERY,
    RK_REPLY,
    Bus,
    BusError,
    Delivery,
    Rejected,
    office_in,
    office_replies,
    signed_message,
)
from hub.log import get_logger
from hub.metrics import METRICS
from hub.node.backoff import Backoff
from hub.node.exceptions import (
    OFFICE_BACK_PRESSURE,
    OFFICE_NO_APPLICATIONS,
    OFFICE_NO_JLIS_KEY,
    OFFICE_NOT_A_PROVIDER,
    OFFICE_NOT_FROM_HUB,
    OFFICE_SYSTEM_ERROR,
    OFFICE_TIMED_OUT,
    OFFICE_UNEXPECTED,
    OFFICE_UNREADABLE_ANSWER,
    OFFICE_UNSENDABLE_ANSWER,
    ApplicationRefused,
    BadRequest,
    EnrollmentRefused,
    NoRecord,
    NotIdentified,
    QueryRefused,
)
from hub.node.roles import Roles
from hub.node.store import OfficeStore
from hub.tracing import OFF, Span, SpanKind, Tracing, consume, current, traceparent
from hub.tracing import names as tn
from hub.wire import (
    HUB,
    JLIS,
    JLIS_PKI,
    SIGNATURE_HEADER,
    AccessEvent,
    Answered,
    AnySealed,
    Change,
    ChangeEvent,
    Enroll,
    Enrolled,
    Envelope,
    Facts,
    Failed,
    ForwardedChange,
    ForwardedEnroll,
    ForwardedIdentify,
    ForwardedNotice,
    ForwardedQuery,
    Identify,
    Message,
    NotFound,
    Notice,
    OfficeKeys,
    Outcome,
    Presented,
    ProviderReply,
    PublicKeys,
    Query,
    Refused,
    Reply,
    TimedOut,
    WireError,
    decode,
    new_traceparent,
    open_sealed,
    outcome_code,
    outcome_reason,
    seal,
    seal_key,
    verify_by,
)

__all__ = ["EVENTS", "Answer", "OfficeNode"]

log = get_logger("hub.node")
# ``file``'s resends of an application that timed out: pauses of 1, 2, 4, 8, 16, then 30 s at
# most (full jitter), twenty sends in all — at most about nine minutes with the portal's 4 s
# deadline (an outage of a RabbitMQ node's whole restart, 70 s on a busy machine, used up the
# six sends of a first bound: the office filed the last one and the portal gave up)
RESEND = Backoff(first=1.0, factor=2.0, most=30.0, attempts=20)
_NOT_ITS_WORD = ("hub.", "office.")  # codes of the hub's or the node's own, not a provider's
EVENTS = "_events"  # the store's collection of change events received
GRACE = dt.timedelta(seconds=1)  # how long past the deadline we wait for the hub's own answer


_Request = Query | Enroll | ChangeEvent | Identify | Notice


@dataclass(frozen=True, slots=True)
class Answer:
    """What ``ask`` returns: the opened answer, or why there is none."""

    query_id: uuid.UUID
    status: str  # ok | refused | not_found | error | timed_out
    data: Mapping[str, Any] | None = None
    code: str = ""
    reason: str = ""
    record_id: uuid.UUID | None = None
    seconds: float = 0.0
    retry_after: float | None = None  # a refusal that may go through later (a quota's)
    attempts: int = 1  # sends of the query (``ask`` retries refused and rejected sends)
    earlier: tuple[uuid.UUID, ...] = ()  # ``file``: the sends before this one (none known)

    @property
    def unknown(self) -> bool:
        """Whether it leaves unknown what the provider did (an application: whether it is
        filed): a time-out; or, after a send that timed out (``earlier``), an answer that is
        not the provider's word (the hub's failure or refusal, this node's: ``hub.``,
        ``office.`` — a send that never reached the office says nothing of the one before it,
        which may be filed)."""
        if self.status == "timed_out":
            return True
        return bool(self.earlier) and self.status != "ok" and self.code.startswith(_NOT_ITS_WORD)


@dataclass(slots=True)
class OfficeNode:
    code: str
    bus: Bus
    keys: OfficeKeys
    hub: PublicKeys
    roles: Roles = field(default_factory=Roles)  # what it answers (``hub.node.roles``)
    jlis_seal: X25519PublicKey | None = None
    store: OfficeStore | None = None  # where the office keeps the change events it received
    peers: Mapping[str, PublicKeys] = field(default_factory=dict)  # to seal documents for
    deadline: dt.timedelta = dt.timedelta(seconds=10)
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    tracing: Tracing = OFF  # its spans (``hub.tracing``)
    # where its requests go: ``renkei.hub``, or the interactive lane when its class is
    # interactive (``hub.routing.quotas``; the broker lets only those offices write it)
    lane: str = HUB_EXCHANGE
    backoff: Backoff = field(default_factory=Backoff)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    draw: Callable[[], float] = random.random  # the jitter: not a secret, not a key
    _pending: dict[uuid.UUID, asyncio.Future[Reply]] = field(default_factory=dict)
    _subs: list[Any] = field(default_factory=list)
    _reacted: set[str] = field(default_factory=set)  # events reacted to, not kept yet

    async def start(self, *, prefetch: int = 200) -> None:
        self._subs = [
            await self.bus.consume(office_in(self.code), self._on_request, prefetch=prefetch),
            await self.bus.consume(office_replies(self.code), self._on_reply, prefetch=prefetch),
        ]

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.cancel()
        self._subs = []

    # ---- asking -----------------------------------------------------------------------------

    async def ask(
        self,
        affair: str,
        provider: str,
        items: tuple[str, ...],
        person: str,
        params: Mapping[str, str | int] | None = None,
        *,
        not_disclosed: bool = False,
        document: bytes | None = None,
    ) -> Answer:
        """Ask the hub; ``document``: an application for ``provider``, sealed for it alone.

        A send the hub refuses with a retry-after (its quota) or the broker rejects (a full
        queue: back-pressure) is sent again — a new query id each time, the first one's
        deadline — after a pause of ``backoff`` (exponential, jittered, never before the
        retry-after), while the deadline allows; then the last refusal is the answer, or
        ``office.back_pressure`` when the broker took none."""
        deadline = self.clock() + self.deadline
        last: Answer | None = None  # the hub's last refusal, if any send reached it
        attempt = 0
        while True:
            floor = 0.0  # a nack says no time
            try:
                answer = await self._ask_once(
                    affair, provider, items, person, params, not_disclosed, document, deadline
                )
            except Rejected:
                pass
            else:
                if answer.retry_after is None:  # _ask_once's answer says one send
                    return answer if attempt == 0 else replace(answer, attempts=attempt + 1)
                last, floor = answer, answer.retry_after
            pause = self.backoff.pause(attempt, floor, self.draw())
            attempt += 1
            if attempt >= self.backoff.attempts or self.clock() + _secs(pause) >= deadline:
                return _gave_up(last, attempt)
            await self.sleep(pause)

    async def file(
        self,
        provider: str,
        kind: str,
        person: str,
        document: bytes,
        *,
        sent: tuple[uuid.UUID, ...] = (),
        before: tuple[uuid.UUID, ...] = (),
        resend: Backoff = RESEND,
    ) -> Answer:
        """File a signed application (``document``) with ``provider`` until its outcome is
        known. A time-out is not an outcome: the office may have filed it and answered past
        the deadline (the hub recorded a time-out), or not have taken it yet. So the same
        document is sent again — a new query id, a new deadline, its own access record —
        after a pause of ``resend``, while the outcome is unknown (``Answer.unknown``),
        ``resend.attempts`` sends in all. Sending it again is safe: the office answers a copy of
        an application it filed with the receipt it kept, and takes no copy past its deadline,
        so the document is filed
        once. ``sent``: the query ids of sends made already that timed out (resuming after a
        restart); ``before``: the sends of an earlier round, given up unanswered and begun
        again at the resident's asking — they leave the outcome unknown as ``sent`` do, but
        this round has its own pauses and ``resend.attempts`` sends. The answer names every
        send before it (``earlier``). The last answer is
        returned: a receipt, a refusal, an error, or still a time-out after the last send. A
        send after the first that the broker did not confirm counts as a send, not an answer;
        the first one's ``BusError`` is raised, as ``ask`` raises it."""
        earlier = [*before, *sent]
        last = _unanswered(earlier)  # None: nothing sent yet
        tried = len(sent)
        while True:
            if tried:
                await self.sleep(resend.pause(tried - 1, 0.0, self.draw()))
            tried += 1
            try:
                got = await self.ask("application", provider, (kind,), person, document=document)
            except BusError:
                if last is None:  # the first send not confirmed: the caller's to know, as ask's
                    raise
                log.info("application.unsent", sends=len(earlier))  # not sent: tried again
            else:
                last = replace(got, earlier=tuple(earlier))
                if not last.unknown:
                    return last
                log.info("application.resend", query_id=str(got.query_id), sends=tried)
                earlier.append(got.query_id)
            if tried >= resend.attempts:
                return last

    async def _ask_once(  # noqa: PLR0917 - ask's own arguments, and the deadline
        self,
        affair: str,
        provider: str,
        items: tuple[str, ...],
        person: str,
        params: Mapping[str, str | int] | None,
        not_disclosed: bool,
        document: bytes | None,
        deadline: dt.datetime,
    ) -> Answer:
        span = self._span("query", affair, provider, items)
        env = self._envelope(affair, provider, span, deadline)
        query = Query(
            envelope=env,
            person=person,
            items=items,
            params=dict(params or {}),
            not_disclosed=not_disclosed,
            document=None if document is None else seal(document, self._peer(provider).seal),
        )
        started = time.perf_counter()
        reply = await self._request(query, RK_QUERY, span)
        seconds = time.perf_counter() - started
        METRICS.observe("ask", seconds)
        if reply is None:
            return Answer(
                env.message_id, "timed_out", reason="no reply before the deadline", seconds=seconds
            )
        return self._open(reply, seconds)

    async def report_change(
        self,
        person: str,
        change: Change,
        effective: dt.date,
        detail: Mapping[str, str] | None = None,
        *,
        event_id: uuid.UUID | None = None,
    ) -> Outcome:
        """A resident register tells the network (異動); returns the hub's ``Delivered``.

        ``event_id``, the register's own id of the event, is the message's id: sent again (a
        retry after a lost reply), the holders keep it once and the hub answers with what it
        recorded for the first copy."""
        span = self._span("change", "change_notice", HUB)
        msg = ChangeEvent(
            envelope=self._envelope("change_notice", HUB, span, query_id=event_id),
            person=person,
            change=change,
            effective=effective,
            detail=dict(detail or {}),
        )
        reply = await self._request(msg, RK_CHANGE, span)
        if reply is None:
            return TimedOut(reason="no reply to the change event before the deadline")
        return reply.outcome

    async def enroll(self, number: str, facts: Facts) -> str:
        """Present a number once, with the four facts this office holds for the person; get
        this office's token for its holder (符号取得). J-LIS checks the facts against its
        本人確認情報 and the hub refuses a mismatch (番号法 第16条); the hub dates the holding
        itself (now), and refuses a municipality's office a person whose record that
        municipality does not keep (``hub/routing/README.md``)."""
        if self.jlis_seal is None:
            raise EnrollmentRefused(OFFICE_NO_JLIS_KEY, "this office has no J-LIS key to seal to")
        span = self._span("enroll", "enrollment", JLIS)
        presented = Presented(number=number, facts=facts)
        msg = Enroll(
            envelope=self._envelope("enrollment", JLIS, span),
            number=seal(presented.model_dump_json().encode(), self.jlis_seal),
        )
        reply = await self._request(msg, RK_ENROLL, span)
        if reply is None:
            raise EnrollmentRefused(
                OFFICE_TIMED_OUT, "no reply to the enrollment before the deadline"
            )
        if isinstance(reply.outcome, Enrolled):
            return reply.outcome.token
        outcome = reply.outcome
        raise EnrollmentRefused(outcome_code(outcome, outcome.status), outcome_reason(outcome))

    async def identify(self, certificate: bytes) -> str:
        """The portal: this office's token for the holder of an authentication certificate
        (J-LIS's certification service names them; only the token comes back)."""
        span = self._span("identify", "portal_login", JLIS_PKI)
        msg = Identify(
            envelope=self._envelope("portal_login", JLIS_PKI, span),
            certificate=seal(certificate, self._peer(JLIS_PKI).seal),
        )
        reply = await self._request(msg, RK_IDENTIFY, span)
        if reply is None:
            raise NotIdentified(OFFICE_TIMED_OUT, "no reply to the login before the deadline")
        if isinstance(reply.outcome, Enrolled):
            return reply.outcome.token
        outcome = reply.outcome
        if isinstance(outcome, TimedOut):  # the hub's time-out: as unanswered as our own
            raise NotIdentified(OFFICE_TIMED_OUT, outcome.reason)
        raise NotIdentified(outcome_code(outcome, outcome.status), outcome_reason(outcome))

    async def notify(self, person: str, portal: str, notice: Mapping[str, str]) -> Outcome:
        """お知らせ: a notice (title, body) to a resident, by this office's token; the hub
        delivers it to the portal under the portal's token. Returns ``Delivered`` or why not."""
        span = self._span("notice", "notice", portal)
        msg = Notice(
            envelope=self._envelope("notice", portal, span),
            person=person,
            body=seal(orjson.dumps(dict(notice)), self._peer(portal).seal),
        )
        reply = await self._request(msg, RK_NOTICE, span)
        if reply is None:
            return TimedOut(reason="no reply to the notice before the deadline")
        return reply.outcome

    def _peer(self, office: str) -> PublicKeys:
        try:
            return self.peers[office]
        except KeyError:
            raise BadRequest(f"{self.code} has no public key of {office!r} to seal to") from None

    def _span(self, kind: str, affair: str, recipient: str, items: tuple[str, ...] = ()) -> Span:
        """A request's span, from its publish (requester out) to the hub's reply (requester
        in); a child of the office's own current span, if its code has one."""
        tags: dict[str, Any] = {
            tn.KIND: kind,
            tn.REQUESTER: self.code,
            tn.PROVIDER: recipient,
            tn.AFFAIR: affair,
        }
        if items:
            tags[tn.ITEMS] = items
        return self.tracing.tracer.start_span(kind, kind=SpanKind.CLIENT, attributes=tags)  # type: ignore[no-any-return]

    def _envelope(
        self,
        affair: str,
        recipient: str,
        span: Span,
        deadline: dt.datetime | None = None,
        *,
        query_id: uuid.UUID | None = None,
    ) -> Envelope:
        now = self.clock()
        qid = query_id or uuid.uuid4()
        return Envelope(
            message_id=qid,
            correlation_id=qid,
            sender=self.code,
            recipient=recipient,
            affair=affair,
            issued_at=now,
            deadline=deadline or now + self.deadline,
            # the span's own, or (tracing off) a new trace: drawn only then
            traceparent=traceparent(span, "") or new_traceparent(),
        )

    async def _request(self, msg: _Request, routing_key: str, span: Span) -> Reply | None:
        env = msg.envelope
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[env.correlation_id] = future
        outcome: Outcome | str = "unsent"  # the span's outcome: the reply's, or why none
        try:
            size = await self._publish(routing_key, msg)
            if span.is_recording():
                qid = str(env.correlation_id)
                span.set_attributes({tn.MESSAGE_ID: qid, tn.CONVERSATION_ID: qid})
                span.set_attribute(tn.BODY_SIZE, size)
            outcome = "timed_out"
            wait = (env.deadline - self.clock() + GRACE).total_seconds()
            reply = await _within(future, max(wait, 0.001))
        except TimeoutError:
            return None
        else:
            outcome = reply.outcome
            return reply
        finally:
            self._pending.pop(env.correlation_id, None)
            _ended(span, outcome)

    def _open(self, reply: Reply, seconds: float) -> Answer:
        out = reply.outcome
        qid, rid = reply.envelope.correlation_id, reply.record_id
        if isinstance(out, Answered):
            try:
                data = orjson.loads(open_sealed(out.payload, self.keys.sealing))
            except (WireError, orjson.JSONDecodeError) as exc:
                return Answer(
                    qid, "error", code=OFFICE_UNREADABLE_ANSWER, reason=str(exc), record_id=rid
                )
            return Answer(qid, "ok", data=data, record_id=rid, seconds=seconds)
        code = outcome_code(out)
        reason = outcome_reason(out)
        again = out.retry_after if isinstance(out, Refused) else None
        return Answer(
            qid,
            out.status,
            code=code,
            reason=reason,
            record_id=rid,
            seconds=seconds,
            retry_after=again,
        )

    async def _on_reply(self, d: Delivery) -> None:
        msg = await self._from_hub(d)
        if msg is None:
            return
        if isinstance(msg, Reply):
            future = self._pending.get(msg.envelope.correlation_id)
            if future is not None and not future.done():
                future.set_result(msg)
            else:  # after the asker gave up (the hub stalled past its grace), or sent again
                log.info(
                    "reply.late",
                    query_id=str(msg.envelope.correlation_id),
                    outcome=msg.outcome.status,
                    record_id=str(msg.record_id),
                )
            await d.ack()
        else:
            await d.dead_letter(f"{OFFICE_UNEXPECTED}: not a reply from the hub")

    # ---- answering --------------------------------------------------------------------------

    async def _on_request(self, d: Delivery) -> None:
        with current(consume(self.tracing.tracer, "process office.in", d)) as span:
            await self._handle_request(d, span)

    async def _handle_request(self, d: Delivery, span: Span) -> None:
        msg = await self._from_hub(d)
        if msg is None:
            return
        if span.is_recording():
            span.set_attributes(_tags(msg))
        desk = _DESKS.get(type(msg))
        if desk is None or (desk.role and getattr(self.roles, desk.role) is None):
            await d.dead_letter(f"{OFFICE_UNEXPECTED}: not a request from the hub")
            return
        outcome = await desk.handle(self, msg)
        if outcome is not None:  # a request the hub awaits an answer to
            assert isinstance(msg, _Awaited)
            span.add_event("looked_up")
            _ended(span, outcome, end=False)
            await self._reply(msg, outcome, span)
        await d.ack()

    async def _reply(self, msg: _Awaited, outcome: Outcome, span: Span) -> None:
        if msg.envelope.deadline > self.clock():
            reply = ProviderReply(
                envelope=self._reply_envelope(msg.envelope, span),
                context=msg.context,
                outcome=outcome,
            )
            sent = time.time_ns()  # the instant it leaves, not its confirm: the hub may be first
            size = await self._publish(RK_REPLY, reply)
            span.add_event("replied", {tn.BODY_SIZE: size}, sent)
        else:  # the hub has answered the requester already; a late answer is only noise
            log.info("request.expired", query_id=str(msg.envelope.correlation_id))

    async def _query(self, msg: ForwardedQuery) -> Outcome:
        return await (self._apply(msg) if msg.document else self._answer(msg))

    async def _resolve(self, msg: ForwardedEnroll) -> Outcome:
        assert self.roles.resolver is not None
        return await self._opened(msg.number, self.roles.resolver.resolve)

    async def _identify(self, msg: ForwardedIdentify) -> Outcome:
        assert self.roles.identifier is not None
        return await self._opened(msg.certificate, self.roles.identifier.identify)

    async def _received(self, msg: AccessEvent | ForwardedNotice) -> None:
        assert self.roles.inbox is not None
        await self.roles.inbox.received(msg)

    async def _answer(self, msg: ForwardedQuery) -> Outcome:
        provider = self.roles.provider
        if provider is None:
            reason = f"{self.code} answers no queries"
            return Failed(family="provider", code=OFFICE_NOT_A_PROVIDER, reason=reason)
        try:
            data = await provider.answer(msg.person, msg.items, msg.params)
        except Exception as exc:  # noqa: BLE001 - the office's own failure becomes an answer
            return self._failure(msg, exc)
        if data is None:
            return NotFound(reason=f"{self.code} holds no record for this person")
        try:
            return Answered(payload=seal(orjson.dumps(data), seal_key(msg.seal_to)))
        except (TypeError, WireError) as exc:  # an answer that cannot be sent is still answered
            log.warning("answer.unsendable", query_id=str(msg.envelope.correlation_id))
            return Failed(family="provider", code=OFFICE_UNSENDABLE_ANSWER, reason=str(exc))

    async def _apply(self, msg: ForwardedQuery) -> Outcome:
        """An electronic application: the office checks it and answers with its receipt —
        unless its deadline has passed (taken from the queue late: the office was down or
        behind): the hub has recorded it timed out and told the portal so, and an office that
        filed it now would hold an application the resident was told did not go through."""
        assert msg.document is not None
        applications = self.roles.applications
        if applications is None:
            return Refused(code=OFFICE_NO_APPLICATIONS, reason=f"{self.code} takes none")
        if msg.envelope.deadline <= self.clock():
            log.info("application.expired", query_id=str(msg.envelope.correlation_id))
            return TimedOut(reason="the application reached the office after its deadline")
        try:
            document = open_sealed(msg.document, self.keys.sealing)
            receipt = await applications.receive(msg.person, msg.items[0], document)
            return Answered(payload=seal(orjson.dumps(receipt), seal_key(msg.seal_to)))
        except ApplicationRefused as exc:
            return Refused(code=exc.code, reason=str(exc)[:2000])
        except WireError as exc:
            return Failed(family="requester", code=exc.code, reason=str(exc))
        except Exception as exc:  # noqa: BLE001 - the office's own failure becomes an answer
            return self._failure(msg, exc)

    async def _opened(
        self, sealed: AnySealed, act: Callable[[bytes], Awaitable[Outcome]]
    ) -> Outcome:
        """What was sealed for this office (a number, a certificate), acted on."""
        try:
            opened = open_sealed(sealed, self.keys.sealing)
        except WireError as exc:
            return Failed(family="requester", code=exc.code, reason=str(exc))
        return await act(opened)

    @staticmethod
    def _failure(msg: ForwardedQuery, exc: Exception) -> Outcome:
        if isinstance(exc, NoRecord):
            return NotFound(reason=str(exc))
        if isinstance(exc, BadRequest):
            return Failed(family="requester", code=exc.code, reason=str(exc))
        if isinstance(exc, QueryRefused):
            return Refused(code=exc.code, reason=str(exc)[:2000])
        log.error("provider.failed", query_id=str(msg.envelope.correlation_id), exc_info=exc)
        return Failed(family="provider_system", code=OFFICE_SYSTEM_ERROR, reason=type(exc).__name__)

    async def _changed(self, msg: ForwardedChange) -> None:
        """React to each event once (by its id): the office's own code first, then keep it —
        so an event whose reaction failed is redelivered, not mistaken for a duplicate. An
        event whose keeping failed after its reaction (the store out of reach: the bus holds
        the delivery and hands it over again) is only kept: this process remembers it reacted."""
        event_id = str(msg.envelope.correlation_id)
        if self.store is not None and await self.store.get(EVENTS, event_id) is not None:
            log.info("change.duplicate", event_id=event_id)
            return
        if self.roles.listener is not None and event_id not in self._reacted:
            await self.roles.listener.changed(
                msg.person, msg.change, msg.effective, dict(msg.detail)
            )
        if self.store is not None:
            self._reacted.add(event_id)
            doc = {
                "person": msg.person,
                "change": msg.change,
                "effective": msg.effective.isoformat(),
                "origin": msg.origin,
                "detail": dict(msg.detail),
            }
            await self.store.put_many(EVENTS, [(event_id, None, doc)])
            self._reacted.discard(event_id)

    def _reply_envelope(self, env: Envelope, span: Span) -> Envelope:
        return env.model_copy(
            update={
                "message_id": uuid.uuid4(),
                "sender": self.code,
                "recipient": HUB,
                "issued_at": self.clock(),
                "traceparent": traceparent(span, env.traceparent),
            }
        )

    # ---- transport --------------------------------------------------------------------------

    async def _from_hub(self, d: Delivery) -> Message | None:
        """The message if the hub sent and signed it; else it is dead-lettered with the reason."""
        try:
            if d.user_id == HUB:
                verify_by(d.body, d.headers.get(SIGNATURE_HEADER), self.hub)
                return decode(d.body)
            problem = f"{OFFICE_NOT_FROM_HUB}: message from {d.user_id!r}"
        except WireError as exc:
            problem = f"{exc.code}: {exc}"
        log.warning("message.rejected", reason=problem, queue=d.queue)
        await d.dead_letter(problem)
        return None

    async def _publish(self, routing_key: str, msg: _Request | ProviderReply) -> int:
        """Sign and publish to the hub; the body's size."""
        out = signed_message(msg, self.keys.signing)
        exchange = HUB_EXCHANGE if routing_key == RK_REPLY else self.lane
        await self.bus.publish(exchange, routing_key, out)
        return len(out.body)


async def _within(future: asyncio.Future[Reply], seconds: float) -> Reply:
    """``future``'s result, or ``TimeoutError`` after ``seconds``: one timer on the future
    itself, where ``asyncio.wait_for`` adds a future, a task switch and callbacks of its own
    per call. Cancelling the caller cancels ``future``, as ``wait_for`` does."""
    timer = asyncio.get_running_loop().call_later(seconds, _expire, future)
    try:
        return await future
    finally:
        timer.cancel()


def _expire(future: asyncio.Future[Reply]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _secs(seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=seconds)


def _unanswered(sent: list[uuid.UUID]) -> Answer | None:
    """What is known of an application's sends made already (``file(…, sent=…)``): the last
    one timed out; None when there were none."""
    if not sent:
        return None
    reason = "no answer before the deadline"
    return Answer(sent[-1], "timed_out", reason=reason, earlier=tuple(sent[:-1]))


def _gave_up(last: Answer | None, attempts: int) -> Answer:
    """``ask``'s answer when the deadline (or the back-off's attempts) ran out: the hub's last
    refusal, saying so, or — when the broker took none of the sends — back-pressure."""
    note = f" (sent {attempts} times; no time left before the deadline to try again)"
    if last is None:
        why = "the hub's queue refused the query every time (back-pressure): try again later"
        return Answer(
            uuid.uuid4(), "error", code=OFFICE_BACK_PRESSURE, reason=why + note, attempts=attempts
        )
    return replace(last, reason=(last.reason + note)[:2000], attempts=attempts)


_Awaited = ForwardedQuery | ForwardedEnroll | ForwardedIdentify  # the hub awaits an answer


def _tags(msg: Message) -> dict[str, Any]:
    """What an office's span says of a message from the hub: its ids and kind (the offices,
    affair and items are on the hub's span, its parent)."""
    env = msg.envelope
    return {
        tn.MESSAGE_ID: str(env.message_id),
        tn.CONVERSATION_ID: str(env.correlation_id),
        tn.KIND: msg.kind,
    }


def _ended(span: Span, outcome: Outcome | str, *, end: bool = True) -> None:
    """The outcome on the span (or why there is none: ``timed_out``, ``unsent``), and the
    span ended."""
    if span.is_recording():
        if isinstance(outcome, str):
            span.set_attribute(tn.OUTCOME, outcome)
        else:
            span.set_attribute(tn.OUTCOME, outcome.status)
            if code := outcome_code(outcome):
                span.set_attribute(tn.ERROR_TYPE, code)
    if end:
        span.end()


@dataclass(frozen=True, slots=True)
class _Desk:
    """What the node does with one kind of message from the hub: ``handle`` returns the
    outcome to answer with, or None when the hub awaits no answer; without its ``role`` (a
    field of ``Roles``) the node dead-letters the message."""

    handle: Callable[[OfficeNode, Any], Awaitable[Outcome | None]]
    role: str = ""


_DESKS: dict[type[Message], _Desk] = {
    ForwardedQuery: _Desk(OfficeNode._query),  # without a provider it answers that it has none
    ForwardedEnroll: _Desk(OfficeNode._resolve, "resolver"),
    ForwardedIdentify: _Desk(OfficeNode._identify, "identifier"),
    ForwardedChange: _Desk(OfficeNode._changed),  # kept even with no listener
    AccessEvent: _Desk(OfficeNode._received, "inbox"),
    ForwardedNotice: _Desk(OfficeNode._received, "inbox"),
}
