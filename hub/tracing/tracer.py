"""One participant's tracer, and the two conversions between spans and ``traceparent``.

``Tracing.on(bus)`` gives a participant (the hub, the token service, an office) an
OpenTelemetry tracer (the API's, recording lean spans: ``hub.tracing.spans``) whose spans
leave over that participant's own bus
(``BusSpanExporter``), so the monitor knows from the broker who sent each span. ``OFF`` is the
no-op tracer (OpenTelemetry's ``NoOpTracer``): spans cost next to nothing and the envelopes
carry a fresh ``traceparent`` as before. Every message flow is traced (no sampling: it
would lose the flows the oversight wants).

Spans are never put in a context that outlives their task: a consumer's span takes its parent
from the message's ``traceparent`` header (``parent``) and is made current only inside the
delivery's own task (``current``), so the in-process bus, which starts a consumer's task from
the publisher's, never lends one participant's span to another.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    INVALID_SPAN,
    NonRecordingSpan,
    NoOpTracer,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
)

from hub.bus import TRACEPARENT_HEADER, Bus, Delivery
from hub.tracing import names
from hub.tracing.export import BusSpanExporter, ExportStats
from hub.tracing.spans import LeanTracerProvider

__all__ = [
    "OFF",
    "Span",
    "SpanKind",
    "Tracing",
    "consume",
    "current",
    "current_span",
    "parent",
    "traceparent",
]

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_EMPTY = otel_context.Context()


class Tracing:
    """A tracer and where its spans go; ``OFF`` when tracing is switched off."""

    def __init__(self, tracer: Any, exporter: BusSpanExporter | None = None) -> None:
        self.tracer = tracer
        self.exporter = exporter

    @classmethod
    def on(cls, bus: Bus, *, delay: float = 1.0, max_buffer: int = 20_000) -> Tracing:
        exporter = BusSpanExporter(bus, delay=delay, max_buffer=max_buffer)
        return cls(LeanTracerProvider(exporter.on_end).get_tracer("renkei"), exporter)

    @property
    def enabled(self) -> bool:
        return self.exporter is not None

    @property
    def stats(self) -> ExportStats:
        return self.exporter.stats if self.exporter is not None else ExportStats()

    async def flush(self) -> None:
        if self.exporter is not None:
            await self.exporter.flush()

    async def close(self) -> None:
        if self.exporter is not None:
            await self.exporter.close()


OFF = Tracing(trace.NoOpTracer())


def parent(header: str | None) -> otel_context.Context:
    """The context a consumer's span starts in: the publisher's span from a ``traceparent``
    header, or none (a new trace) — never whatever happens to be current."""
    span = _remote(header)
    return _EMPTY if span is INVALID_SPAN else trace.set_span_in_context(span, _EMPTY)


def _remote(header: str | None) -> Span:
    """The publisher's span named by a ``traceparent`` header (``INVALID_SPAN`` if none)."""
    if header is None:
        return INVALID_SPAN
    m = _TRACEPARENT.match(header)
    if m is None:
        return INVALID_SPAN
    trace_id, span_id, flags = int(m[1], 16), int(m[2], 16), int(m[3], 16)
    if not trace_id or not span_id:
        return INVALID_SPAN
    return NonRecordingSpan(
        SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))
    )


def consume(tracer: Any, name: str, d: Delivery) -> Span:
    """A consumer's span for delivery ``d``: its parent the publisher's span (the message's
    ``traceparent`` header), OpenTelemetry's messaging attributes, started now. With tracing
    off it is the publisher's span itself, as the no-op tracer would return, without the
    attributes nobody records (they were a few µs of every message)."""
    if type(tracer) is NoOpTracer:
        return _remote(d.headers.get(TRACEPARENT_HEADER))
    return tracer.start_span(  # type: ignore[no-any-return]
        name,
        context=parent(d.headers.get(TRACEPARENT_HEADER)),
        kind=SpanKind.CONSUMER,
        attributes={
            names.SYSTEM: "rabbitmq",
            names.OPERATION: "process",
            names.DESTINATION: d.exchange,
            names.ROUTING_KEY: d.routing_key,
            names.BODY_SIZE: len(d.body),
        },
    )


def traceparent(span: Span, fallback: str) -> str:
    """The ``traceparent`` naming ``span`` (what a message published in it carries), or
    ``fallback`` when the span records nothing (tracing off)."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return fallback
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def current_span() -> Span:
    """The span of the delivery being handled (a no-op span when there is none)."""
    return trace.get_current_span()


@contextlib.contextmanager
def current(span: Span) -> Iterator[Span]:
    """``span`` current for the block, ended after it (in a delivery's own task only)."""
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield span
    finally:
        otel_context.detach(token)
        span.end()
