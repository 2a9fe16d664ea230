"""Finishing a query: record the outcome durably, then reply to the requester — once.

Every path ends here: answers, refusals, errors, time-outs, enrollments, change events. The
access record's id is derived from the requester and the query id (an enrollment's, an event's
id), so a redelivered message finds the same record, and only the first outcome recorded is
ever sent. Notices alone are not access records (the resident reads the notice itself).

The outcome is decided once, by the deadline: whatever finishes after it — a provider's late
answer, a request a stalled hub takes up late, an answer whose record could not be written in
time — is recorded and answered ``timed_out``, which is what the requester concluded on its own
at its deadline. Until the record is durable the finisher holds on (its caller has not
acknowledged the message): a failed write is tried again with back-off, to the deadline for
the outcome itself and then, as a time-out, for as long as it takes. A redelivered message
that finds its own outcome recorded already (the hub died between recording and replying)
sends that reply again; the requester takes the first reply of a query id and drops the rest.
So does a write tried again that finds its own outcome recorded: the earlier try committed and
only its acknowledgement was lost (the database's sessions cut, or the server killed, between
the commit and its answer) — unless that outcome is a time-out, which the deadline's sweep and
a late answer both record alike: neither can tell the other's from its own, so neither replies
again (the requester's own deadline has passed).
An answer the hub makes itself (the portal's disclosure, where to file an application) has no
provider's message to come back: it is held, as sent (sealed for the requester), under the
record's key and reply digest before the record is written (``hub.records.held``), and the
redelivered request sends it again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Final, Protocol

from hub.bus import OFFICES_EXCHANGE, Bus, Unroutable, office_replies, signed_message
from hub.directory import Directory
from hub.log import get_logger
from hub.metrics import METRICS
from hub.records import RecordDraft, Recorded, RecordWriteError, RecordWriter, ReplyHold, digest
from hub.routing.announce import Announcer, Sighting
from hub.routing.context import Context
from hub.routing.exceptions import (
    HUB_NO_RECORDS,
    HUB_PROVIDER_UNREACHABLE,
    HUB_TOKEN_SERVICE_UNAVAILABLE,
    law_code,
)
from hub.routing.legal import Decision
from hub.tracing import current_span, traceparent
from hub.tracing import names as tn
from hub.wire import (
    HUB,
    Answered,
    Delivered,
    Enrolled,
    Envelope,
    Failed,
    NotFound,
    OfficeKeys,
    Outcome,
    Refused,
    Reply,
    TimedOut,
    new_traceparent,
    outcome_code,
    outcome_reason,
)

__all__ = [
    "HELD_SLACK",
    "Finisher",
    "RecordSink",
    "WriterSink",
    "decided",
    "hub_error",
    "record_id_for",
    "record_key",
    "record_outcome",
    "refused",
    "refused_by_law",
    "replay_key",
    "timed_out_if_late",
]

log = get_logger("hub.finish")
_RECORD_NS = uuid.UUID("6f1c1b8e-3c39-4d0e-9a57-7c2f6f0f7a10")
_OK = frozenset({"ok", "enrolled", "resolved", "delivered"})  # recorded as a provision
_RECORDED = frozenset({"query", "identify", "enroll", "change"})  # not notices
RETRY_FIRST = 0.05  # seconds before a failed record write is tried again; doubling
RETRY_MOST = 2.0  # ... up to this
HELD_SLACK = dt.timedelta(minutes=5)
"""How long after its query's deadline an answer the hub made itself is held for a redelivered
request: past a hub's restart and a broker's (71 s seen, `docs/reliability.md`); a reply sent
after the deadline reaches the requester late, as a recorded answer redelivered late does."""


def refused(code: str, reason: str) -> Refused:
    return Refused(code=code, reason=reason[:2000])


def refused_by_law(decision: Decision) -> Refused:
    """A check of the legal table or the registry that did not allow the exchange."""
    return refused(law_code(decision.code), decision.reason)


def hub_error(code: str, reason: str) -> Failed:
    return Failed(family="hub", code=code, reason=reason[:2000])


def record_key(requester: str, query_id: uuid.UUID) -> uuid.UUID:
    """A query's key in the records: its id within its requester's own ids, so an office can
    never pre-empt (and so suppress) another office's query by reusing its id."""
    return uuid.uuid5(_RECORD_NS, f"{requester}/{query_id}")


def replay_key(requester: str, query_id: uuid.UUID, query_digest: bytes) -> uuid.UUID:
    """Where a refused replay is recorded: the query's own key is the first copy's; each
    different copy (by digest) gets one record, a copy sent again finds it taken."""
    return uuid.uuid5(_RECORD_NS, f"{requester}/{query_id}/{query_digest.hex()}")


