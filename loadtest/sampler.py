"""The service processes' CPU and memory (psutil), sampled every second during a replay.

``service_processes`` finds renkei's own processes on this machine (``renkei run …``, by their
command line), RabbitMQ (``beam.smp``) and PostgreSQL (its backends, summed); the embedded
default is this one process. ``flat_memory`` is the soak's check: resident memory after the
warm-up grows less than ``limit`` (5 %) from the first third to the last.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil

__all__ = ["ProcessSampler", "flat_memory", "service_processes"]


def service_processes(*, embedded: bool, vhost: str = "") -> dict[str, list[psutil.Process]]:
    """name → its processes: this one when embedded; else every ``renkei run SERVICE [CODE]``
    (and ``renkei pki serve``, ``renkei portal serve``: ``pki``, ``portal``) of this
    deployment (its ``RENKEI_BROKER_VHOST`` is ``vhost``: other deployments on the
    machine are not counted; hubs numbered ``hub-1``, ``hub-2``), ``rabbitmq`` and
    ``postgres`` (shared by every deployment on the machine)."""
    me = psutil.Process(os.getpid())
    if embedded:
        return {"replayer (the whole network)": [me]}
    out: dict[str, list[psutil.Process]] = {"replayer": [me]}
    hubs = 0
    for p in psutil.process_iter(["cmdline", "name"]):
        try:
            cmd = p.info["cmdline"] or []
            name = p.info["name"] or ""
        except (psutil.Error, OSError):
            continue
        if name == "beam.smp":
            out.setdefault("rabbitmq", []).append(p)
        elif name == "postgres":
            out.setdefault("postgres", []).append(p)
        elif _served(cmd) and _ours(p, vhost):
            rest = cmd[cmd.index("run") + 1 :] if "run" in cmd else [cmd[cmd.index("serve") - 1]]
            service = rest[0] if rest else "?"
            if service == "hub":
                hubs += 1
                label = f"hub-{hubs}"
            else:
                label = " ".join(rest[:2])
            out[label] = [p]
    return out


def _served(cmd: list[str]) -> bool:
    """``renkei run SERVICE …``, or ``renkei pki serve`` / ``renkei portal serve``."""
    if not any(c.endswith("renkei") for c in cmd):
        return False
    return "run" in cmd or ("serve" in cmd and cmd.index("serve") > 0)


def _ours(p: psutil.Process, vhost: str) -> bool:
    try:
        return bool(p.environ().get("RENKEI_BROKER_VHOST", "renkei") == vhost)
    except (psutil.Error, OSError):  # another user's process
        return False


@dataclass
class ProcessSampler:
    groups: Mapping[str, list[psutil.Process]]
    t: list[float] = field(default_factory=list)
    cpu_pct: dict[str, list[float]] = field(default_factory=dict)  # % of one core
    rss_mb: dict[str, list[float]] = field(default_factory=dict)
    _t0: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        for name, procs in self.groups.items():
            self.cpu_pct[name], self.rss_mb[name] = [], []
            for p in procs:
                try:
                    p.cpu_percent(None)  # the first call primes the counter
                except psutil.Error:
                    continue

    def sample(self) -> None:
        self.t.append(round(time.monotonic() - self._t0, 2))
        for name, procs in self.groups.items():
            cpu = rss = 0.0
            for p in procs:
                try:
                    cpu += p.cpu_percent(None)
                    rss += p.memory_info().rss
                except psutil.Error:  # a postgres backend ended
                    continue
            self.cpu_pct[name].append(round(cpu, 1))
            self.rss_mb[name].append(round(rss / 2**20, 1))

    def as_dict(self) -> dict[str, Any]:
        return {"t": self.t, "cpu_percent": self.cpu_pct, "rss_mb": self.rss_mb}


def flat_memory(
    rss_mb: Mapping[str, list[float]], *, warmup: int, limit: float = 0.05
) -> dict[str, dict[str, Any]]:
    """Per process: mean RSS of the first and last thirds after ``warmup`` samples, the growth
    and whether it stays under ``limit``."""
    out: dict[str, dict[str, Any]] = {}
    for name, series in rss_mb.items():
        rest = series[warmup:]
        if len(rest) < 3:
            out[name] = {"flat": None, "why": "too few samples after the warm-up"}
            continue
        third = len(rest) // 3
        first = sum(rest[:third]) / third
        last = sum(rest[-third:]) / third
        growth = (last - first) / first if first else 0.0
        out[name] = {
            "first_mb": round(first, 1),
            "last_mb": round(last, 1),
            "growth": round(growth, 4),
            "flat": growth < limit,
        }
    return out
