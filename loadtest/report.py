"""A replay's report: ``report.json`` with every figure, ``report.html`` with the plots
(matplotlib, PNGs embedded), in a folder of its own under ``reports/``."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

from loadtest.accounting import Verdict
from loadtest.sampler import ProcessSampler, flat_memory
from loadtest.schedule import Schedule
from loadtest.stats import Stats, summary

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt

__all__ = ["build", "write_report"]


def build(
    run: Mapping[str, Any],
    *,
    schedule: Schedule,
    stats: Stats,
    sampler: ProcessSampler,
    queues: Mapping[str, Any] | None,
    verdict: Verdict,
    warmup: float,
) -> dict[str, Any]:
    """Every figure of a replay, as JSON-ready data."""
    warm = int(warmup)  # one process sample a second
    return {
        "run": {
            **run,
            "scheduled": len(schedule.arrivals),
            "per_stream": schedule.counts(),
            "duration_s": schedule.duration,
            "day_seconds": schedule.day_seconds,
            "start_hour": schedule.start_hour,
            "mean_rate": schedule.mean_rate,
            "seed": schedule.seed,
            "max_in_flight": stats.max_in_flight,
            "send_lag": summary(stats.send_lag),
        },
        "statuses": dict(stats.statuses),
        "by_stream_status": {k: dict(v) for k, v in stats.by_stream_status.items()},
        "codes": dict(stats.codes),
        "latency": {
            "overall": summary(stats.overall),
            "by_stream": {k: summary(h) for k, h in stats.by_stream.items()},
            "by_office": {k: summary(h) for k, h in stats.by_office.items()},
        },
        "time_series": stats.time_series(),
        "queues": queues,
        "processes": sampler.as_dict(),
        "memory": flat_memory(sampler.rss_mb, warmup=warm),
        "loss": {
            "ok": verdict.ok,
            "problems": list(verdict.problems),
            "figures": dict(verdict.figures),
        },
    }


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _over_time(series: Mapping[str, Any]) -> list[tuple[str, str]]:
    t = series["t"]
    overall = series["overall"]
    figs = []
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(t, series["sent_per_s"], label="sent (scheduled)")
    ax.plot(t, overall["answered_per_s"], label="answered")
    ax.set(xlabel="s", ylabel="messages/s", title="Throughput")
    ax.legend()
    figs.append(("Throughput over time", _png(fig)))
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for key in ("p50_ms", "p99_ms", "p99.9_ms"):
        ax.plot(t, [v if v is not None else float("nan") for v in overall[key]], label=key)
    ax.set(xlabel="s", ylabel="ms", title="Latency from the scheduled time", yscale="log")
    ax.legend()
    figs.append(("Latency over time", _png(fig)))
    for what, key, unit in (
        ("Throughput", "answered_per_s", "messages/s"),
        ("p99", "p99_ms", "ms"),
    ):
        fig, ax = plt.subplots(figsize=(9, 3.2))
        for name, s in series["streams"].items():
            ax.plot(t, [v if v is not None else float("nan") for v in s[key]], label=name)
        ax.set(xlabel="s", ylabel=unit, title=f"{what} per message kind")
        if key == "p99_ms":
            ax.set_yscale("log")
        ax.legend(fontsize="small")
        figs.append((f"{what} per message kind over time", _png(fig)))
    return figs


def _bars(title: str, data: Mapping[str, float], unit: str) -> tuple[str, str]:
    fig, ax = plt.subplots(figsize=(9, max(2.0, 0.35 * len(data) + 1)))
    ax.barh(list(data), list(data.values()))
    ax.set(xlabel=unit, title=title)
    return title, _png(fig)


def _lines(
    title: str, t: list[float], data: Mapping[str, list[float]], unit: str
) -> tuple[str, str]:
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for name, values in data.items():
        ax.plot(t[: len(values)], values, label=name)
    ax.set(xlabel="s", ylabel=unit, title=title)
    ax.legend(fontsize="small")
    return title, _png(fig)


def _plots(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    figs = _over_time(report["time_series"])
    for group in ("by_office", "by_stream"):
        p99 = {k: v.get("p99_ms", 0.0) for k, v in report["latency"][group].items()}
        if p99:
            figs.append(_bars(f"p99 per {group[3:]} (ms)", p99, "ms"))
    if report["codes"]:
        figs.append(_bars("Refusals and errors by code", report["codes"], "messages"))
    queues = report.get("queues") or {}
    if queues.get("depth"):
        busiest = sorted(queues["depth"], key=lambda q: -max(queues["depth"][q]))[:8]
        figs.append(
            _lines(
                "Queue depths (the 8 deepest)",
                queues["t"],
                {q: queues["depth"][q] for q in busiest},
                "messages",
            )
        )
    proc = report["processes"]
    if proc["t"]:
        figs.append(_lines("CPU per process (% of one core)", proc["t"], proc["cpu_percent"], "%"))
        figs.append(_lines("Resident memory per process", proc["t"], proc["rss_mb"], "MiB"))
    return figs


def _table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    cols = sorted({c for r in rows.values() for c in r})
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *cols])
    body = "".join(
        "<tr><th>"
        + html.escape(name)
        + "</th>"
        + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols)
        + "</tr>"
        for name, r in rows.items()
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(report: Mapping[str, Any], folder: Path) -> tuple[Path, Path]:
    """``report.json`` and ``report.html`` in ``folder`` (made); their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    js = folder / "report.json"
    js.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    loss = report["loss"]
    verdict = "nothing lost" if loss["ok"] else "LOSS CHECK FAILED"
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in loss["problems"])
    dead = "".join(
        f"<li>{html.escape(d['queue'])}: {html.escape(d['reason'] or '(no reason)')}</li>"
        for d in loss["figures"]["dead_letters"]
    )
    imgs = "".join(
        f"<h3>{html.escape(title)}</h3>"
        f"<img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>"
        for title, png in _plots(report)
    )
    run = report["run"]
    counts = {k: v for k, v in loss["figures"].items() if k != "dead_letters"}
    page = f"""<!doctype html><html lang="en"><meta charset="utf-8">
<title>renkei season replay: {html.escape(run["season"])}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}
td,th{{padding:2px 8px;text-align:right}} img{{max-width:100%}}</style>
<h1>{html.escape(run["title"])}</h1>
<p>{html.escape(run["started"])} · {html.escape(run["network"])} ·
schedule: {run["scheduled"]} messages over {run["duration_s"]:.0f} s
(mean {run["mean_rate"]:.1f}/s; a season day in {run["day_seconds"]:.0f} s; seed {run["seed"]})
· took {run["took_s"]:.1f} s</p>
<h2>Loss accounting: {verdict}</h2><ul>{problems}</ul>
<p>{html.escape(json.dumps(counts))}</p>
<h3>Dead letters gained ({len(loss["figures"]["dead_letters"])})</h3><ul>{dead}</ul>
<h2>Outcomes</h2>{_table({"all": report["statuses"]})}
<h2>Latency (from the scheduled time, ms)</h2>
{_table({"all": report["latency"]["overall"], **report["latency"]["by_stream"]})}
{_table(report["latency"]["by_office"])}
<h2>Plots</h2>{imgs}
</html>"""
    page_path = folder / "report.html"
    page_path.write_text(page, encoding="utf-8")
    return js, page_path
