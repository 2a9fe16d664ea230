"""Where spans are kept: the store protocol a console reads, and the in-memory store.

A console asks for operations (``search``: by trace id, office, affair, outcome and period,
newest first) and for a trace's spans (``trace``: a waterfall, by start). Retention is
``expire``: spans that started before a time are removed. The in-memory store (the embedded
default) also keeps at most ``max_spans``, the oldest traces going first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from monitor.model import Operation, Search, StoredSpan
from monitor.operations import matches, operations

__all__ = ["MemorySpanStore", "SpanStore"]


class SpanStore(Protocol):
    async def add(self, spans: Sequence[StoredSpan]) -> None: ...

    async def trace(self, trace_id: str) -> list[StoredSpan]:
        """Every span of the trace, by start (a waterfall)."""
        ...

    async def search(self, q: Search) -> list[Operation]:
        """The operations ``q`` asks for, newest first (``q.oldest_first``: oldest first)."""
        ...

    async def expire(self, before_ns: int) -> int:
        """Remove spans that started before ``before_ns``; how many were removed."""
        ...

    async def close(self) -> None: ...


class MemorySpanStore:
    def __init__(self, *, max_spans: int = 1_000_000) -> None:
        self._traces: OrderedDict[str, list[StoredSpan]] = OrderedDict()
        self._max = max_spans
        self.count = 0

    async def add(self, spans: Sequence[StoredSpan]) -> None:
        for span in spans:
            self._traces.setdefault(span.trace_id, []).append(span)
        self.count += len(spans)
        while self.count > self._max and self._traces:
            _, gone = self._traces.popitem(last=False)
            self.count -= len(gone)

    async def trace(self, trace_id: str) -> list[StoredSpan]:
        return sorted(self._traces.get(trace_id, ()), key=lambda s: s.start_ns)

    async def search(self, q: Search) -> list[Operation]:
        if q.trace_id is not None:
            groups = [self._traces.get(q.trace_id, [])]
        else:
            groups = list(self._traces.values())
        found = [op for g in groups for op in operations(g) if matches(op, q)]
        found.sort(key=lambda op: op.started_ns or 0, reverse=not q.oldest_first)
        return found[: q.limit]

    async def expire(self, before_ns: int) -> int:
        removed = 0
        for trace_id in list(self._traces):
            spans = self._traces[trace_id]
            kept = [s for s in spans if s.start_ns >= before_ns]
            removed += len(spans) - len(kept)
            if kept:
                self._traces[trace_id] = kept
            else:
                del self._traces[trace_id]
        self.count -= removed
        return removed

    async def close(self) -> None:
        return None
