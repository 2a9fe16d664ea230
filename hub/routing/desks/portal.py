"""The portal's desk at the hub: what the resident portal asks, for the resident logged in.

The query desk hands every query of the portal here: the portal rules (``hub.routing.portal``)
instead of the legal table; disclosures the hub answers itself — the person's access records,
which offices hold them, one record proved in the hash chain — sealed for the portal; where to
file an application (``ApplicationDesk``); everything else forwarded like any query.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import orjson

from hub.directory import Directory
from hub.records import AccessRecord, RecordStore
from hub.records.chain import span_intact
from hub.routing.context import Context
from hub.routing.desks.application import WITHHOLDS_NOTHING, ApplicationDesk
from hub.routing.desks.forward import Forwarder, forwarded_query
from hub.routing.exceptions import HUB_BAD_DISCLOSURE, HUB_NO_RECORDS
from hub.routing.finish import hub_error, refused, refused_by_law
from hub.routing.offices import Registry
from hub.routing.portal import APPLICATION, DISCLOSURE, authorize_portal
from hub.routing.tokens import TokenClient
from hub.wire import SEALED_MAX_PLAIN, Answered, Outcome, Query, Refused, TokenOk, seal
from hub.wire.base import HUB

__all__ = ["DISCLOSED_MAX", "Filters", "PortalDesk", "disclosure_filters", "page"]

DISCLOSED_MAX = 200  # records read for one answer: more than ever fit in one (``page``)
JST = dt.timezone(dt.timedelta(hours=9), "JST")  # the resident's days
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OFFICE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_FILTERS = ("office", "since", "until", "before", "record_id")


@dataclass(frozen=True, slots=True)
class Filters:
    """Which of the person's records a disclosure shows: by an office on either side, asked
    from ``since`` (incl.) until ``until`` (excl.), earlier in the chain than ``before``."""

    office: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before: int | None = None


def disclosure_filters(params: Mapping[str, str | int]) -> Filters | Refused:
    """The filters a disclosure's parameters name, or its refusal (``hub.bad_disclosure``):
    ``office`` an office code; ``since`` and ``until`` days (``YYYY-MM-DD``, in Japan, both
    included); ``before`` a record's place in the chain (``older`` of the page before);
    ``record_id`` the record ``record_check`` proves. Nothing else."""
    unknown = sorted(set(params) - set(_FILTERS))
    if unknown:
        return refused(HUB_BAD_DISCLOSURE, f"unknown parameters {unknown}")
    office, since, until, before = (params.get(k) for k in _FILTERS[:4])
    if office is not None and not (
        isinstance(office, str) and len(office) <= 40 and _OFFICE.match(office)
    ):
        return refused(HUB_BAD_DISCLOSURE, "office must be an office code")
    days = []
    for name, value in (("since", since), ("until", until)):
        if value is not None and not (isinstance(value, str) and _DAY.match(value)):
            return refused(HUB_BAD_DISCLOSURE, f"{name} must be a date YYYY-MM-DD")
        try:
            day = None if value is None else dt.date.fromisoformat(str(value))
        except ValueError:
            return refused(HUB_BAD_DISCLOSURE, f"{name} is not a date of the calendar")
        days.append(None if day is None else dt.datetime.combine(day, dt.time(), JST))
    first, last = days
    if before is not None and not (isinstance(before, int) and before > 0):
        return refused(HUB_BAD_DISCLOSURE, "before must be a positive integer")
    return Filters(
        office=office,
        since=first,
        until=None if last is None else last + dt.timedelta(days=1),
        before=before,
    )


def _row(r: AccessRecord) -> dict[str, object]:
    return {
        "record_id": str(r.record_id),
        "at": r.answered_at.isoformat(),
        "requester": r.requester,
        "provider": r.provider,
        "affair": r.affair,
        "items": list(r.items),
        "outcome": r.outcome,
        "hash": r.hash.hex(),
    }


def page(
    newest_first: Sequence[AccessRecord], budget: int
) -> tuple[list[dict[str, object]], int | None]:
    """As many of the records as fit in ``budget`` bytes of JSON, newest first, and where the
    next page back starts (``before`` it: the last one shown), None when this was the last
    (fewer records came than ``DISCLOSED_MAX``, and all fit)."""
    rows: list[dict[str, object]] = []
    used = 2  # the list's brackets
    for r in newest_first:
        row = _row(r)
        used += len(orjson.dumps(row)) + 1  # and a comma
        if used > budget:
            if not rows:  # a record is at most a few KiB; the room is over 30
                raise ValueError(f"{budget} bytes hold no record")
            return rows, newest_first[len(rows) - 1].seq
        rows.append(row)
    more = len(newest_first) >= DISCLOSED_MAX
    return rows, newest_first[-1].seq if more and rows else None


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
        """情報提供等記録の開示: the person's records, newest first, the withheld ones left out,
        filtered as asked, as many as one answer holds, and where the next page starts
        (``older``); which offices hold them; one record proved in the chain."""
        if self.records is None:
            return hub_error(HUB_NO_RECORDS, "this hub worker reads no access records")
        filters = disclosure_filters(msg.params)
        if isinstance(filters, Refused):
            return filters
        data: dict[str, object] = {}
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
        if "access_records" in ctx.items:  # last: the rest of the answer is known by then
            f = filters
            records = await self.records.for_person(
                ctx.person,
                office=f.office,
                since=f.since,
                until=f.until,
                before=f.before,
                newest=DISCLOSED_MAX,
            )
            records.reverse()  # newest first
            room = SEALED_MAX_PLAIN - len(orjson.dumps(data)) - 64  # the two keys, the seq
            data["access_records"], data["older"] = page(records, room)
        return Answered(payload=seal(orjson.dumps(data), self.forwarder.keys[ctx.requester].seal))
