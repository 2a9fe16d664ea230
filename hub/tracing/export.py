"""Spans leave a process in batches over its own bus, never in a query's way.

``BusSpanExporter`` is what the tracer hands each finished span (``hub.tracing.spans``):
``on_end`` only appends it to a bounded buffer (no I/O, no await, on the path of whatever
ended the span). A task of
its own wakes when spans are waiting, lets more gather for ``delay`` seconds, encodes them
into batches of at most 64 KiB and publishes each to ``renkei.spans`` — transient, as the
process's own broker identity, one batch in flight at a time. Nothing is retried: spans are
telemetry. When the buffer is full, the span queue is full (the monitor is down or behind:
the broker nacks), or the broker is away, the spans are dropped and counted by reason
(``stats``), and the first drop after a success is logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections import Counter

from hub.bus import SPANS_EXCHANGE, Bus, BusError, OutMessage, Rejected
from hub.log import get_logger
from hub.tracing.codec import (
    MAX_BATCH_BYTES,
    MAX_BATCH_SPANS,
    batch_overhead,
    encode_span,
    join_batch,
)
from hub.tracing.spans import LeanSpan

__all__ = ["BusSpanExporter", "ExportStats"]

log = get_logger("hub.tracing")


class ExportStats:
    """What left and what was dropped, by reason (``buffer_full``, ``too_large``,
    ``encode``, ``rejected``, ``unavailable``, ``closed``, ``error``)."""

    __slots__ = ("batches", "dropped", "exported")

    def __init__(self) -> None:
        self.exported = 0
        self.batches = 0
        self.dropped: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"exported {self.exported} in {self.batches} batches, dropped {dict(self.dropped)}"


class BusSpanExporter:
    def __init__(self, bus: Bus, *, delay: float = 1.0, max_buffer: int = 20_000) -> None:
        self._bus = bus
        self._delay = delay
        self._max = max_buffer
        self._buffer: list[LeanSpan] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ids = (f"{secrets.token_hex(6)}.{n}" for n in itertools.count(1))
        self._failing = False
        self._closed = False
        self.stats = ExportStats()

    def on_end(self, span: LeanSpan) -> None:
        """A span ended: buffer it (no I/O here, on whatever path ended it)."""
        buffer = self._buffer
        if len(buffer) >= self._max or self._closed:
            self.stats.dropped["closed" if self._closed else "buffer_full"] += 1
            return
        buffer.append(span)
        if self._task is None:
            self._start()
        self._wake.set()

    # ---- the exporting task -----------------------------------------------------------------

    def _start(self) -> None:
        try:
            self._task = asyncio.get_running_loop().create_task(self._run())
        except RuntimeError:  # no loop (a span ended outside one): it waits for the next
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._delay)
            self._wake.clear()
            try:
                await self._send_all()
            except Exception as exc:  # noqa: BLE001 - telemetry never stops: counted, logged
                self.stats.dropped["error"] += len(self._buffer)
                self._buffer = []
                log.error("spans.export_failed", error=repr(exc))  # noqa: TRY400

    async def flush(self) -> None:
        """Publish every span ended so far (tests, and before the bus closes)."""
        await self._send_all()

    async def close(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a grace period
        """Send what is buffered (for up to ``timeout`` seconds), then take no more."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._send_all(), timeout)
        if self._buffer:
            self.stats.dropped["closed"] += len(self._buffer)
            self._buffer = []

    async def _send_all(self) -> None:
        while self._buffer:
            spans, self._buffer = self._buffer, []
            for body, n in self._batches(spans):
                await self._publish(body, n)

    def _batches(self, spans: list[LeanSpan]) -> list[tuple[bytes, int]]:
        out: list[tuple[bytes, int]] = []
        parts: list[bytes] = []
        size = batch_overhead()
        for span in spans:
            try:
                part = encode_span(span)
            except (TypeError, ValueError):  # an attribute orjson cannot write
                self.stats.dropped["encode"] += 1
                continue
            if len(part) + batch_overhead() > MAX_BATCH_BYTES:
                self.stats.dropped["too_large"] += 1
                continue
            if parts and (size + len(part) + 1 > MAX_BATCH_BYTES or len(parts) >= MAX_BATCH_SPANS):
                out.append((join_batch(parts), len(parts)))
                parts, size = [], batch_overhead()
            parts.append(part)
            size += len(part) + 1
        if parts:
            out.append((join_batch(parts), len(parts)))
        return out

    async def _publish(self, body: bytes, n: int) -> None:
        message = OutMessage(body, message_id=next(self._ids), persistent=False)
        try:
            await self._bus.publish(SPANS_EXCHANGE, "", message)
        except BusError as exc:
            reason = "rejected" if isinstance(exc, Rejected) else "unavailable"
            self.stats.dropped[reason] += n
            if not self._failing:
                self._failing = True
                log.warning("spans.dropped", spans=n, reason=reason, error=exc.code)
            return
        self._failing = False
        self.stats.exported += n
        self.stats.batches += 1
