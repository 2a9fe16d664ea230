"""What a replay measured: latencies in HDR histograms (``hdrhistogram``), outcomes by code.

Latency is from each message's *scheduled* time to its answer (or to the sender's giving up),
so a stall of the network shows as latency of every message due during it (no coordinated
omission). Histograms are kept for the whole run per stream and per office, and per time
bucket per stream (the plots over time); values in microseconds, 1 µs to 10 minutes, two
significant digits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = ["ANSWERED", "Outcome", "Stats", "new_histogram", "summary"]

LOWEST_US, HIGHEST_US, DIGITS = 1, 600_000_000, 2
ANSWERED = frozenset({"ok", "not_found", "refused", "error"})  # the network replied
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message: ``status`` (ok, not_found, refused, error, timed_out,
    failed: the replayer's own failure) and, when not ok, the code the network gave."""

    status: str
    code: str = ""


def summary(h: HdrHistogram) -> dict[str, float | int]:
    """count, mean, p50/p90/p99/p99.9 and max in milliseconds."""
    n = h.get_total_count()
    out: dict[str, float | int] = {"count": n}
    if not n:
        return out
    for p in PERCENTILES:
        out[f"p{p:g}_ms"] = round(h.get_value_at_percentile(p) / 1000, 3)
    out["max_ms"] = round(h.get_max_value() / 1000, 3)
    out["mean_ms"] = round(h.get_mean_value() / 1000, 3)
    return out


@dataclass
class Stats:
    streams: tuple[str, ...]
    offices: tuple[str, ...]  # the sender of each stream, in order
    bucket: float  # seconds per time bucket
    sent: int = 0
    done: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)  # every code a message came back with
    by_stream_status: dict[str, Counter[str]] = field(default_factory=dict)
    overall: HdrHistogram = field(default_factory=new_histogram)
    send_lag: HdrHistogram = field(default_factory=new_histogram)  # due → actually sent
    by_stream: dict[str, HdrHistogram] = field(default_factory=dict)
    by_office: dict[str, HdrHistogram] = field(default_factory=dict)
    series: dict[tuple[str, int], HdrHistogram] = field(default_factory=dict)  # (stream, bucket)
    answered_series: Counter[tuple[str, int]] = field(default_factory=Counter)
    sent_series: Counter[int] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for s in self.streams:
            self.by_stream[s] = new_histogram()
            self.by_stream_status[s] = Counter()
        for o in set(self.offices):
            self.by_office[o] = new_histogram()

    def started(self, due: float, now: float) -> None:
        self.sent += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.send_lag.record_value(_us(now - due))
        self.sent_series[int(due // self.bucket)] += 1

    def finished(self, stream: int, due: float, now: float, outcome: Outcome) -> None:
        """One message over: its latency from ``due`` (both in seconds since the start)."""
        self.in_flight -= 1
        self.done += 1
        name = self.streams[stream]
        self.statuses[outcome.status] += 1
        self.by_stream_status[name][outcome.status] += 1
        if outcome.code:
            self.codes[outcome.code] += 1
        if outcome.status not in ANSWERED:
            return
        us = _us(now - due)
        self.overall.record_value(us)
        self.by_stream[name].record_value(us)
        self.by_office[self.offices[stream]].record_value(us)
        key = (name, int(now // self.bucket))
        hist = self.series.get(key)
        if hist is None:
            hist = self.series[key] = new_histogram()
        hist.record_value(us)
        self.answered_series[key] += 1

    @property
    def answered(self) -> int:
        return sum(n for s, n in self.statuses.items() if s in ANSWERED)

    def quantile_ms(self, p: float) -> float | None:
        if not self.overall.get_total_count():
            return None
        return float(self.overall.get_value_at_percentile(p)) / 1000

    def time_series(self) -> dict[str, Any]:
        """Per bucket: answered per second and p50/p99/p99.9, overall and per stream."""
        last = max([b for _, b in self.series] + list(self.sent_series) + [0])
        buckets = list(range(last + 1))
        out: dict[str, Any] = {"bucket_s": self.bucket, "t": [b * self.bucket for b in buckets]}
        out["sent_per_s"] = [self.sent_series[b] / self.bucket for b in buckets]
        out["overall"] = _series(self, buckets, self.streams)
        out["streams"] = {s: _series(self, buckets, (s,)) for s in self.streams}
        return out


def _series(stats: Stats, buckets: list[int], streams: Iterable[str]) -> dict[str, list[Any]]:
    names = tuple(streams)
    rate, p50, p99, p999 = [], [], [], []
    for b in buckets:
        merged = new_histogram()
        n = 0
        for s in names:
            h = stats.series.get((s, b))
            if h is not None:
                merged.add(h)
                n += stats.answered_series[s, b]
        rate.append(n / stats.bucket)
        has = merged.get_total_count() > 0
        p50.append(merged.get_value_at_percentile(50) / 1000 if has else None)
        p99.append(merged.get_value_at_percentile(99) / 1000 if has else None)
        p999.append(merged.get_value_at_percentile(99.9) / 1000 if has else None)
    return {"answered_per_s": rate, "p50_ms": p50, "p99_ms": p99, "p99.9_ms": p999}


def _us(seconds: float) -> int:
    return min(HIGHEST_US, max(LOWEST_US, int(seconds * 1e6)))
