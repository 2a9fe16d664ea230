"""What the monitor keeps: spans with their vouched source, and the operational record of
each message flow derived from them (X-Road's operational data, per query)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Operation", "Search", "StoredSpan", "iso"]


@dataclass(frozen=True, slots=True)
class StoredSpan:
    source: str  # the broker-vouched identity that published the span (never the span's word)
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    status: int
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any]
    events: tuple[tuple[str, int, Mapping[str, Any]], ...]

    def attr(self, key: str) -> Any:
        return self.attributes.get(key)

    def event(self, name: str) -> tuple[int, Mapping[str, Any]] | None:
        for ev_name, at, attrs in self.events:
            if ev_name == name:
                return at, attrs
        return None

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["events"] = [{"name": n, "time_ns": t, "attributes": a} for n, t, a in self.events]
        out["attributes"] = dict(self.attributes)
        return out


@dataclass(frozen=True, slots=True)
class Operation:
    """One message flow (a query, an enrollment, a change event …), X-Road style: who asked
    whom under which affair, the outcome, the sizes, and six instants in Unix nanoseconds —
    requester out, hub in, provider in, provider out, hub out, requester in (None: no span
    said). The offices, affair and outcome are the hub's word when it sent a span, else the
    requester's (``told_by``)."""

    trace_id: str
    query_id: str | None
    kind: str | None
    requester: str | None
    provider: str | None
    affair: str | None
    items: tuple[str, ...]
    outcome: str | None
    error: str | None
    requester_out: int | None
    hub_in: int | None
    provider_in: int | None
    provider_out: int | None
    hub_out: int | None
    requester_in: int | None
    request_size: int | None
    response_size: int | None
    told_by: str | None  # the identity whose spans named the offices and affair
    sources: tuple[str, ...]  # every identity that sent a span of the trace
    spans: int

    @property
    def started_ns(self) -> int | None:
        return self.hub_in if self.hub_in is not None else self.requester_out

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("requester_out", "hub_in", "provider_in", "provider_out", "hub_out"):
            out[key] = iso(out[key])
        out["requester_in"] = iso(self.requester_in)
        out["items"] = list(self.items)
        out["sources"] = list(self.sources)
        return out


@dataclass(frozen=True, slots=True)
class Search:
    """What a console asks for; every field narrows (None: any). ``office`` is the requester
    or the provider; the period is the flow's start (hub in)."""

    trace_id: str | None = None
    office: str | None = None
    affair: str | None = None
    outcome: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    limit: int = 100
    oldest_first: bool = False


def iso(ns: int | None) -> str | None:
    """Unix nanoseconds as ISO 8601 UTC with microseconds."""
    if ns is None:
        return None
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="microseconds")