def record_id_for(key: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_RECORD_NS, str(key))


def decided(found: Recorded) -> Refused | NotFound | TimedOut | Failed | None:
    """The outcome a record of no content says, as it was sent; None for an answer (the record
    holds no content: it is sent again only from its redelivered answer) and for an error but
    the hub's own on the request path (``HUB_DECIDED_ERRORS``: the family is not recorded, and
    another error's may be the provider's or the requester's)."""
    code, _, reason = found.reason.partition(": ")
    if found.outcome == "refused":
        return Refused(code=code, reason=reason)
    if found.outcome == "error" and code in HUB_DECIDED_ERRORS:
        return Failed(family="hub", code=code, reason=reason)
    if found.outcome == "not_found":
        return NotFound(reason=found.reason)
    if found.outcome == "timed_out":
        return TimedOut(reason=found.reason)
    return None


HUB_DECIDED_ERRORS: Final = frozenset(
    {HUB_NO_RECORDS, HUB_PROVIDER_UNREACHABLE, HUB_TOKEN_SERVICE_UNAVAILABLE}
)
"""The errors the hub answers at once on the request path, family ``hub`` (``hub_error``,
the token client): a redelivered request finds one recorded and is told it again."""


def _held_body(outcome: Outcome) -> bytes | None:
    """What is held of an answer the hub made itself: the outcome as sent (its payload sealed
    for the requester: nothing the hub's tables could read); None for anything else (a decision
    of no content is sent again from its record)."""
    return outcome.model_dump_json().encode() if isinstance(outcome, Answered) else None


def timed_out_if_late(ctx: Context, outcome: Outcome, now: dt.datetime) -> Outcome:
    """The outcome to record at ``now``: from the deadline on, a time-out (the requester has
    concluded as much on its own); before it, the outcome itself. Except a change event sent
    on (``Delivered``): its holders have it, whenever its record is written — the register
    that timed out asks again under the same id and is told so (``_change_again``)."""
    if now < ctx.deadline or isinstance(outcome, TimedOut | Delivered):
        return outcome
    late = f"{outcome.status} came after the deadline {ctx.deadline:%H:%M:%S.%f}"
    return TimedOut(reason=f"{ctx.provider or 'the hub'}: {late}")


def record_outcome(outcome: Outcome) -> str:
    """The access record's outcome: a token handed out, an event delivered, is ``ok``."""
    return "ok" if outcome.status in _OK else outcome.status


class RecordSink(Protocol):
    """Durably records one access record; False if the query id already had one."""

    async def record(
        self,
        ctx: Context,
        outcome: Outcome,
        record_id: uuid.UUID,
        answered_at: dt.datetime,
        reply_digest: bytes,
        *,
        key: uuid.UUID,
    ) -> bool: ...

    async def recorded(self, key: uuid.UUID) -> Recorded | None:
        """What the record under ``key`` says of its outcome, if there is one."""
        ...

    async def hold(self, key: uuid.UUID, body: bytes, until: dt.datetime) -> None:
        """Hold a reply's outcome (``body``, sealed) under ``key`` and its digest until
        ``until``; `RecordWriteError` if it could not be kept."""
        ...

    async def held(self, key: uuid.UUID, reply_digest: bytes) -> bytes | None:
        """The outcome held under ``key`` whose digest is ``reply_digest``, if any."""
        ...


class WriterSink:
    """The access-record writer, fed from a routing context and an outcome, and the replies the
    hub holds (``hub.records.held``)."""

    def __init__(self, writer: RecordWriter, held: ReplyHold) -> None:
        self.writer = writer
        self._held = held

    async def record(
        self,
        ctx: Context,
        outcome: Outcome,
        record_id: uuid.UUID,
        answered_at: dt.datetime,
        reply_digest: bytes,
        *,
        key: uuid.UUID,
    ) -> bool:
        code = outcome_code(outcome)
        reason = outcome_reason(outcome)
        draft = RecordDraft(
            query_id=key,
            requester=ctx.requester,
            provider=ctx.provider,
            affair=ctx.affair,
            items=ctx.items,
            asked_at=ctx.asked_at,
            answered_at=answered_at,
            outcome=record_outcome(outcome),  # type: ignore[arg-type]  # a record outcome
            query_digest=ctx.query_digest,
            reason=f"{code}: {reason}" if code else reason,
            person=ctx.person,
            not_disclosed=ctx.not_disclosed,
            reply_digest=reply_digest,
            record_id=record_id,
            withheld_reason=ctx.withheld_reason,
            withheld_until=ctx.withheld_until,
        )
        return await self.writer.record(draft)

    async def recorded(self, key: uuid.UUID) -> Recorded | None:
        return await self.writer.recorded(key)

    async def hold(self, key: uuid.UUID, body: bytes, until: dt.datetime) -> None:
        try:
            await self._held.hold(key, body, until)
        except Exception as exc:  # the store's own (asyncpg's, OSError): like a record's
            raise RecordWriteError(f"the reply was not held: {exc!r}") from exc

    async def held(self, key: uuid.UUID, reply_digest: bytes) -> bytes | None:
        return await self._held.held(key, reply_digest)


