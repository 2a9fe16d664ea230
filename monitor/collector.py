"""The monitor on the bus: span batches in from ``monitor.spans``, checked, stored, counted.

Spans are telemetry, not evidence (the access records are the evidence). The collector
believes of a batch only who sent it — the broker-vouched ``user_id`` — and bounds the rest:

- a batch over 64 KiB, not JSON, or over 512 spans is dropped whole (``batch``);
- a span outside the allow-list (names, events, attribute keys and values, office codes of
  the network), out of time, or malformed is dropped (its reason: ``hub.tracing.codec``);
- a span an identity may not send is dropped (``monitor.wrong_source``): the hub's spans come
  from the hub, the token service's from it, an office's from an office;
- each source may store at most ``rate`` spans a second (a burst of ``burst``); past it, its
  spans are dropped (``rate``);
- a store failure drops the batch's spans (``store``).

Every drop is counted by source and reason (``stats``) and logged at most once a minute per
source; nothing a sender does makes the collector raise, and every delivery is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from hub.buckets import Buckets, Rate
from hub.bus import MONITOR_SPANS, Bus, Delivery, Subscription
from hub.log import get_logger
from hub.tracing import BadBatch, SpanCheck, SpanRecord
from monitor.exceptions import MONITOR_UNKNOWN_SOURCE, MONITOR_WRONG_SOURCE, StoreError
from monitor.model import StoredSpan
from monitor.store import SpanStore

__all__ = ["Collector", "CollectorStats", "may_send"]

log = get_logger("monitor")
HUB, TOKEN = "hub", "token"
_HUB_SPANS = frozenset({"process hub.requests", "process hub.replies", "timeout"})
_TOKEN_SPANS = frozenset({"translate", "issue"})
_DAY_NS = 86_400 * 10**9


def may_send(source: str, name: str) -> bool:
    """May ``source`` (a broker identity) send a span named ``name``?"""
    if source == HUB:
        return name in _HUB_SPANS
    if source == TOKEN:
        return name in _TOKEN_SPANS
    return name not in _HUB_SPANS and name not in _TOKEN_SPANS


class CollectorStats:
    __slots__ = ("batches", "dropped", "stored")

    def __init__(self) -> None:
        self.batches = 0
        self.stored = 0
        self.dropped: Counter[tuple[str, str]] = Counter()  # (source, reason) → spans

    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def __repr__(self) -> str:
        return (
            f"{self.stored} spans stored from {self.batches} batches, dropped {dict(self.dropped)}"
        )


class Collector:
    def __init__(
        self,
        bus: Bus,
        store: SpanStore,
        *,
        identities: Iterable[str],
        rate: float = 20_000.0,
        burst: float = 100_000.0,
        retention_days: float = 30.0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._bus = bus
        self.store = store
        self._identities = frozenset(identities)
        self._check = SpanCheck(self._identities)
        self._buckets = Buckets(Rate(int(burst), rate), keys=len(self._identities) or 1)
        self._retention_ns = int(retention_days * _DAY_NS)
        self._clock = clock_ns
        self._logged: dict[str, float] = {}
        self._sub: Subscription | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.stats = CollectorStats()

    @property
    def bus(self) -> Bus:
        """The monitor's own bus (its alerts go out on it too)."""
        return self._bus

    async def start(self, *, prefetch: int = 20, sweep_every: float = 60.0) -> None:
        self._sub = await self._bus.consume(MONITOR_SPANS, self.on_batch, prefetch=prefetch)
        self._sweeper = asyncio.create_task(self._sweep(sweep_every))

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.cancel()
            self._sub = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def on_batch(self, d: Delivery) -> None:
        try:
            await self._take(d)
        finally:
            await d.ack()

    async def _take(self, d: Delivery) -> None:
        self.stats.batches += 1
        source = d.user_id or ""
        if source not in self._identities:
            self._drop(source, MONITOR_UNKNOWN_SOURCE, 1)
            return
        try:
            decoded = self._check.decode(d.body, now_ns=self._clock())
        except BadBatch:
            self._drop(source, "batch", 1)
            return
        for reason, n in decoded.dropped.items():
            self._drop(source, reason, n)
        spans = [s for s in decoded.spans if may_send(source, s.name)]
        if len(spans) < len(decoded.spans):
            self._drop(source, MONITOR_WRONG_SOURCE, len(decoded.spans) - len(spans))
        allowed = self._buckets.take(source, time.monotonic(), len(spans))
        if allowed < len(spans):
            self._drop(source, "rate", len(spans) - allowed)
            spans = spans[:allowed]
        if not spans:
            return
        try:
            await self.store.add([_stored(source, s) for s in spans])
        except StoreError as exc:
            self._drop(source, "store", len(spans), error=str(exc))
            return
        self.stats.stored += len(spans)

    def _drop(self, source: str, reason: str, n: int, **extra: Any) -> None:
        self.stats.dropped[(source, reason)] += n
        now = time.monotonic()
        if now - self._logged.get(source, -120.0) >= 60.0:  # at most once a minute a source
            self._logged[source] = now
            log.warning("spans.dropped", source=source, reason=reason, spans=n, **extra)

    async def sweep(self) -> int:
        """Retention: remove spans older than the retention period."""
        return await self.store.expire(self._clock() - self._retention_ns)

    async def _sweep(self, every: float) -> None:
        while True:
            try:
                removed = await self.sweep()
            except StoreError as exc:
                log.warning("spans.retention_failed", error=str(exc))
            else:
                if removed:
                    log.info("spans.expired", spans=removed)
            await asyncio.sleep(every)


def _stored(source: str, s: SpanRecord) -> StoredSpan:
    return StoredSpan(
        source,
        s.trace_id,
        s.span_id,
        s.parent_id,
        s.name,
        s.kind,
        s.status,
        s.start_ns,
        s.end_ns,
        s.attributes,
        s.events,
    )
