"""The console's query parameters, pure: a search (trace id, office, affair, outcome, period)
and an auditor's period, checked field by field; anything malformed or oversized is
``BadParam`` naming the field (a 400, never a 500)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from hub.wire import OUTCOME_STATUSES
from monitor.model import Search

__all__ = ["MAX_LIMIT", "MAX_QUERY", "BadParam", "Period", "parse_period", "parse_search"]

MAX_QUERY = 1024  # characters of a query string
MAX_VALUE = 64
MAX_LIMIT = 500
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_AFFAIR = re.compile(r"^[a-z][a-z0-9_]{1,47}$")  # hub.wire's affair codes
_SEARCH = ("trace_id", "office", "affair", "outcome", "since", "until", "limit")


class BadParam(ValueError):
    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Period:
    since_ns: int | None
    until_ns: int | None


def _instant(field: str, text: str) -> int:
    """``YYYY-MM-DDTHH:MM[:SS]`` (an HTML datetime-local; UTC unless it says) → Unix ns."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadParam(field, "a time as YYYY-MM-DDTHH:MM (UTC)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if not 2000 <= when.year <= 2999:
        raise BadParam(field, "a year between 2000 and 2999")
    return int(when.timestamp()) * 10**9 + when.microsecond * 1000


def _values(query: Mapping[str, str], fields: Collection[str]) -> dict[str, str]:
    out = {}
    for key in fields:
        value = query.get(key, "")
        if len(value) > MAX_VALUE:
            raise BadParam(key, f"at most {MAX_VALUE} characters")
        if value.strip():
            out[key] = value.strip()
    return out


def parse_period(query: Mapping[str, str]) -> Period:
    v = _values(query, ("since", "until"))
    since = _instant("since", v["since"]) if "since" in v else None
    until = _instant("until", v["until"]) if "until" in v else None
    if since is not None and until is not None and until <= since:
        raise BadParam("until", "after since")
    return Period(since, until)


def parse_search(query: Mapping[str, str], offices: Collection[str]) -> Search:
    """The search a query string asks for; ``offices``: the network's office codes."""
    v = _values(query, _SEARCH)
    if "trace_id" in v and not TRACE_ID.fullmatch(v["trace_id"]):
        raise BadParam("trace_id", "32 lower-case hex digits")
    if "office" in v and v["office"] not in offices:
        raise BadParam("office", "an office of the network")
    if "affair" in v and not _AFFAIR.fullmatch(v["affair"]):
        raise BadParam("affair", "an affair code (a-z, 0-9, _)")
    if "outcome" in v and v["outcome"] not in OUTCOME_STATUSES:
        raise BadParam("outcome", f"one of {', '.join(sorted(OUTCOME_STATUSES))}")
    limit = 100
    if "limit" in v:
        if (
            not (v["limit"].isascii() and v["limit"].isdigit())
            or not 1 <= int(v["limit"]) <= MAX_LIMIT
        ):
            raise BadParam("limit", f"a whole number from 1 to {MAX_LIMIT}")
        limit = int(v["limit"])
    period = parse_period(v)
    return Search(
        trace_id=v.get("trace_id"),
        office=v.get("office"),
        affair=v.get("affair"),
        outcome=v.get("outcome"),
        since_ns=period.since_ns,
        until_ns=period.until_ns,
        limit=limit,
    )
