"""The portal's desk at the hub: what the resident portal asks, for the resident logged in.

The router hands every query of the portal here (``route``): the portal rules
(``hub.routing.portal``) instead of the legal table; disclosures the hub answers itself — the
person's access records, which offices hold them, one record proved in the hash chain — sealed
for the portal; where to file an application; everything else forwarded like any query.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

import orjson

from hub.directory import Directory
from hub.records import AccessRecord, RecordStore
from hub.records.chain import span_intact
from hub.routing.context import Context
from hub.routing.offices import Registry
from hub.routing.outcomes import hub_error, refused
from hub.routing.portal import APPLICATION, DISCLOSURE, authorize_portal
from hub.routing.tokens import TokenClient
from hub.wire import HUB, Answered, NotFound, Outcome, PublicKeys, Query, Sealed, TokenOk, seal

__all__ = ["WITHHOLDS_NOTHING", "Forward", "PortalDesk"]

DISCLOSED_MAX = 1000  # newest records in one disclosure answer
WITHHOLDS_NOTHING = refused(
    "routing.not_withholdable", "the portal acts for the resident: it withholds nothing from them"
)
Forward = Callable[[Query, Context, str], Awaitable[Outcome | None]]


@dataclass(frozen=True, slots=True)
class PortalDesk:
    tokens: TokenClient
    registry: Registry
    directory: Directory
    records: RecordStore | None
    keys: Mapping[str, PublicKeys]

    async def route(
        self, msg: Query, ctx: Context, forward: Forward
    ) -> tuple[Context, Outcome | None]:
        """The portal's query, for the resident logged in: the portal rules, not the table."""
        d = self
        if ctx.affair == APPLICATION and ctx.provider == HUB:
            return await self._where_to_file(msg, ctx)
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
            return ctx, refused(f"routing.{decision.code}", decision.reason)
        if ctx.affair == DISCLOSURE:
            return ctx, await self._disclose(msg, ctx)
        return ctx, await forward(msg, ctx, result.tokens[0])

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

    async def _where_to_file(self, msg: Query, ctx: Context) -> tuple[Context, Outcome]:
        """Where the portal files this kind of application for the resident: a national office
        (the tax office), or the municipal one that holds them now (their register, for a
        move). Answered first, unsigned, so that the application can be sealed for it alone."""
        d = self
        result = await d.tokens.translate(msg.person, ctx.requester, (HUB,))
        if not isinstance(result, TokenOk):
            return ctx, result
        ctx = replace(ctx, person=result.tokens[0])
        if msg.not_disclosed:
            return ctx, WITHHOLDS_NOTHING
        if msg.document is not None or len(ctx.items) != 1:
            return ctx, refused(
                "hub.unaddressed_application",
                "ask the hub where to file one kind of application, then send it there",
            )
        holding = {e.office for e in await d.directory.holders(ctx.person) if not e.until}
        kind = ctx.items[0]
        for office in d.registry:
            if kind in office.accepts and (office.municipality is None or office.code in holding):
                answer = orjson.dumps({"office": office.code})
                return ctx, Answered(payload=seal(answer, d.keys[ctx.requester].seal))
        return ctx, NotFound(reason=f"no office that takes {kind} applications holds this person")

    async def _disclose(self, msg: Query, ctx: Context) -> Outcome:
        """情報提供等記録の開示: the person's records, newest first, the withheld ones left out
        (at most the newest 1000); which offices hold them; one record proved in the chain."""
        if self.records is None:
            return hub_error("hub.no_records", "this hub worker reads no access records")
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
        sealed: Sealed = seal(orjson.dumps(data), self.keys[ctx.requester].seal)
        return Answered(payload=sealed)
