"""Shared helpers of the benchmarks: latency percentiles and per-process CPU read from /proc.

Adapted from the reference micro-benchmarks (``bench-reference/benchlib.py``): no psutil, only
``/proc/<pid>/stat`` (user + system ticks of a process and its threads) and ``/proc/stat``
(whole-machine busy time). CPU is reported in seconds, so a phase can turn it into CPU per
message; ``system_busy`` and ``other`` (busy time not in any named group) show what the named
processes do not explain.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["CpuSample", "CpuSampler", "percentiles", "pids_by_comm", "proc_ticks"]

CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentiles(lat_s: Sequence[float]) -> dict[str, float | None]:
    """p50 / p99 / max / mean in milliseconds of latencies given in seconds."""
    if not lat_s:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    s = sorted(lat_s)
    n = len(s)

    def p(q: float) -> float:
        return s[min(n - 1, int(q * n))] * 1e3

    return {
        "p50_ms": round(p(0.50), 3),
        "p99_ms": round(p(0.99), 3),
        "max_ms": round(s[-1] * 1e3, 3),
        "mean_ms": round(sum(s) / n * 1e3, 3),
    }


def proc_ticks(pid: int) -> int:
    """utime + stime of ``pid`` (all its threads), in clock ticks; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return 0
    rest = data[data.rindex(")") + 2 :].split()  # comm may contain spaces
    return int(rest[11]) + int(rest[12])


def pids_by_comm(*names: str) -> list[int]:
    """Pids whose ``comm`` is one of ``names`` (e.g. ``beam.smp``, ``postgres``)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in names:
            out.append(int(d))
    return out


def _sys_ticks() -> tuple[int, int, int]:
    """(total, idle + iowait, irq + softirq) ticks of the whole machine."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:9]]
    return sum(vals), vals[3] + vals[4], vals[5] + vals[6]


def _all_ticks() -> dict[int, tuple[str, int]]:
    """pid → (comm, ticks) of every process, kernel threads included."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    data = f.read()
            except OSError:
                continue
            rest = data[data.rindex(")") + 2 :].split()
            out[int(d)] = (
                data[data.index("(") + 1 : data.rindex(")")],
                int(rest[11]) + int(rest[12]),
            )
    return out


@dataclass(frozen=True, slots=True)
class CpuSample:
    wall_s: float
    seconds: Mapping[str, float]  # CPU seconds per group over the sample
    busy_s: float  # CPU seconds the whole machine was busy (all cores)
    irq_s: float  # interrupts and softirqs (loopback networking), machine-wide
    others: Mapping[str, float]  # CPU seconds of the busiest processes outside the groups, by comm

    @property
    def other_s(self) -> float:
        return self.busy_s - sum(self.seconds.values())

    def pct(self, group: str) -> float:
        """Percent of one core (200 % = both cores of a 2-core machine)."""
        return self.seconds[group] / self.wall_s * 100 if self.wall_s else 0.0


class CpuSampler:
    """``groups``: name → pids. ``start()``, then ``stop()`` returns a :class:`CpuSample`.

    Build one per phase: PostgreSQL forks backends, so resolve the pids afresh."""

    def __init__(self, groups: Mapping[str, Iterable[int]]) -> None:
        self.groups = {g: list(p) for g, p in groups.items()}
        self._a: tuple[float, dict[str, int], tuple[int, int, int]] | None = None
        self._all: dict[int, tuple[str, int]] = {}

    def _snap(self) -> tuple[float, dict[str, int], tuple[int, int, int]]:
        per = {g: sum(proc_ticks(p) for p in pids) for g, pids in self.groups.items()}
        return time.perf_counter(), per, _sys_ticks()

    def start(self) -> None:
        self._all = _all_ticks()
        self._a = self._snap()

    def stop(self) -> CpuSample:
        assert self._a is not None, "start() first"
        (ta, pa, sa), (tb, pb, sb) = self._a, self._snap()
        mine = {p for pids in self.groups.values() for p in pids}
        others: dict[str, float] = {}
        for pid, (comm, ticks) in _all_ticks().items():
            if pid not in mine:
                spent = (ticks - self._all.get(pid, (comm, 0))[1]) / CLK_TCK
                if spent > 0:
                    others[comm] = others.get(comm, 0.0) + spent
        ncpu = os.cpu_count() or 1
        d_total = sb[0] - sa[0]
        busy_frac = (d_total - (sb[1] - sa[1])) / d_total if d_total > 0 else 0.0
        wall = tb - ta
        return CpuSample(
            wall_s=wall,
            seconds={g: (pb[g] - pa[g]) / CLK_TCK for g in self.groups},
            busy_s=busy_frac * ncpu * wall,
            irq_s=(sb[2] - sa[2]) / CLK_TCK,
            others=dict(sorted(others.items(), key=lambda kv: -kv[1])[:6]),
        )
