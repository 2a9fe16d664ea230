"""The measurements: latency from the scheduled time, outcomes by status and code, the live
table (quiet off a terminal), the flat-memory check."""

from __future__ import annotations

import io

import pytest

from loadtest.progress import Progress
from loadtest.sampler import flat_memory
from loadtest.stats import Outcome, Stats, summary


def _stats() -> Stats:
    s = Stats(("a", "b"), ("office-a", "office-b"), bucket=1.0)
    for i in range(100):
        s.started(due=i * 0.01, now=i * 0.01)
        s.finished(0, due=i * 0.01, now=i * 0.01 + 0.010, outcome=Outcome("ok"))  # 10 ms each
    s.started(due=0.5, now=0.5)
    s.finished(1, due=0.5, now=2.5, outcome=Outcome("refused", "routing.quota_exceeded"))
    s.started(due=0.6, now=0.6)
    s.finished(1, due=0.6, now=11.6, outcome=Outcome("timed_out", "office.timed_out"))
    return s


def test_latency_runs_from_the_scheduled_time_and_refusals_count_by_code() -> None:
    s = _stats()
    assert s.sent == s.done == 102 and s.in_flight == 0
    assert s.answered == 101  # the timed-out one got no answer
    assert s.statuses == {"ok": 100, "refused": 1, "timed_out": 1}
    assert s.codes == {"routing.quota_exceeded": 1, "office.timed_out": 1}
    assert summary(s.by_stream["a"])["p50_ms"] == pytest.approx(10, rel=0.02)
    assert summary(s.by_stream["b"])["max_ms"] == pytest.approx(2000, rel=0.02)
    assert summary(s.by_office["office-b"])["count"] == 1
    series = s.time_series()
    assert series["overall"]["answered_per_s"][:2] == [99, 1]  # by when each was answered
    assert series["streams"]["b"]["answered_per_s"][2] == 1


def test_the_live_table_is_quiet_off_a_terminal() -> None:
    s = _stats()
    progress = Progress(s, 200, io.StringIO())
    assert progress.live is None
    progress.update(3.0)  # nothing to draw, no error
    row = [c._cells for c in progress.table(3.0).columns]
    assert row[1] == ["102/200"] and row[3] == ["1"]


def test_flat_memory() -> None:
    flat = flat_memory({"hub": [100.0] * 5 + [200.0, 201, 202, 201, 203, 202]}, warmup=5)
    assert flat["hub"]["flat"] is True
    growing = flat_memory({"hub": [200.0, 205, 210, 220, 230, 240]}, warmup=0)
    assert growing["hub"]["flat"] is False and growing["hub"]["growth"] > 0.05
    assert flat_memory({"hub": [1.0, 2.0]}, warmup=1)["hub"]["flat"] is None
