"""Tracing for every process: OpenTelemetry spans, sent in batches over the bus to the monitor.

Part of the kit (``hub/README.md``): imports the bus, the wire and the log, no service. See
``hub/tracing/README.md``.
"""

from hub.tracing import names
from hub.tracing.codec import (
    MAX_BATCH_BYTES,
    MAX_BATCH_SPANS,
    Decoded,
    SpanCheck,
    SpanRecord,
    decode_batch,
    encode_span,
    join_batch,
)
from hub.tracing.exceptions import BadBatch, TracingError
from hub.tracing.export import BusSpanExporter, ExportStats
from hub.tracing.tracer import (
    OFF,
    Span,
    SpanKind,
    Tracing,
    consume,
    current,
    current_span,
    parent,
    traceparent,
)

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_SPANS",
    "OFF",
    "BadBatch",
    "BusSpanExporter",
    "Decoded",
    "ExportStats",
    "Span",
    "SpanCheck",
    "SpanKind",
    "SpanRecord",
    "Tracing",
    "TracingError",
    "consume",
    "current",
    "current_span",
    "decode_batch",
    "encode_span",
    "join_batch",
    "names",
    "parent",
    "traceparent",
]
