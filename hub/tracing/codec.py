"""Span batches on the wire: compact JSON, and a strict decoder that drops what it must.

A batch is ``{"v": 1, "spans": [span, ...]}``, each span an array::

    [trace_id, span_id, parent_id, name, kind, start_ns, end_ns, status, {attributes},
     [[event_name, time_ns, {attributes}], ...]]

ids in lowercase hex (``parent_id`` "" for a root), ``kind`` and ``status`` OpenTelemetry's
numbers. The decoder trusts nothing: a body that is not a batch is refused whole
(``BadBatch``); each span is checked on its own against the limits and the allow-list
(``hub.tracing.names``) and dropped, with its reason counted, when it fails one. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from hub.tracing.exceptions import BadBatch
from hub.tracing.names import (
    ATTRIBUTE_CHECKS,
    CONVERSATION_ID,
    EVENT_ATTRIBUTES,
    EVENT_NAMES,
    MESSAGE_ID,
    PROVIDER,
    REQUESTER,
    ROUTING_KEY,
    SPAN_NAMES,
)
from hub.tracing.spans import MAX_EVENTS, LeanSpan
from hub.wire import MAX_MESSAGE_BYTES

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_SPANS",
    "MAX_EVENTS",
    "Decoded",
    "SpanCheck",
    "SpanRecord",
    "decode_batch",
    "encode_span",
    "join_batch",
]

VERSION: Final = 1
MAX_BATCH_BYTES: Final = MAX_MESSAGE_BYTES  # no message of the network is larger
MAX_BATCH_SPANS: Final = 512
MAX_ATTRIBUTES: Final = 16  # the allow-list has 15 keys
MAX_DURATION_NS: Final = 15 * 60 * 10**9  # a query's deadline is at most 120 s
FUTURE_NS: Final = 5 * 60 * 10**9  # clocks of the network's hosts may differ this much
PAST_NS: Final = 7 * 24 * 3600 * 10**9  # spans queued while the monitor was down
_HEAD: Final = b'{"v":1,"spans":['
_TAIL: Final = b"]}"
_TRACE = re.compile(r"^[0-9a-f]{32}$")
_SPAN = re.compile(r"^[0-9a-f]{16}$")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
_UNIQUE = frozenset({MESSAGE_ID, CONVERSATION_ID})  # a new value in every span: not memoized


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One decoded span. ``source`` is not in it: the monitor adds the broker-vouched
    identity that published the batch."""

    trace_id: str
    span_id: str
    parent_id: str  # "" for a root
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status: int
    attributes: Mapping[str, Any]
    events: tuple[tuple[str, int, Mapping[str, Any]], ...]


@dataclass(frozen=True, slots=True)
class Decoded:
    spans: list[SpanRecord]
    dropped: Counter[str]  # reason → spans dropped


def encode_span(span: LeanSpan) -> bytes:
    """A finished span as its compact array."""
    ctx = span.get_span_context()
    return orjson.dumps(
        [
            f"{ctx.trace_id:032x}",
            f"{ctx.span_id:016x}",
            f"{span.parent_id:016x}" if span.parent_id else "",
            span.name,
            span.kind.value,
            span.start_ns,
            span.end_ns,
            span.status,
            span.attributes,
            span.events,
        ]
    )


def join_batch(encoded: Sequence[bytes]) -> bytes:
    return _HEAD + b",".join(encoded) + _TAIL


def batch_overhead() -> int:
    return len(_HEAD) + len(_TAIL)


def decode_batch(body: bytes, *, now_ns: int, offices: Iterable[str] | None = None) -> Decoded:
    """The batch's valid spans and the reasons the others were dropped. ``offices``: the
    network's office codes (and service identities); office attributes must name one."""
    return SpanCheck(offices).decode(body, now_ns=now_ns)


