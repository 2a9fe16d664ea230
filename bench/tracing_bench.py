#!/usr/bin/env python3
"""What tracing costs, in-process, side by side (no broker, no database: only our Python).

    .venv/bin/python bench/tracing_bench.py           # about a minute
    .venv/bin/python bench/tracing_bench.py --quick

1. One span of the shape the hub makes for each request (11 attributes, 6 events) made and
   ended by OpenTelemetry's SDK (``opentelemetry.sdk.trace``, its ``TracerProvider`` and a
   processor that only keeps the span) against our lean spans (``hub.tracing.spans``), then
   encoded for the bus and decoded by the monitor's checks.
2. The whole network in one process (``renkei.network`` on the in-process bus and in-memory
   stores, the monitor included) answering queries at 32 in flight, tracing off against on:
   CPU per query (``time.process_time``), rounds interleaved, the best of each.

The end-to-end figure with RabbitMQ and PostgreSQL is ``query_bench.py``'s "tracing on/off".
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from typing import Any

import uvloop
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from agencies.population.households import generate
from hub.bus import MONITOR_SPANS
from hub.log import configure
from hub.tracing import SpanCheck, encode_span, join_batch
from hub.tracing import names as tn
from hub.tracing.spans import LeanTracer
from renkei.network import identities, load_rules, open_network
from renkei.population.enroll import load_population
from renkei.secrets import State
from renkei.settings import Settings

UUID = "0a85f279-0b78-4e22-b582-73a22c6d38c5"
START = {
    tn.SYSTEM: "rabbitmq",
    tn.OPERATION: "process",
    tn.DESTINATION: "renkei.hub",
    tn.ROUTING_KEY: "query",
    tn.BODY_SIZE: 522,
}
LATER = {
    tn.MESSAGE_ID: UUID,
    tn.CONVERSATION_ID: UUID,
    tn.KIND: "query",
    tn.REQUESTER: "chiyoda-child",
    tn.PROVIDER: "shinjuku-tax",
    tn.AFFAIR: "child_allowance",
    tn.ITEMS: ("local_tax",),
}
BATCH = 60  # spans of this shape in one batch of at most 64 KiB
EVENTS = ("validated", "claimed", "checked", "translated", "authorized", "forwarded")


def hub_span(tracer: Any) -> None:
    span = tracer.start_span("process hub.requests", attributes=START)
    span.set_attributes(LATER)
    for name in EVENTS:
        span.add_event(name)
    span.set_attribute(tn.OUTCOME, "ok")
    span.end()


def per_span(n: int, rounds: int) -> None:
    class Keep(SpanProcessor):
        def __init__(self) -> None:
            self.spans: list[Any] = []

        def on_end(self, span: Any) -> None:
            self.spans.append(span)

    keep = Keep()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(keep)
    sdk = provider.get_tracer("bench")
    lean_spans: list[Any] = []
    lean = LeanTracer(lean_spans.append)
    best = {"sdk": float("inf"), "lean": float("inf"), "encode": float("inf")}
    best["decode"] = float("inf")
    check = SpanCheck(["chiyoda-child", "shinjuku-tax", "hub"])
    for _ in range(rounds):
        for name, tracer, kept in (("sdk", sdk, keep.spans), ("lean", lean, lean_spans)):
            kept.clear()
            t0 = time.perf_counter()
            for _ in range(n):
                hub_span(tracer)
            best[name] = min(best[name], (time.perf_counter() - t0) / n * 1e6)
        t0 = time.perf_counter()
        parts = [encode_span(s) for s in lean_spans[:BATCH]]
        body = join_batch(parts)
        best["encode"] = min(best["encode"], (time.perf_counter() - t0) / BATCH * 1e6)
        t0 = time.perf_counter()
        decoded = check.decode(body, now_ns=time.time_ns())
        assert not decoded.dropped
        assert len(decoded.spans) == BATCH
        best["decode"] = min(best["decode"], (time.perf_counter() - t0) / BATCH * 1e6)
    print(
        f"one hub span (11 attributes, 6 events): OpenTelemetry SDK {best['sdk']:.1f} µs,"
        f" lean {best['lean']:.1f} µs (×{best['sdk'] / best['lean']:.1f}); encoded"
        f" {best['encode']:.1f} µs, {len(body) / BATCH:.0f} bytes; checked by the monitor"
        f" {best['decode']:.1f} µs"
    )


async def network(tracing: bool, n: int, inflight: int) -> float:
    settings = Settings(_env_file=None, tracing=tracing)
    table, registry = load_rules(settings)
    state = State.generate(identities(registry))
    async with await open_network(settings, state, table=table, registry=registry) as net:
        await load_population(net, generate(60, seed=1), fiscal_year=2024)
        child = net.apps["chiyoda-child"]
        tokens = [
            await child.store.token("applicants", k) for k in await child.store.keys("applicants")
        ]
        asked = 0

        async def worker() -> None:
            nonlocal asked
            while asked < n:
                asked += 1
                token = tokens[asked % len(tokens)]
                answer = await child.node.ask(
                    "child_allowance", "shinjuku-tax", ("local_tax",), token, {"fiscal_year": 2024}
                )
                assert answer.status in ("ok", "not_found"), answer

        gc.collect()
        t0 = time.process_time()
        await asyncio.gather(*(worker() for _ in range(inflight)))
        for t in net.tracing.values():
            await t.flush()
        broker = net.broker
        assert broker is not None
        for _ in range(10_000):  # the monitor takes what was sent
            if not broker.depth(MONITOR_SPANS) and not broker.unacked(MONITOR_SPANS):
                break
            await asyncio.sleep(0.001)
        return (time.process_time() - t0) / n * 1e6


async def whole(n: int, rounds: int) -> None:
    best = {False: float("inf"), True: float("inf")}
    for _ in range(rounds):
        for tracing in (False, True):
            best[tracing] = min(best[tracing], await network(tracing, n, 32))
    off, on = best[False], best[True]
    print(
        f"the network in one process, CPU per query: tracing off {off:.0f} µs, on {on:.0f} µs"
        f" (+{on - off:.0f} µs; off/on {off / on:.2f})"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    configure(level="warning", json=True)
    spans, queries, rounds = (5000, 1000, 2) if args.quick else (20000, 3000, 3)
    per_span(spans, rounds)
    uvloop.run(whole(queries, rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
