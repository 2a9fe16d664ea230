"""The portal's desk at the hub: what the resident portal asks, for the resident logged in.

The query desk hands every query of the portal here: the portal rules (``hub.routing.portal``)
instead of the legal table; disclosures the hub answers itself — the person's access records,
which offices hold them, one record proved in the hash chain — sealed for the portal; where to
file an application (``ApplicationDesk``); everything else forwarded like any query.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import orjson

from hub.directory import Directory
from hub.records import AccessRecord, RecordStore
from hub.records.chain import span_intact
from hub.routing.context import Context
from hub.routing.desks.application import WITHHOLDS_NOTHING, ApplicationDesk
from hub.routing.desks.forward import Forwarder, forwarded_query
from hub.routing.exceptions import HUB_NO_RECORDS
from hub.routing.finish import hub_error, refused_by_law
from hub.routing.offices import Registry
from hub.routing.portal import APPLICATION, DISCLOSURE, authorize_portal
from hub.routing.tokens import TokenClient
from hub.wire import HUB, Answered, Outcome, Query, Sealed, TokenOk, seal

__all__ = ["DISCLOSED_MAX", "PortalDesk"]

DISCLOSED_MAX = 1000  # newest records in one disclosure answer


@dataclass(frozen=True, slots=True)
class PortalDesk:
    tokens: TokenClient
    registry: Registry
    directory: Directory
    records: RecordStore | None
    forwarder: Forwarder
    applications: ApplicationDesk

    async def handle(self, msg: Query, ctx: Context) -> tuple[Context, Outcome | None]:
        """The portal's query, for the resident logged in: the portal rules, not the table."""
        d = self
        if ctx.affair == APPLICATION and ctx.provider == HUB:
            return await self.applications.handle(msg, ctx)
        targets = (HUB,) if ctx.provider == HUB else (ctx.provider, HUB)
        result = await d.tokens.translate(msg.person, ctx.requester, targets)
        if not isinstance(result, TokenOk):
            return ctx, result
        ctx = replace(ctx, person=result.tokens[-1])
        if msg.not_disclosed:
            return ctx, WITHHOLDS_NOTHING
        has_document = msg.document is not None
        asked = (ctx.affair, ctx.provider, ctx.items)
        decision = authorize_portal(d.registry, *asked, has_document=has_document)
        if not decision.allowed:
            return ctx, refused_by_law(decision)
        if ctx.affair == DISCLOSURE:
            return ctx, await self._disclose(msg, ctx)
        fwd = forwarded_query(d.forwarder, msg, ctx, result.tokens[0])
        return ctx, await d.forwarder.forward(ctx, fwd)

    async def _in_chain(self, record: AccessRecord) -> bool:
        """The record, its predecessor and every record up to the first signed checkpoint at
        or after it, linked and hashed right (up to the head while no checkpoint covers it)."""
        store = self.records
        assert store is not None
        after = [c for c in await store.checkpoints() if c.seq >= record.seq]
        checkpoint = min(after, key=lambda c: c.seq) if after else None
        last = checkpoint.seq if checkpoint else record.seq
        span = await store.between(max(record.seq - 1, 1), last)
        return span_intact(span, checkpoint, store.public_key)

    async def _disclose(self, msg: Query, ctx: Context) -> Outcome:
        """情報提供等記録の開示: the person's records, newest first, the withheld ones left out
        (at most the newest 1000); which offices hold them; one record proved in the chain."""
        if self.records is None:
            return hub_error(HUB_NO_RECORDS, "this hub worker reads no access records")
        data: dict[str, object] = {}
        if "access_records" in ctx.items:
            records = await self.records.for_person(ctx.person, newest=DISCLOSED_MAX)
            records.reverse()  # newest first
            data["access_records"] = [
                {
                    "record_id": str(r.record_id),
                    "at": r.answered_at.isoformat(),
                    "requester": r.requester,
                    "provider": r.provider,
                    "affair": r.affair,
                    "items": list(r.items),
                    "outcome": r.outcome,
                    "hash": r.hash.hex(),
                }
                for r in records
            ]
        if "holders" in ctx.items:  # which offices hold the person now (わたしの情報 asks them)
            held = await self.directory.holders(ctx.person)
            data["holders"] = sorted(e.office for e in held if e.until is None)
        if "record_check" in ctx.items:
            wanted = str(msg.params.get("record_id", ""))
            mine = await self.records.for_person(ctx.person)  # (a click: all of theirs)
            found = next((r for r in mine if str(r.record_id) == wanted), None)
            data["record_check"] = {
                "record_id": wanted,
                "found": found is not None,
                "valid": found is not None and await self._in_chain(found),
                "hash": found.hash.hex() if found else "",
            }
        sealed: Sealed = seal(orjson.dumps(data), self.forwarder.keys[ctx.requester].seal)
        return Answered(payload=sealed)
