"""The hub's way out to the offices: envelopes, signatures, sealed contexts, deadlines.

Every desk that forwards goes through a ``Forwarder``: it signs and publishes a forwarded
message to an office's queue and, for a request the office must answer, leaves its deadline in
the shared deadline store at the same time (``hub.records.deadlines``: the query's record key,
its deadline and its sealed context). The deadlines of the queries a worker forwards at once
go in one durable write (up to ``DEADLINE_BATCH``; the natural batching of ``hub.batch``). The
sweeper of any hub process (``hub.routing.deadlines``) takes it there when it falls due and the
``Finisher`` records and replies ``timed_out`` — unless the office's answer was recorded first
(the first outcome recorded wins). No timer lives in the worker that forwarded: a worker killed
after forwarding still leaves its queries' deadlines to the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from uuid import uuid4

from hub.batch import Batcher
from hub.bus import OFFICES_EXCHANGE, Bus, Unroutable, office_in, signed_message
from hub.log import get_logger
from hub.records import DeadlineStore, Pending
from hub.routing.context import Context, ContextSealer
from hub.routing.exceptions import HUB_PROVIDER_UNREACHABLE
from hub.routing.finish import hub_error, record_key
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

__all__ = ["DEADLINE_BATCH", "Forwarded", "Forwarder", "forwarded_query"]

log = get_logger("hub.forward")
Forwarded = ForwardedQuery | ForwardedEnroll | ForwardedChange | ForwardedIdentify | ForwardedNotice
Awaited = ForwardedQuery | ForwardedEnroll | ForwardedIdentify  # an office answers these
DEADLINE_BATCH = 500
"""Deadlines one write to the store holds at most."""


class Forwarder:
    def __init__(
        self,
        *,
        bus: Bus,
        hub_keys: OfficeKeys,
        keys: Mapping[str, PublicKeys],
        sealer: ContextSealer,
        deadlines: DeadlineStore,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._bus = bus
        self._deadlines = deadlines
        self._hub_keys = hub_keys
        self.keys = keys  # every identity's public keys: whom to seal an answer to
        self._sealer = sealer
        self._clock = clock
        self._waiting: Batcher[Pending, None] = Batcher(self._leave, max_batch=DEADLINE_BATCH)

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
        deadline is written and the query published together, and the caller acknowledges the
        request only once both are done: a worker that dies before that leaves the request to
        another worker, one that dies after leaves the deadline to every sweeper."""
        remaining_ms = int((ctx.deadline - self._clock()).total_seconds() * 1000)
        if remaining_ms <= 0:
            return TimedOut(reason="the deadline passed before the query could be forwarded")
        waited, sent = await asyncio.gather(
            self.wait(ctx, fwd.context),
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

    async def wait(self, ctx: Context, sealed: str) -> None:
        """Leave the query's deadline, with its context ``sealed``, in the deadline store
        (durably, once this returns)."""
        key = record_key(ctx.requester, ctx.query_id)
        await self._waiting.submit(Pending(key, ctx.deadline, sealed))

    async def _leave(self, pending: Sequence[Pending]) -> list[None]:
        """One write for a batch of deadlines."""
        await self._deadlines.add(pending)
        return [None] * len(pending)


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
