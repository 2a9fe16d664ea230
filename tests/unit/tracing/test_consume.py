"""A consumer's span with tracing off: the one OpenTelemetry's no-op tracer would give, made
without it (the publisher's span from ``traceparent``, or none)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.trace import INVALID_SPAN, NoOpTracer

from hub.bus import TRACEPARENT_HEADER
from hub.tracing import OFF, consume, parent, traceparent
from hub.wire.base import new_traceparent

HEADERS = [
    None,
    new_traceparent(),
    "00-" + "0" * 32 + "-" + "1" * 16 + "-01",  # a zero trace id: no parent
    "00-abc-def-01",  # malformed
    "01-" + "a" * 32 + "-" + "b" * 16 + "-01",  # another version
    "00-" + "A" * 32 + "-" + "b" * 16 + "-01",  # upper case
    "x" * 10_000,
]


def _delivery(header: str | None) -> Any:
    headers = {} if header is None else {TRACEPARENT_HEADER: header}
    return SimpleNamespace(headers=headers, exchange="hub", routing_key="rk", body=b"{}")


# fixed ids: a random one would differ between pytest-xdist workers
IDS = ["none", "fresh", "zero-trace-id", "malformed", "version-01", "upper-case", "10k"]


@pytest.mark.parametrize("header", HEADERS, ids=IDS)
def test_off_gives_what_the_no_op_tracer_gives(header: str | None) -> None:
    d = _delivery(header)
    mine = consume(OFF.tracer, "process hub.requests", d)
    theirs = NoOpTracer().start_span("process hub.requests", context=parent(header))
    assert mine.get_span_context() == theirs.get_span_context()
    assert not mine.is_recording()
    assert traceparent(mine, "fallback") == traceparent(theirs, "fallback")


def test_off_carries_the_publishers_traceparent_on() -> None:
    header = new_traceparent()
    assert traceparent(consume(OFF.tracer, "x", _delivery(header)), "fallback") == header


def test_off_without_a_header_starts_nothing() -> None:
    assert consume(OFF.tracer, "x", _delivery(None)) is INVALID_SPAN
