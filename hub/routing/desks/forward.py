"""The hub's way out to the offices: envelopes, signatures, sealed contexts, deadlines.

Every desk that forwards goes through a ``Forwarder``: it signs and publishes a forwarded
message to an office's queue and, for a request the office must answer, arms its deadline —
when it passes, the ``Finisher`` records and replies ``timed_out``. Timers are per worker
(the context travels sealed; any worker takes the reply and disarms its own timer if it has one).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID, uuid4

from hub.bus import OFFICES_EXCHANGE, Bus, Unroutable, office_in, signed_message
from hub.log import get_logger
from hub.routing.context import Context, ContextSealer
from hub.routing.exceptions import HUB_PROVIDER_UNREACHABLE
from hub.routing.finish import Finisher, hub_error
from hub.tracing import OFF, current, current_span, traceparent
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

__all__ = ["Forwarded", "Forwarder", "forwarded_query"]

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
        finisher: Finisher,
        clock: Callable[[], dt.datetime],
        tracer: Any = OFF.tracer,
    ) -> None:
        self._bus = bus
        self._tracer = tracer
        self._hub_keys = hub_keys
        self.keys = keys  # every identity's public keys: whom to seal an answer to
        self._sealer = sealer
        self._finisher = finisher
        self._clock = clock
        self._timers: dict[UUID, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

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
        office's reply or the deadline finishes it), else the outcome to record now."""
        remaining_ms = int((ctx.deadline - self._clock()).total_seconds() * 1000)
        if remaining_ms <= 0:
            return TimedOut(reason="the deadline passed before the query could be forwarded")
        try:
            await self.publish(ctx.provider, fwd, expiration_ms=remaining_ms)
        except Unroutable:
            return hub_error(HUB_PROVIDER_UNREACHABLE, f"no queue for {ctx.provider!r}")
        self._arm(ctx, remaining_ms / 1000)
        return None

    # ---- deadlines --------------------------------------------------------------------------

    def _arm(self, ctx: Context, delay: float) -> None:
        self.disarm(ctx.query_id)
        loop = asyncio.get_running_loop()
        self._timers[ctx.query_id] = loop.call_later(delay, self._expire, ctx)

    def disarm(self, query_id: UUID) -> None:
        handle = self._timers.pop(query_id, None)
        if handle is not None:
            handle.cancel()

    def _expire(self, ctx: Context) -> None:
        self._timers.pop(ctx.query_id, None)
        outcome = TimedOut(reason=f"{ctx.provider} did not answer before the deadline")
        task = asyncio.create_task(self._time_out(ctx, outcome))
        self._tasks.add(task)
        task.add_done_callback(self._expired)

    async def _time_out(self, ctx: Context, outcome: Outcome) -> None:
        # the timer was armed in the request's span: the time-out is its child
        with current(self._tracer.start_span("timeout")):
            await self._finisher.finish(ctx, outcome)

    def _expired(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("timeout.unrecorded", error=repr(task.exception()))

    async def close(self) -> None:
        """Cancel the armed deadlines; wait for the time-outs being recorded."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


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
