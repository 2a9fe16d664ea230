"""The exporter and the monitor on the in-process bus: spans leave in batches and are stored
by their vouched source; whatever a sender does, the monitor drops, counts and goes on."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import orjson
import pytest

from hub.bus import MONITOR_SPANS, SPANS_EXCHANGE, InMemoryBroker, OutMessage, network_topology
from hub.tracing import SpanKind, Tracing
from hub.tracing import names as tn
from monitor import Collector, MemorySpanStore, StoredSpan, StoreError

OFFICES = ["chiyoda-child", "chiyoda-tax"]


def broker(**kw: Any) -> InMemoryBroker:
    return InMemoryBroker(network_topology(OFFICES, **kw))


async def collector(b: InMemoryBroker, **kw: Any) -> Collector:
    c = Collector(b.connect("monitor"), MemorySpanStore(), identities=b.topology.identities, **kw)
    await c.start()
    return c


async def drained(b: InMemoryBroker) -> None:
    for _ in range(200):
        if not b.depth(MONITOR_SPANS) and not b.unacked(MONITOR_SPANS):
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the monitor did not take its spans")


def span_of(name: str, **attrs: Any) -> list[Any]:
    now = time.time_ns()
    return ["1" * 32, "2" * 16, "", name, 4, now, now + 10, 0, attrs, []]


async def send(b: InMemoryBroker, who: str, body: bytes) -> None:
    await b.connect(who).publish(SPANS_EXCHANGE, "", OutMessage(body, message_id="m"))


async def test_spans_leave_in_batches_and_are_stored_under_the_broker_vouched_source() -> None:
    b = broker()
    monitor = await collector(b)
    tracing = Tracing.on(b.connect("chiyoda-tax"), delay=0.01)
    for _ in range(700):  # over one batch's 512
        span = tracing.tracer.start_span("process office.in", kind=SpanKind.CONSUMER)
        span.set_attribute(tn.PROVIDER, "chiyoda-tax")
        span.end()
    await tracing.flush()
    await drained(b)
    assert tracing.stats.exported == 700 and tracing.stats.batches == 2
    assert monitor.stats.stored == 700 and not monitor.stats.dropped
    store = monitor.store
    assert isinstance(store, MemorySpanStore) and store.count == 700
    await tracing.close()
    await monitor.stop()


async def test_an_office_cannot_send_the_hubs_spans() -> None:
    b = broker()
    monitor = await collector(b)
    body = orjson.dumps({"v": 1, "spans": [span_of("process hub.requests"), span_of("query")]})
    await send(b, "chiyoda-tax", body)
    await drained(b)
    assert monitor.stats.stored == 1
    assert monitor.stats.dropped == {("chiyoda-tax", "monitor.wrong_source"): 1}
    (kept,) = await monitor.store.trace("1" * 32)
    assert (kept.source, kept.name) == ("chiyoda-tax", "query")


@pytest.mark.parametrize(
    ("body", "reason", "n"),
    [
        (b"\x00\xff not json", "batch", 1),
        (b"[" * 100_000, "batch", 1),
        (
            orjson.dumps({"v": 1, "spans": [span_of("query", person="AVswtBDurl80")]}),
            "attribute_key",
            1,
        ),
        (orjson.dumps({"v": 1, "spans": [[None] * 10, 7, "x"]}), "shape", 2),
    ],
)
async def test_malformed_batches_and_spans_are_dropped_and_counted_never_crashing(
    body: bytes, reason: str, n: int
) -> None:
    b = broker()
    monitor = await collector(b)
    await send(b, "chiyoda-child", body)
    await send(b, "chiyoda-child", orjson.dumps({"v": 1, "spans": [span_of("query")]}))
    await drained(b)
    assert monitor.stats.dropped[("chiyoda-child", reason)] == n
    assert monitor.stats.stored == 1  # and it went on
    assert b.depth(MONITOR_SPANS) == 0


async def test_a_source_over_its_rate_has_its_spans_dropped_and_counted() -> None:
    b = broker()
    monitor = await collector(b, rate=1.0, burst=3.0)
    spans = [span_of("query") for _ in range(5)]
    await send(b, "chiyoda-child", orjson.dumps({"v": 1, "spans": spans}))
    await send(b, "chiyoda-tax", orjson.dumps({"v": 1, "spans": spans[:2]}))
    await drained(b)
    assert monitor.stats.stored == 5
    assert monitor.stats.dropped == {("chiyoda-child", "rate"): 2}


async def test_a_failing_store_drops_and_counts_the_spans() -> None:
    class Broken(MemorySpanStore):
        async def add(self, spans: Any) -> None:
            raise StoreError("down")

    b = broker()
    monitor = Collector(b.connect("monitor"), Broken(), identities=b.topology.identities)
    await monitor.start()
    await send(b, "chiyoda-child", orjson.dumps({"v": 1, "spans": [span_of("query")]}))
    await drained(b)
    assert monitor.stats.dropped == {("chiyoda-child", "store"): 1}


async def test_with_the_monitor_down_spans_are_dropped_and_counted_and_nothing_waits() -> None:
    """The span queue fills (reject-publish); the sender counts what the broker refused, and
    a full buffer drops at once: ending a span never blocks or raises."""
    topo = network_topology(OFFICES)
    small = [
        replace(p, definition={**p.definition, "max-length": 2}) if p.name == "renkei-spans" else p
        for p in topo.policies
    ]
    b = InMemoryBroker(replace(topo, policies=tuple(small)))
    tracing = Tracing.on(b.connect("chiyoda-child"), delay=0.0, max_buffer=100)
    for round_ in range(6):
        for _ in range(10):
            tracing.tracer.start_span("query").end()
        await tracing.flush()
        assert tracing.stats.exported == 10 * min(round_ + 1, 3)
    assert tracing.stats.dropped["rejected"] == 30
    for _ in range(150):
        tracing.tracer.start_span("query").end()
    assert tracing.stats.dropped["buffer_full"] == 50
    await tracing.close()
    tracing.tracer.start_span("query").end()
    assert tracing.stats.dropped["closed"] >= 1


async def test_retention_removes_what_started_before_the_cut() -> None:
    store = MemorySpanStore()
    old = StoredSpan("hub", "a" * 32, "1" * 16, "", "timeout", 0, 0, 100, 200, {}, ())
    new = StoredSpan("hub", "b" * 32, "2" * 16, "", "timeout", 0, 0, 1000, 1100, {}, ())
    await store.add([old, new])
    assert await store.expire(500) == 1
    assert await store.trace("a" * 32) == [] and await store.trace("b" * 32) == [new]