class SpanCheck:
    """``decode_batch`` for a long-lived reader (the monitor): it remembers which attribute
    values it has checked already (office codes, affairs, items, sizes repeat in nearly every
    span), at most ``memo`` of them."""

    def __init__(self, offices: Iterable[str] | None = None, *, memo: int = 4096) -> None:
        self.offices = frozenset(offices) if offices is not None else None
        self.memo: dict[tuple[str, type, Any], bool] = {}
        self._most = memo

    def decode(self, body: bytes, *, now_ns: int) -> Decoded:
        if len(body) > MAX_BATCH_BYTES:
            raise BadBatch(f"a span batch is at most {MAX_BATCH_BYTES} bytes, not {len(body)}")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadBatch(f"not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("v") != VERSION or set(data) != {"v", "spans"}:
            raise BadBatch('not a span batch ({"v": 1, "spans": [...]})')
        raw = data["spans"]
        if not isinstance(raw, list) or len(raw) > MAX_BATCH_SPANS:
            raise BadBatch(f"spans must be a list of at most {MAX_BATCH_SPANS}")
        spans: list[SpanRecord] = []
        dropped: Counter[str] = Counter()
        for item in raw:
            result = _span(item, now_ns, self)
            if isinstance(result, str):
                dropped[result] += 1
            else:
                spans.append(result)
        return Decoded(spans, dropped)

    def allowed(self, key: str, value: Any) -> bool:
        """May ``key`` carry ``value``? (The allow-list, and the network's office codes.)"""
        # the type too: True == 1 and hashes alike, but only an int is a size
        memo_key = (key, type(value), tuple(value) if isinstance(value, list) else value)
        try:
            known = self.memo.get(memo_key)
        except TypeError:  # an unhashable value: a dict, a nested list
            return False
        if known is not None:
            return known
        check = ATTRIBUTE_CHECKS.get(key)
        ok = check is not None and check(value)
        if ok and self.offices is not None:
            ok = _known(key, value, self.offices)
        if key not in _UNIQUE:
            if len(self.memo) >= self._most:
                self.memo.clear()
            self.memo[memo_key] = ok
        return ok


def _span(  # noqa: PLR0911 - one return per reason, in the order checked
    item: Any, now_ns: int, check: SpanCheck
) -> SpanRecord | str:
    """The span, or why it is dropped."""
    if not isinstance(item, list) or len(item) != 10:
        return "shape"
    trace_id, span_id, parent_id, name, kind, start, end, status, attrs, events = item
    if not (isinstance(trace_id, str) and _TRACE.match(trace_id) and trace_id != _ZERO_TRACE):
        return "trace_id"
    if not (isinstance(span_id, str) and _SPAN.match(span_id) and span_id != _ZERO_SPAN):
        return "span_id"
    if not (isinstance(parent_id, str) and (parent_id == "" or _SPAN.match(parent_id))):
        return "parent_id"
    if not isinstance(name, str) or name not in SPAN_NAMES:
        return "name"
    if (
        type(kind) is not int
        or not 0 <= kind <= 4
        or type(status) is not int
        or not 0 <= status <= 2
    ):
        return "kind"
    if type(start) is not int or type(end) is not int or not 0 <= end - start <= MAX_DURATION_NS:
        return "time"
    if not now_ns - PAST_NS <= start <= now_ns + FUTURE_NS:
        return "time"
    problem = _attributes(attrs, check)
    if problem:
        return problem
    checked = _events(events, start, end, check)
    if isinstance(checked, str):
        return checked
    return SpanRecord(trace_id, span_id, parent_id, name, kind, start, end, status, attrs, checked)


def _attributes(attrs: Any, check: SpanCheck, keys: frozenset[str] | None = None) -> str:
    if not isinstance(attrs, dict) or len(attrs) > MAX_ATTRIBUTES:
        return "attributes"
    memo = check.memo
    for key, value in attrs.items():
        if key not in ATTRIBUTE_CHECKS or (keys is not None and key not in keys):
            return "attribute_key"
        try:  # the hot path: a value seen before (a list is unhashable: checked afresh)
            ok = memo[(key, value.__class__, value)]
        except (KeyError, TypeError):
            ok = check.allowed(key, value)
        if not ok:
            return "attribute_value"
    return ""


def _known(key: str, value: Any, offices: frozenset[str]) -> bool:
    """Office codes (and the office in an office queue's routing key) must be the network's."""
    if key in (REQUESTER, PROVIDER):
        return value in offices
    if key == ROUTING_KEY and value.startswith("office."):
        return value.split(".")[1] in offices
    return True


def _events(
    events: Any, start: int, end: int, check: SpanCheck
) -> tuple[tuple[str, int, Mapping[str, Any]], ...] | str:
    if not isinstance(events, list) or len(events) > MAX_EVENTS:
        return "events"
    out = []
    for event in events:
        if not isinstance(event, list) or len(event) != 3:
            return "events"
        name, at, attrs = event
        if not isinstance(name, str) or name not in EVENT_NAMES:
            return "event_name"
        if type(at) is not int or not start - 10**9 <= at <= end + 10**9:
            return "time"
        problem = _attributes(attrs, check, EVENT_ATTRIBUTES)
        if problem:
            return problem
        out.append((name, at, attrs))
    return tuple(out)
