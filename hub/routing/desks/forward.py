"""The hub's way out to the offices: envelopes, signatures, sealed contexts, deadlines.

Every desk that forwards goes through a ``Forwarder``: it signs and publishes a forwarded
message to an office's queue and, for a request the office must answer, leaves its deadline
with the broker first: a deadline message (the sealed context) in the wait queue of its span,
which the broker dead-letters into ``hub.deadlines`` when it expires. Any hub worker takes it
there and the ``Finisher`` records and replies ``timed_out`` — unless the office's answer was
recorded first (the first outcome recorded wins). No timer lives in the worker that forwarded:
a worker killed after forwarding still leaves its queries' deadlines to the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from uuid import uuid4

import orjson

from hub.bus import (
    OFFICES_EXCHANGE,
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

__all__ = ["Forwarded", "Forwarder", "deadline_message", "forwarded_query"]

log = get_logger("hub.forward")
Forwarded = ForwardedQuery | ForwardedEnroll | ForwardedChange | ForwardedIdentify | ForwardedNotice
Awaited = ForwardedQuery | ForwardedEnroll | ForwardedIdentify  # an office answers these


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
        deadline goes to the broker first: a worker that dies after forwarding leaves it."""
        remaining_ms = int((ctx.deadline - self._clock()).total_seconds() * 1000)
        if remaining_ms <= 0:
            return TimedOut(reason="the deadline passed before the query could be forwarded")
        await self.wait(ctx, remaining_ms)
        try:
            await self.publish(ctx.provider, fwd, expiration_ms=remaining_ms)
        except Unroutable:
            return hub_error(HUB_PROVIDER_UNREACHABLE, f"no queue for {ctx.provider!r}")
        return None

    async def wait(self, ctx: Context, remaining_ms: int) -> None:
        """Leave the query's deadline with the broker: it comes back on ``hub.deadlines``
        when the wait queue of its span lets it expire, at or a little after the deadline."""
        span = wait_span(remaining_ms / 1000)
        out = deadline_message(self.seal(ctx), span * 1000)
        await self._bus.publish(WAIT_EXCHANGE, wait_queue(span), out)


def deadline_message(sealed_context: str, expiration_ms: int) -> OutMessage:
    """A deadline left with the broker: the sealed context (only the hub can make or read
    one), expiring after ``expiration_ms`` in its wait queue."""
    return OutMessage(
        body=orjson.dumps({"context": sealed_context}),
        message_id=str(uuid4()),
        expiration_ms=expiration_ms,
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
