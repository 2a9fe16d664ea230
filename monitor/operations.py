"""From a trace's spans to its operational records: pure, one rule per instant.

- requester out / in: the start and end of the requester's span (an office's ``query``,
  ``enroll`` … span, kind CLIENT, sent by that office);
- hub in: the start of the hub's ``process hub.requests`` span; the request's size is the body
  the hub received;
- provider in / out: the start of the provider's ``process office.in`` span and its
  ``replied`` event;
- hub out: the hub's ``replied`` event (on the span that finished the flow); the response's
  size is the reply the hub sent.

Only spans from the identity that plays each part count (the source the broker vouched for):
an office cannot speak for the hub, nor one office for another.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from hub.tracing import names as tn
from monitor.model import Operation, Search, StoredSpan

__all__ = ["REQUEST_SPANS", "matches", "operations"]

HUB, TOKEN = "hub", "token"
REQUEST_SPANS = frozenset({"query", "enroll", "change", "identify", "notice"})
_HUB_IN = "process hub.requests"
_OFFICE_IN = "process office.in"
CLIENT = 2  # OpenTelemetry's SpanKind.CLIENT


def operations(spans: Iterable[StoredSpan]) -> list[Operation]:
    """One operation per query id seen in the trace (a trace is one flow, but an office may
    send several requests in one of its own spans)."""
    by_trace: dict[str, list[StoredSpan]] = defaultdict(list)
    for s in spans:
        by_trace[s.trace_id].append(s)
    out: list[Operation] = []
    for trace_id, group in by_trace.items():
        group.sort(key=lambda s: s.start_ns)
        ids = [s.attr(tn.CONVERSATION_ID) for s in group if _is_request(s)]
        ids += [s.attr(tn.CONVERSATION_ID) for s in group if s.name == _HUB_IN and s.source == HUB]
        seen = list(dict.fromkeys(i for i in ids if i)) or [None]
        out.extend(_operation(trace_id, group, qid) for qid in seen)
    return out


def _is_request(s: StoredSpan) -> bool:
    return s.kind == CLIENT and s.name in REQUEST_SPANS and s.source == s.attr(tn.REQUESTER)


def _of(group: Sequence[StoredSpan], qid: str | None) -> list[StoredSpan]:
    if qid is None:
        return list(group)
    return [s for s in group if s.attr(tn.CONVERSATION_ID) in (qid, None)]


def _operation(trace_id: str, group: Sequence[StoredSpan], qid: str | None) -> Operation:
    mine = _of(group, qid)
    hub_in = next((s for s in mine if s.name == _HUB_IN and s.source == HUB), None)
    asked = next((s for s in mine if _is_request(s)), None)
    told = hub_in or asked
    provider = told.attr(tn.PROVIDER) if told else None
    served = next(
        (s for s in mine if s.name == _OFFICE_IN and s.source == provider and provider), None
    )
    finished = [s for s in mine if s.source == HUB and s.attr(tn.OUTCOME) is not None]
    last = max(finished, key=lambda s: s.end_ns) if finished else None
    outcome_span = last or asked
    replied = next((e for s in mine if s.source == HUB and (e := s.event("replied"))), None)
    provider_out = served.event("replied") if served else None
    return Operation(
        trace_id=trace_id,
        query_id=qid,
        kind=told.attr(tn.KIND) if told else None,
        requester=told.attr(tn.REQUESTER) if told else None,
        provider=provider,
        affair=told.attr(tn.AFFAIR) if told else None,
        items=tuple(told.attr(tn.ITEMS) or ()) if told else (),
        outcome=outcome_span.attr(tn.OUTCOME) if outcome_span else None,
        error=outcome_span.attr(tn.ERROR_TYPE) if outcome_span else None,
        requester_out=asked.start_ns if asked else None,
        hub_in=hub_in.start_ns if hub_in else None,
        provider_in=served.start_ns if served else None,
        provider_out=provider_out[0] if provider_out else None,
        hub_out=replied[0] if replied else None,
        requester_in=asked.end_ns if asked else None,
        request_size=hub_in.attr(tn.BODY_SIZE) if hub_in else None,
        response_size=replied[1].get(tn.BODY_SIZE) if replied else None,
        told_by=told.source if told else None,
        sources=tuple(sorted({s.source for s in mine})),
        spans=len(mine),
    )


def matches(op: Operation, q: Search) -> bool:
    """Does ``op`` answer the search ``q``?"""
    started = op.started_ns
    return (
        (q.trace_id is None or op.trace_id == q.trace_id)
        and (q.office is None or q.office in (op.requester, op.provider))
        and (q.affair is None or op.affair == q.affair)
        and (q.outcome is None or op.outcome == q.outcome)
        and (q.since_ns is None or (started is not None and started >= q.since_ns))
        and (q.until_ns is None or (started is not None and started < q.until_ns))
    )
