"""A lean implementation of OpenTelemetry's tracing API: spans that record into plain slots.

The SDK's span (``opentelemetry.sdk.trace``) cleans and copies every attribute and event into
locked containers: with the attributes and events a hop of ours carries, several times the
cost of the hop's own signature check (``bench/README.md``, "Tracing"). Our spans are made by
our code alone, from the allow-list (``hub.tracing.names``), so they need none of it: these
implement the API (``Tracer``, ``Span``: context propagation, ``SpanContext``, the W3C ids)
and hand each finished span to its sink as it is; the monitor checks every value anyway.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

MAX_EVENTS: Final = 16  # events kept on one span (the monitor refuses a span with more)

__all__ = ["LeanSpan", "LeanTracer", "LeanTracerProvider"]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_bits = random.getrandbits


class LeanSpan(trace.Span):
    """A recording span: name, kind, ids, times, attributes, events, status."""

    __slots__ = (
        "_ctx",
        "_sink",
        "attributes",
        "end_ns",
        "events",
        "kind",
        "name",
        "parent_id",
        "start_ns",
        "status",
    )

    def __init__(  # noqa: PLR0917 - made by LeanTracer only
        self,
        name: str,
        ctx: SpanContext,
        parent_id: int,
        kind: SpanKind,
        attributes: dict[str, Any],
        start_ns: int,
        sink: Callable[[LeanSpan], None],
    ) -> None:
        self.name = name
        self._ctx = ctx
        self.parent_id = parent_id  # 0: a root
        self.kind = kind
        self.attributes = attributes
        self.events: list[tuple[str, int, Mapping[str, Any]]] = []
        self.start_ns = start_ns
        self.end_ns = 0  # 0 while recording
        self.status = 0  # StatusCode: UNSET 0, OK 1, ERROR 2
        self._sink = sink

    def get_span_context(self) -> SpanContext:
        return self._ctx

    def is_recording(self) -> bool:
        return not self.end_ns

    def set_attribute(self, key: str, value: Any) -> None:
        if not self.end_ns:
            self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if not self.end_ns:
            self.attributes.update(attributes)

    def add_event(
        self, name: str, attributes: Mapping[str, Any] | None = None, timestamp: int | None = None
    ) -> None:
        # the first MAX_EVENTS only, as OpenTelemetry's span limits drop the rest: a deadline
        # message ends up to 64 queries under one span, two events each
        if not self.end_ns and len(self.events) < MAX_EVENTS:
            self.events.append((name, timestamp or time.time_ns(), attributes or {}))

    def add_link(self, context: SpanContext, attributes: Any = None) -> None:
        return None  # no links: a message has one parent, the span that published it

    def update_name(self, name: str) -> None:
        self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        code = status.status_code if isinstance(status, Status) else status
        self.status = code.value

    def record_exception(
        self,
        exception: BaseException,
        attributes: Any = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self.status = StatusCode.ERROR.value  # its type and text could carry anything: not kept

    def end(self, end_time: int | None = None) -> None:
        if self.end_ns:
            return
        self.end_ns = end_time or time.time_ns()
        self._sink(self)


class LeanTracer(trace.Tracer):
    """Every span recorded (every message flow is traced), handed to ``sink`` when it ends."""

    def __init__(self, sink: Callable[[LeanSpan], None]) -> None:
        self._sink = sink

    def start_span(  # noqa: PLR0917 - the API's signature
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> LeanSpan:
        parent = trace.get_current_span(context).get_span_context()
        if parent.is_valid:
            trace_id, parent_id = parent.trace_id, parent.span_id
        else:
            trace_id, parent_id = _bits(128) or 1, 0
        ctx = SpanContext(trace_id, _bits(64) or 1, is_remote=False, trace_flags=_SAMPLED)
        attrs = dict(attributes) if attributes else {}
        start = start_time or time.time_ns()
        return LeanSpan(name, ctx, parent_id, kind, attrs, start, self._sink)

    @contextlib.contextmanager
    def start_as_current_span(  # type: ignore[override]  # noqa: PLR0917 - the API's signature
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[LeanSpan]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with trace.use_span(span, end_on_exit=end_on_exit):
            yield span


class LeanTracerProvider(trace.TracerProvider):
    """One participant's: every tracer it gives sends to the same sink (its exporter)."""

    def __init__(self, sink: Callable[[LeanSpan], None]) -> None:
        self._tracer = LeanTracer(sink)

    def get_tracer(self, *args: Any, **kwargs: Any) -> LeanTracer:
        return self._tracer
