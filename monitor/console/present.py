"""Pure shapes for the pages: a trace as waterfall rows, the network as map positions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.console.livemap import HUB, TOKEN
from monitor.model import StoredSpan

__all__ = ["Bar", "Node", "map_layout", "ms", "waterfall"]

WIDTH = 1000  # the waterfall's and the map's SVG user units


@dataclass(frozen=True, slots=True)
class Bar:
    """One span of a waterfall: where it starts and how long it is, in SVG user units of a
    ``WIDTH``-wide track, and its events' positions on that track."""

    span: StoredSpan
    depth: int
    x: float
    width: float
    start_ms: float
    took_ms: float
    events: tuple[tuple[str, float], ...]


def ms(ns: int | None) -> str:
    return "" if ns is None else f"{ns / 1e6:.2f}"


def waterfall(spans: Sequence[StoredSpan]) -> list[Bar]:
    """The spans by start, each indented under its parent, on one time axis."""
    if not spans:
        return []
    t0 = min(s.start_ns for s in spans)
    total = max(max(s.end_ns for s in spans) - t0, 1)
    scale = WIDTH / total
    ids = {s.span_id: s for s in spans}
    bars = []
    for s in sorted(spans, key=lambda s: s.start_ns):
        depth, parent, seen = 0, s.parent_id, {s.span_id}
        while parent in ids and parent not in seen and depth < 16:
            seen.add(parent)
            depth, parent = depth + 1, ids[parent].parent_id
        events = tuple((name, (at - t0) * scale) for name, at, _ in s.events)
        bars.append(
            Bar(
                s,
                depth,
                (s.start_ns - t0) * scale,
                max((s.end_ns - s.start_ns) * scale, 1.0),
                (s.start_ns - t0) / 1e6,
                (s.end_ns - s.start_ns) / 1e6,
                events,
            )
        )
    return bars


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    x: float
    y: float


def map_layout(offices: Sequence[str], height: float = 640) -> dict[str, Node]:
    """The hub in the middle, the token service above it, the offices on a circle around."""
    cx, cy = WIDTH / 2, height / 2
    nodes = {HUB: Node(HUB, cx, cy), TOKEN: Node(TOKEN, cx, cy - 110)}
    radius = min(cx, cy) - 40
    for i, office in enumerate(sorted(offices)):
        angle = 2 * math.pi * i / max(len(offices), 1) + math.pi / 2
        nodes[office] = Node(
            office, round(cx + radius * math.cos(angle), 1), round(cy + radius * math.sin(angle), 1)
        )
    return nodes
