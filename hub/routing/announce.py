"""Live access alerts: a record about a person the portal holds goes to the portal at once.

After a record is durable (and its reply sent), the hub tells each portal office that holds a
token for the person — under that portal's own token, never the hub's — so a logged-in
resident sees the access within a second. Records flagged not-to-disclose are never announced.
Batched (one directory look-up per 0.1 s of records), off the reply path: an alert that cannot
be sent is logged and dropped, the record stays the evidence.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hub.bus import OFFICES_EXCHANGE, Bus, Unroutable, office_in, signed_message
from hub.directory import Directory
from hub.log import get_logger
from hub.routing.context import Context
from hub.routing.tokens import TokenClient
from hub.wire import (
    HUB,
    AccessEvent,
    Envelope,
    OfficeKeys,
    TokenOk,
    new_traceparent,
)

__all__ = ["Announcer", "Sighting"]

log = get_logger("hub.announce")
_BATCH = 500
# Alerts wait this long to travel together: a resident sees them "within a second" either way,
# and the hub pays one directory look-up per linger instead of one per record (bench/README.md)
_LINGER = 0.1
_PENDING_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Sighting:
    ctx: Context
    status: str
    record_id: uuid.UUID
    at: dt.datetime


class Announcer:
    def __init__(
        self,
        *,
        bus: Bus,
        portals: Sequence[str],
        directory: Directory,
        tokens: TokenClient,
        hub_keys: OfficeKeys,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._bus = bus
        self._portals = tuple(portals)
        self._directory = directory
        self._tokens = tokens
        self._keys = hub_keys
        self._clock = clock
        self._pending: list[Sighting] = []
        self._drain: asyncio.Task[None] | None = None

    def note(self, sighting: Sighting) -> None:
        """Queue an alert (returns at once); one drain task sends what piles up meanwhile."""
        ctx = sighting.ctx
        if not self._portals or not ctx.person or ctx.not_disclosed:
            return
        if len(self._pending) >= _PENDING_MAX:  # the portal side is stuck: alerts, not records
            log.warning("access_alert.dropped", pending=len(self._pending))
            return
        self._pending.append(sighting)
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._run())

    async def _run(self) -> None:
        await asyncio.sleep(_LINGER)  # gather what comes meanwhile: one look-up for them all
        while self._pending:
            batch, self._pending = self._pending[:_BATCH], self._pending[_BATCH:]
            try:
                await self._flush(batch)
            except Exception as exc:  # noqa: BLE001 -- an alert is best effort; the record stays
                log.warning("access_alert.failed", error=repr(exc), alerts=len(batch))

    async def _flush(self, batch: Sequence[Sighting]) -> None:
        persons = list({s.ctx.person for s in batch})
        for portal in self._portals:
            held = await self._directory.held_by(portal, persons)
            # concurrent, so the token client batches the translations
            await asyncio.gather(*(self._send(portal, s) for s in batch if s.ctx.person in held))

    async def _send(self, portal: str, s: Sighting) -> None:
        result = await self._tokens.translate(s.ctx.person, HUB, (portal,))
        if not isinstance(result, TokenOk):
            log.warning("access_alert.untranslated", portal=portal, code=result.status)
            return
        ctx = s.ctx
        event = AccessEvent(
            envelope=Envelope(
                message_id=uuid.uuid4(),
                correlation_id=s.record_id,
                sender=HUB,
                recipient=portal,
                affair=ctx.affair,
                issued_at=self._clock(),
                deadline=self._clock() + dt.timedelta(minutes=5),
                traceparent=ctx.traceparent or new_traceparent(),
            ),
            person=result.tokens[0],
            record_id=s.record_id,
            at=s.at,
            requester=ctx.requester,
            provider=ctx.provider,
            items=ctx.items,
            outcome=s.status,  # type: ignore[arg-type]  # the record outcomes
        )
        out = signed_message(event, self._keys.signing)
        try:
            await self._bus.publish(OFFICES_EXCHANGE, office_in(portal), out)
        except Unroutable:
            log.warning("access_alert.unroutable", portal=portal)

    async def close(self) -> None:
        if self._drain is not None:
            await self._drain
