"""Span batches: what our spans encode to, and the strict decoder that drops and counts."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace

from hub.tracing import (
    MAX_BATCH_BYTES,
    BadBatch,
    SpanCheck,
    SpanKind,
    decode_batch,
    encode_span,
    join_batch,
)
from hub.tracing import names as tn
from hub.tracing.spans import MAX_EVENTS, LeanSpan, LeanTracer

NOW = time.time_ns()
OFFICES = {"chiyoda-child", "chiyoda-tax", "hub", "token"}


def made_spans() -> list[LeanSpan]:
    """A request's span and the hub's under it, as the tracer hands them to the exporter."""
    ended: list[LeanSpan] = []
    tracer = LeanTracer(ended.append)
    parent = tracer.start_span(
        "query",
        kind=SpanKind.CLIENT,
        attributes={
            tn.REQUESTER: "chiyoda-child",
            tn.PROVIDER: "chiyoda-tax",
            tn.AFFAIR: "child_allowance",
            tn.ITEMS: ("local_tax",),
        },
    )
    child = tracer.start_span(
        "process hub.requests",
        context=trace.set_span_in_context(parent),
        kind=SpanKind.CONSUMER,
        attributes={tn.ROUTING_KEY: "query", tn.BODY_SIZE: 512, tn.DESTINATION: "renkei.hub"},
    )
    child.add_event("forwarded", {tn.BODY_SIZE: 600})
    child.set_attribute(tn.OUTCOME, "ok")
    child.end()
    parent.end()
    child.set_attribute(tn.OUTCOME, "refused")  # after the end: not recorded
    return ended


def test_spans_round_trip_with_their_parents_events_and_attributes() -> None:
    body = join_batch([encode_span(s) for s in made_spans()])
    decoded = decode_batch(body, now_ns=time.time_ns(), offices=OFFICES)
    assert not decoded.dropped
    hub, asked = decoded.spans
    assert (asked.name, asked.kind, asked.parent_id) == ("query", SpanKind.CLIENT.value, "")
    assert hub.parent_id == asked.span_id and hub.trace_id == asked.trace_id
    assert hub.events[0][0] == "forwarded" and hub.events[0][2] == {tn.BODY_SIZE: 600}
    assert asked.attributes[tn.ITEMS] == ["local_tax"]
    assert hub.attributes[tn.OUTCOME] == "ok"
    assert hub.start_ns >= asked.start_ns and hub.end_ns <= asked.end_ns


def good() -> list[Any]:
    return [
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
        "",
        "process office.in",
        4,
        NOW,
        NOW + 1000,
        0,
        {tn.PROVIDER: "chiyoda-tax", tn.BODY_SIZE: 400},
        [["replied", NOW + 500, {tn.BODY_SIZE: 300}]],
    ]


def with_(index: int, value: Any) -> list[Any]:
    span = good()
    span[index] = value
    return span


BAD_SPANS = {
    "shape": ["not", "a", "span"],
    "trace_id": with_(0, "0" * 32),
    "span_id": with_(1, "B7AD6B7169203331"),
    "parent_id": with_(2, "xyz"),
    "name": with_(3, "process C0000001"),
    "kind": with_(4, 9),
    "time": with_(6, NOW - 1),
    "attribute_key": with_(8, {"person": "AVswtBDurl803kSLlQdZrLBWAkLjv6VFOawa"}),
    "attribute_value": with_(8, {tn.AFFAIR: "C0000001 山田"}),
    "events": with_(9, [["replied"]]),
    "event_name": with_(9, [["山田 太郎", NOW, {}]]),
}


@pytest.mark.parametrize("reason", sorted(BAD_SPANS))
def test_a_malformed_span_is_dropped_with_its_reason_and_the_others_kept(reason: str) -> None:
    body = orjson.dumps({"v": 1, "spans": [good(), BAD_SPANS[reason], good()]})
    decoded = decode_batch(body, now_ns=NOW, offices=OFFICES)
    assert len(decoded.spans) == 2
    assert decoded.dropped == {reason: 1}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (tn.REQUESTER, "c0000001"),  # matches the office pattern, is no office of the network
        (tn.ROUTING_KEY, "office.c0000001.in"),
        (tn.BODY_SIZE, 123456789012),  # a number smuggled as a size
        (tn.BODY_SIZE, True),
        (tn.ITEMS, ["local_tax"] * 17),
        (tn.MESSAGE_ID, "C0000001"),
        (tn.SYSTEM, "kafka"),
    ],
)
def test_values_outside_what_their_key_allows_drop_the_span(key: str, value: Any) -> None:
    body = orjson.dumps({"v": 1, "spans": [with_(8, {key: value})]})
    assert decode_batch(body, now_ns=NOW, offices=OFFICES).dropped == {"attribute_value": 1}


def test_spans_from_the_far_future_or_past_are_dropped() -> None:
    hour = 3600 * 10**9
    spans = [with_(5, NOW + hour), with_(5, NOW - 8 * 24 * hour)]
    for span in spans:
        span[6] = span[5] + 1
    body = orjson.dumps({"v": 1, "spans": spans})
    assert decode_batch(body, now_ns=NOW).dropped == {"time": 2}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"v": 2, "spans": []}',
        b'{"v": 1, "spans": [], "service": "hub"}',
        b'{"v": 1, "spans": {}}',
        orjson.dumps({"v": 1, "spans": [good()] * 513}),
        b'{"v": 1, "spans": ["' + b"x" * MAX_BATCH_BYTES + b'"]}',
    ],
)
def test_a_body_that_is_no_batch_is_refused_whole(body: bytes) -> None:
    with pytest.raises(BadBatch):
        decode_batch(body, now_ns=NOW)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=30,
    )
)
def test_no_value_in_a_span_makes_the_decoder_raise_anything_but_bad_batch(value: Any) -> None:
    body = orjson.dumps({"v": 1, "spans": [value, good()]})
    try:
        decoded = decode_batch(body, now_ns=NOW)
    except BadBatch:
        return
    assert len(decoded.spans) + sum(decoded.dropped.values()) == 2


def test_the_memo_of_checked_values_tells_a_size_from_a_bool() -> None:
    check = SpanCheck(OFFICES)
    assert check.allowed(tn.BODY_SIZE, 1) and not check.allowed(tn.BODY_SIZE, True)
    assert check.allowed(tn.ITEMS, ["local_tax"]) and check.allowed(tn.ITEMS, ("local_tax",))
    assert not check.allowed(tn.AFFAIR, {"a": 1}) and not check.allowed(tn.AFFAIR, [["x"]])


def test_a_span_keeps_its_first_events_up_to_the_limit_and_is_still_stored() -> None:
    """A span of many events (a deadline message ended up to 64 queries under one span, two
    events each, before issue 19): the span keeps the first MAX_EVENTS (as OpenTelemetry's span
    limits do) and the monitor takes it."""
    ended: list[LeanSpan] = []
    span = LeanTracer(ended.append).start_span("timeout", kind=SpanKind.CONSUMER)
    for _ in range(64):
        span.add_event("recorded")
        span.add_event("replied", {tn.BODY_SIZE: 300})
    span.end()
    decoded = decode_batch(
        join_batch([encode_span(ended[0])]), now_ns=time.time_ns(), offices=OFFICES
    )
    assert not decoded.dropped
    assert len(decoded.spans[0].events) == MAX_EVENTS
