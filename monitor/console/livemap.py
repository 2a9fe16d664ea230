"""The live map's numbers, pure: per edge of the network, the rate, the error ratio and the
latency of the message flows of a window, from the operations the collector stores.

Edges (each flow counts on those it crossed):

- ``office → hub``: every flow an office asked; its latency is the requester's wait
  (requester in − requester out), else the hub's time (hub out − hub in) when the requester
  sent no span; an error is an outcome of ``FAILED`` (refused, error, timed out — not an
  enrollment's ``enrolled``, nor ``not_found``, an answer);
- ``hub → office``: every flow forwarded to a provider (it received it: provider in); its
  latency is the provider's time (provider out − provider in); an error as above;
- ``hub → token``: every flow the token service took part in (it sent a span of the trace);
  an error is an outcome whose code is the hub's token-service family (``hub.token…``).

Latencies are the median and the 95th percentile (nearest rank) in milliseconds; an edge
with no latency measured says None.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.model import Operation

__all__ = ["FAILED", "HUB", "TOKEN", "Edge", "edges"]

HUB, TOKEN = "hub", "token"
FAILED = frozenset({"refused", "error", "timed_out"})


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    count: int
    errors: int
    per_second: float
    error_ratio: float
    p50_ms: float | None
    p95_ms: float | None

    @property
    def key(self) -> str:
        return f"{self.source}>{self.target}"

    def as_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "source": self.source,
            "target": self.target,
            "count": self.count,
            "errors": self.errors,
            "per_second": round(self.per_second, 3),
            "error_ratio": round(self.error_ratio, 4),
            "p50_ms": None if self.p50_ms is None else round(self.p50_ms, 2),
            "p95_ms": None if self.p95_ms is None else round(self.p95_ms, 2),
        }


def _rank(ordered: list[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _span(a: int | None, b: int | None) -> float | None:
    return (b - a) / 1e6 if a is not None and b is not None and b >= a else None


def edges(ops: Iterable[Operation], window_s: float) -> list[Edge]:
    """The edges the operations of a ``window_s``-second window crossed, sorted by key."""
    if not window_s > 0:
        raise ValueError("the window must be positive")
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    waits: dict[tuple[str, str], list[float]] = defaultdict(list)

    def count(edge: tuple[str, str], error: bool, ms: float | None) -> None:
        counts[edge][0] += 1
        counts[edge][1] += error
        if ms is not None:
            waits[edge].append(ms)

    for op in ops:
        failed = op.outcome in FAILED
        if op.requester:
            wait = _span(op.requester_out, op.requester_in) or _span(op.hub_in, op.hub_out)
            count((op.requester, HUB), failed, wait)
        if op.provider and op.provider_in is not None:
            count((HUB, op.provider), failed, _span(op.provider_in, op.provider_out))
        if TOKEN in op.sources:
            count((HUB, TOKEN), (op.error or "").startswith("hub.token"), None)
    out = []
    for (source, target), (n, errors) in sorted(counts.items()):
        ordered = sorted(waits[(source, target)])
        out.append(
            Edge(
                source,
                target,
                n,
                errors,
                n / window_s,
                errors / n,
                _rank(ordered, 0.5) if ordered else None,
                _rank(ordered, 0.95) if ordered else None,
            )
        )
    return out