class Finisher:
    def __init__(
        self,
        *,
        bus: Bus,
        records: RecordSink,
        directory: Directory,
        hub_keys: OfficeKeys,
        clock: Callable[[], dt.datetime],
        announcer: Announcer | None = None,
    ) -> None:
        self._announcer = announcer
        self._bus = bus
        self._records = records
        self._directory = directory
        self._keys = hub_keys
        self._clock = clock

    async def finish(
        self,
        ctx: Context,
        outcome: Outcome,
        *,
        reply_digest: bytes = b"",
        key: uuid.UUID | None = None,
        redelivered: bool = False,
    ) -> None:
        """``key``: the record's key when it is not the query's own (a refused replay);
        ``redelivered``: the broker's redelivery — its outcome may be recorded but unsent."""
        now = self._clock()
        given, given_digest = outcome, reply_digest  # the outcome as it came, before the clock
        outcome = timed_out_if_late(ctx, outcome, now)
        record_id: uuid.UUID | None = None
        first, retried = True, False
        if ctx.kind in _RECORDED:  # a portal login is a provision by J-LIS too
            key = key or record_key(ctx.requester, ctx.query_id)
            record_id = record_id_for(key)
            # an answer the hub made itself (no provider's message to digest, none to come back
            # redelivered): held as sent, its digest the record's, before the record is written
            held = _held_body(outcome) if not reply_digest else None
            if held is not None:
                reply_digest = digest(held)
                given_digest = reply_digest
            outcome, now, first, retried = await self._durably(
                ctx, outcome, record_id, reply_digest, key, held=held
            )
            if outcome.status == "timed_out":
                reply_digest = b""
        span = current_span()
        if span.is_recording():
            span.add_event("recorded")
            code = outcome_code(outcome)
            span.set_attributes(
                {tn.OUTCOME: outcome.status, **({tn.ERROR_TYPE: code} if code else {})}
            )
        if first and isinstance(outcome, Enrolled):  # held from now: the hub dates it
            await self._directory.enrolled(ctx.person, ctx.requester, now)
        log.info(
            "query.finished" if first else "query.duplicate",
            query_id=str(ctx.query_id),
            kind=ctx.kind,
            requester=ctx.requester,
            provider=ctx.provider,
            affair=ctx.affair,
            outcome=outcome.status,
            code=outcome_code(outcome),
            ms=round((now - ctx.asked_at).total_seconds() * 1000, 2),
        )
        # only the outcome that was recorded is ever sent: a later answer (a redelivery, a late
        # provider after the time-out) could otherwise disclose what the record does not show
        if first:
            await self._reply(ctx, outcome, record_id, now)
            METRICS.finished(
                ctx.requester, ctx.provider, ctx.affair, outcome.status, self._lap(ctx)
            )
            if record_id is not None and self._announcer is not None:
                self._announcer.note(Sighting(ctx, record_outcome(outcome), record_id, now))
        elif (
            # a write tried again: its first try may have committed. Not a time-out: the
            # deadline's sweep and a late answer both record the same one, and each would
            # take the other's for its own and reply twice (the requester's own deadline has
            # told it already, if no reply does)
            (redelivered or (retried and outcome.status != "timed_out"))
            and key is not None
            # its recorded reply may be unsent: recorded before the deadline, it is the answer
            # as it came (sent late: the requester's log says so), not a time-out now; or the
            # answer another worker made and held (it took the message first, and recorded first)
            and (
                again := await self._recorded_as(
                    key, (given, given_digest), (outcome, reply_digest)
                )
            )
            is not None
        ):
            log.info("reply.again", query_id=str(ctx.query_id), requester=ctx.requester)
            await self._reply(ctx, again, record_id, now)
        elif ctx.kind == "change" and key is not None:
            await self._change_again(ctx, key)

    async def _change_again(self, ctx: Context, key: uuid.UUID) -> None:
        """A change event sent again under its event id (a register's retry after a lost
        reply): the holders had it once, and the register gets the outcome recorded for the
        first copy — which tells it nothing it was not told then."""
        found = await self._records.recorded(key)
        outcome: Outcome | None = None if found is None else decided(found)
        if found is not None and found.outcome == "ok":
            outcome = Delivered()
        if outcome is not None:
            log.info("reply.again", query_id=str(ctx.query_id), requester=ctx.requester)
            await self._reply(ctx, outcome, record_id_for(key), self._clock())

    async def _durably(
        self,
        ctx: Context,
        outcome: Outcome,
        record_id: uuid.UUID,
        reply_digest: bytes,
        key: uuid.UUID,
        *,
        held: bytes | None = None,
    ) -> tuple[Outcome, dt.datetime, bool, bool]:
        """Record until durable: the outcome itself until the deadline, then a time-out, for
        as long as it takes (the message stays unacknowledged meanwhile, so nothing is lost
        and no delivery limit is spent). ``held``: the hub's own answer, held first (once).
        Also whether the record was recorded first, and whether a write was tried again."""
        pause, retried = RETRY_FIRST, False
        while True:
            now = self._clock()
            outcome = timed_out_if_late(ctx, outcome, now)
            timed_out = outcome.status == "timed_out"
            found = b"" if timed_out else reply_digest
            try:
                if held is not None and not timed_out:
                    await self._records.hold(key, held, ctx.deadline + HELD_SLACK)
                    held = None
                first = await self._records.record(ctx, outcome, record_id, now, found, key=key)
            except RecordWriteError as exc:
                log.warning(
                    "record.retry",
                    query_id=str(ctx.query_id),
                    error=repr(exc.__cause__ or exc),
                    pause=pause,
                )
                await asyncio.sleep(pause)
                pause, retried = min(pause * 2, RETRY_MOST), True
                continue
            return outcome, now, first, retried

    async def _recorded_as(
        self, key: uuid.UUID, *candidates: tuple[Outcome, bytes]
    ) -> Outcome | None:
        """Which of these outcomes (each with its reply's digest) the record under ``key`` is,
        if any; else the answer held under the record's digest, if one is."""
        found = await self._records.recorded(key)
        if found is None:
            return None
        for outcome, reply_digest in candidates:
            if (found.outcome, found.reply_digest) == (record_outcome(outcome), reply_digest):
                return outcome
        return await self._held(key, found)

    async def _held(self, key: uuid.UUID, found: Recorded) -> Answered | None:
        """The answer the hub made itself and recorded under ``key``, as it was sent, while it
        is held (its digest is the record's)."""
        if found.outcome != "ok" or not found.reply_digest:
            return None
        body = await self._records.held(key, found.reply_digest)
        if body is None:
            return None
        try:
            return Answered.model_validate_json(body)
        except ValueError:  # its digest is the record's: only another version's wire model
            log.warning("reply.unreadable_held", key=str(key))
            return None

    async def again(self, ctx: Context) -> None:
        """The broker's redelivery of a request whose query is recorded: a hub may have stopped
        between the record and the reply. A decision of no content (a refusal, a not-found, a
        time-out) is sent again as recorded, an answer the hub made itself as it was held,
        under the same record id; the requester drops a reply it has already had."""
        key = record_key(ctx.requester, ctx.query_id)
        found = await self._records.recorded(key)
        outcome: Outcome | None = None
        if found is not None:
            outcome = decided(found) or await self._held(key, found)
        if outcome is None:
            return
        log.info("reply.again", query_id=str(ctx.query_id), requester=ctx.requester)
        await self._reply(ctx, outcome, record_id_for(key), self._clock())

    def _lap(self, ctx: Context) -> float:
        return (self._clock() - ctx.asked_at).total_seconds()

    async def _reply(
        self, ctx: Context, outcome: Outcome, record_id: uuid.UUID | None, now: dt.datetime
    ) -> None:
        reply = Reply(
            envelope=Envelope(
                message_id=uuid.uuid4(),
                correlation_id=ctx.query_id,
                sender=HUB,
                recipient=ctx.requester,
                affair=ctx.affair,
                issued_at=now,
                deadline=max(ctx.deadline, now),
                traceparent=traceparent(current_span(), ctx.traceparent or new_traceparent()),
            ),
            outcome=outcome,
            record_id=record_id,
        )
        out = signed_message(reply, self._keys.signing)
        sent = time.time_ns()  # the instant it leaves: the requester may hear it before the confirm
        try:
            await self._bus.publish(OFFICES_EXCHANGE, office_replies(ctx.requester), out)
        except Unroutable:
            log.warning("reply.unroutable", query_id=str(ctx.query_id), requester=ctx.requester)
            return
        current_span().add_event("replied", {tn.BODY_SIZE: len(out.body)}, sent)
