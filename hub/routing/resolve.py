"""Finding the provider without naming it: 'the office that holds this person's record'.

A requester may address a query to the hub itself; the hub then looks for the offices that are
allowed to answer it (registry and legal table) and, among them, the one that held a token for
the person on the reference date (the directory of enrollments). For 地方税関係情報 the
reference date is 1 January of the fiscal year asked (賦課期日); otherwise the day asked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from hub.directory import Enrollment
from hub.routing.exceptions import ROUTING_AMBIGUOUS_PROVIDER, ROUTING_NO_PROVIDER
from hub.routing.legal import LegalTable
from hub.routing.offices import Registry, authorize
from hub.wire import NotFound, Refused

__all__ = ["reference_date", "resolve_provider"]


def reference_date(
    items: tuple[str, ...], params: Mapping[str, str | int], asked: dt.date
) -> dt.date:
    """1 January of the fiscal year asked for local tax (賦課期日); else the day asked."""
    year = params.get("fiscal_year")
    if "local_tax" in items and isinstance(year, int) and 1900 < year < 3000:
        return dt.date(year, 1, 1)
    return asked


def _held(e: Enrollment, on: dt.date) -> bool:
    return e.since.date() <= on and (e.until is None or on < e.until.date())


def resolve_provider(  # noqa: PLR0917 -- the query's columns, then where and when to look
    table: LegalTable,
    registry: Registry,
    requester: str,
    affair: str,
    items: tuple[str, ...],
    holders: Sequence[Enrollment],
    on: dt.date,
    today: dt.date,
) -> str | NotFound | Refused:
    """The one office that may answer today and held the record on ``on``; else why not."""
    held = {e.office for e in holders if _held(e, on)}
    allowed = [
        o.code
        for o in registry
        if set(items) <= set(o.provides)
        and authorize(table, registry, requester, affair, o.code, items, today).allowed
    ]
    if not allowed:
        wanted = ", ".join(items)
        return Refused(
            code=ROUTING_NO_PROVIDER,
            reason=f"no office may answer {requester} for {wanted} under {affair}",
        )
    matches = [code for code in allowed if code in held]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        return NotFound(
            reason=f"none of {', '.join(allowed)} held a record for this person on {on}"
        )
    return Refused(
        code=ROUTING_AMBIGUOUS_PROVIDER,
        reason=f"several offices held a record on {on} ({', '.join(matches)}): name one",
    )
