"""The hub's way out to the offices: envelopes, signatures, sealed contexts, deadlines.

Every desk that forwards goes through a ``Forwarder``: it signs and publishes a forwarded
message to an office's queue and, for a request the office must answer, leaves its deadline
with the broker at the same time: a deadline message in the wait queue of its span, which the
broker dead-letters into ``hub.deadlines`` when it expires. The deadlines of the queries a
worker forwards at once share one message (their sealed contexts, up to ``WAIT_BATCH``; the
natural batching of ``hub.batch``): at one in flight each query has its own, at the peak one
publish, expiry and delivery serves dozens. Any hub worker takes it
there and the ``Finisher`` records and replies ``timed_out`` — unless the office's answer was
recorded first (the first outcome recorded wins). No timer lives in the worker that forwarded:
a worker killed after forwarding still leaves its queries' deadlines to the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from uuid import uuid4

import orjson

from hub.batch import Batcher
from hub.bus import (
    EMPTY_HEADERS,
    OFFICES_EXCHANGE,
    TRACEPARENT_HEADER,
    WAIT_EXCHANGE,
    Bus,
    OutMessage,
    Unroutable,
    office_in,
    signed_message,
    wait_queue,
    wait_span,
)
from hub.log import get_logger
from hub.routing.context import Context, ContextSealer
from hub.routing.exceptions import HUB_PROVIDER_UNREACHABLE
from hub.routing.finish import hub_error
from hub.tracing import current_span, traceparent
from hub.tracing import names as tn
from hub.wire import (
    HUB,
    Envelope,
    ForwardedChange,
    ForwardedEnroll,
    ForwardedIdentify,
    ForwardedNotice,
    ForwardedQuery,
    OfficeKeys,
    Outcome,
    PublicKeys,
    Query,
    TimedOut,
)

__all__ = ["WAIT_BATCH", "Forwarded", "Forwarder", "deadline_message", "forwarded_query"]

log = get_logger("hub.forward")
Forwarded = ForwardedQuery | ForwardedEnroll | ForwardedChange | ForwardedIdentify | ForwardedNotice
Awaited = ForwardedQuery | ForwardedEnroll | ForwardedIdentify  # an office answers these
WAIT_BATCH = 64
"""Sealed contexts one deadline message holds at most (each about 300–500 bytes: a full
message stays well under ``hub.wire.MAX_MESSAGE_BYTES``)."""


class Forwarder:
    def __init__(
        self,
        *,
        bus: Bus,
        hub_keys: OfficeKeys,
        keys: Mapping[str, PublicKeys],
        sealer: ContextSealer,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._bus = bus
        self._hub_keys = hub_keys
        self.keys = keys  # every identity's public keys: whom to seal an answer to
        self._sealer = sealer
        self._clock = clock
        self._waiting: Batcher[tuple[Context, int], None] = Batcher(
            self._leave, max_batch=WAIT_BATCH
        )

    def envelope(self, ctx: Context, recipient: str) -> Envelope:
        return Envelope(
            message_id=uuid4(),
            correlation_id=ctx.query_id,
            sender=HUB,
            recipient=recipient,
            affair=ctx.affair,
            issued_at=self._clock(),
            deadline=ctx.deadline,
            traceparent=traceparent(current_span(), ctx.traceparent),  # the office's parent
        )

    def seal(self, ctx: Context) -> str:
        """The context, sealed for the hub alone: the office echoes it back unread."""
        return self._sealer.seal(ctx)

    async def publish(
        self, office: str, msg: Forwarded, *, expiration_ms: int | None = None
    ) -> None:
        """Sign and publish to the office's inbox; ``Unroutable`` when it has none."""
        out = signed_message(msg, self._hub_keys.signing, expiration_ms=expiration_ms)
        await self._bus.publish(OFFICES_EXCHANGE, office_in(office), out)
        current_span().add_event("forwarded", {tn.BODY_SIZE: len(out.body)})

    async def forward(self, ctx: Context, fwd: Awaited) -> Outcome | None:
        """To ``ctx.provider``, expiring with the deadline; None once it is on its way (the
        office's reply or the deadline finishes it), else the outcome to record now. The
        deadline and the query go to the broker together, and the caller acknowledges the
        request only once both are confirmed: a worker that dies before that leaves the
        request to another worker, one that dies after leaves the deadline."""
        remaining_ms = int((ctx.deadline - self._clock()).total_seconds() * 1000)
        if remaining_ms <= 0:
            return TimedOut(reason="the deadline passed before the query could be forwarded")
        waited, sent = await asyncio.gather(
            self.wait(ctx, remaining_ms),
            self.publish(ctx.provider, fwd, expiration_ms=remaining_ms),
            return_exceptions=True,
        )
        if isinstance(waited, BaseException):
            raise waited
        if isinstance(sent, Unroutable):
            return hub_error(HUB_PROVIDER_UNREACHABLE, f"no queue for {ctx.provider!r}")
        if isinstance(sent, BaseException):
            raise sent
        return None

    async def wait(self, ctx: Context, remaining_ms: int) -> None:
        """Leave the query's deadline with the broker (once this returns, it is there): it
        comes back on ``hub.deadlines`` when the wait queue of its span lets it expire, at or
        a little after the deadline."""
        await self._waiting.submit((ctx, remaining_ms))

    async def _leave(self, waits: Sequence[tuple[Context, int]]) -> list[None]:
        """One deadline message per wait span for a batch of deadlines."""
        spans: dict[int, tuple[str, list[str]]] = {}
        for ctx, remaining_ms in waits:
            first = spans.setdefault(wait_span(remaining_ms / 1000), (ctx.traceparent, []))
            first[1].append(self.seal(ctx))
        await asyncio.gather(
            *(
                self._bus.publish(
                    WAIT_EXCHANGE,
                    wait_queue(span),
                    deadline_message(sealed, span, tp if len(sealed) == 1 else ""),
                )
                for span, (tp, sealed) in spans.items()
            )
        )
        return [None] * len(waits)


def deadline_message(
    sealed_contexts: Sequence[str], span: int, traceparent: str = ""
) -> OutMessage:
    """Deadlines left with the broker: sealed contexts (only the hub can make or read one),
    expiring after ``span`` seconds in the wait queue of that span. ``traceparent``: the
    query's when it holds one, so that its return (and a time-out) is in that query's trace;
    a shared one starts a trace of its own (its span's outcome is no single query's)."""
    return OutMessage(
        body=orjson.dumps({"contexts": list(sealed_contexts)}),
        message_id=str(uuid4()),
        expiration_ms=span * 1000,
        headers={TRACEPARENT_HEADER: traceparent} if traceparent else EMPTY_HEADERS,
    )


def forwarded_query(fwd: Forwarder, msg: Query, ctx: Context, person: str) -> ForwardedQuery:
    """The query as its provider gets it: its own token, the answer sealed to the requester."""
    return ForwardedQuery(
        envelope=fwd.envelope(ctx, ctx.provider),
        requester=ctx.requester,
        person=person,
        items=msg.items,
        params=msg.params,
        seal_to=fwd.keys[ctx.requester].seal_b64,
        context=fwd.seal(ctx),
        document=msg.document,
    )
