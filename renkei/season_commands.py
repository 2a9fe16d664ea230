"""``renkei season list | show NAME | replay NAME``: claim seasons replayed against the network.

The seasons and the replay's pure parts are ``loadtest/``; the network side is
``renkei/replay.py``. The replay needs the optional extra ``loadtest`` (hdrhistogram,
matplotlib, rich, psutil): without it the command says what to install.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import aiohttp

from loadtest.exceptions import BadOption, MissingExtra
from loadtest.schedule import make_schedule, parse_duration
from loadtest.season import list_seasons, load_season
from renkei.secrets import State
from renkei.settings import Settings

__all__ = ["add_season_commands"]

INSTALL = "pip install 'renkei[loadtest]'  (or .venv/bin/pip install -e '.[loadtest]')"


def add_season_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    season = sub.add_parser("season", help="claim seasons: list, show, replay against the network")
    ssub = season.add_subparsers(dest="action", required=True)
    ssub.add_parser("list", help="the seasons under loadtest/seasons/").set_defaults(run=season_list)
    show = ssub.add_parser("show", help="a season's calendar, shapes and message mix")
    show.add_argument("name", help="a season's name, or a path to a season file")
    show.set_defaults(run=season_show)
    rp = ssub.add_parser(
        "replay",
        help="replay a season (open model) and check nothing was lost; report under reports/",
    )
    rp.add_argument("name", help="a season's name, or a path to a season file")
    level = rp.add_mutually_exclusive_group(required=True)
    level.add_argument("--rate", type=float, help="mean messages per second over the replay")
    level.add_argument("--scale", type=float, help="the season's daily volume × this")
    rp.add_argument("--duration", default="60s", help="wall time of the replay (90s, 20m; default 60s)")
    rp.add_argument(
        "--compress", default="24m", help="a season day lasts this long (default 24m: an hour a minute)"
    )
    rp.add_argument("--start-hour", type=float, default=9.0, help="hours into the season (default 9)")
    rp.add_argument("--seed", type=int, default=1, help="same seed, same schedule (default 1)")
    rp.add_argument("--residents", type=int, help="embedded: population size (default: the season's)")
    rp.add_argument("--reports", default="reports", help="where reports go (default reports/)")
    rp.add_argument(
        "--warmup", default="30s", help="memory samples before this are left out of the flat check"
    )
    rp.set_defaults(run=season_replay)


async def season_list(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    for name, _ in list_seasons():
        s = load_season(name)
        print(f"{name:<24} {s.calendar.start} +{s.calendar.days}d  {s.title}", file=out)
    return 0


async def season_show(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    s = load_season(args.name)
    say = lambda line="": print(line, file=out)  # noqa: E731 - a local shorthand
    say(f"{s.name}: {s.title}")
    say(f"  {s.about}")
    say(f"  calendar: {s.calendar.start} for {s.calendar.days} days; day weights {list(s.calendar.day_weights) or 'all 1'}")
    say(f"  population: {s.population.residents} residents on {s.population.today} (seed {s.population.seed})")
    say(f"  {s.daily_messages} messages a season day at scale 1")
    for name, shape in s.shapes.items():
        say(f"  shape {name}: weekdays {list(shape.weekdays)}; hours {list(shape.hours)}")
        say(f"    {shape.source}")
    for t in s.traffic:
        what = {
            "query": f"{t.affair}: {', '.join(t.items)} from {t.provider}",
            "change": f"{t.change} {dict(t.detail) or ''}",
            "portal_page": f"page {t.page}",
        }[t.kind]
        say(f"  {t.share:5.0%} {t.name:<26} {t.kind:<11} {t.office} ({t.collection}) {what} [{t.shape}]")
    for src in s.sources:
        say(f"  source: {src}")
    return 0


def _extras() -> Any:
    try:
        from loadtest import progress, report, sampler, stats  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise MissingExtra(f"the replay needs the `loadtest` extra ({exc.name} is missing): {INSTALL}") from None
    return progress, report, sampler, stats


async def _dead_letters_real(settings: Settings) -> list[tuple[str, str]]:
    """(message id, reason) of the messages in the real broker's dead-letter queue, read
    without taking them (the management API's get with requeue)."""
    from hub.bus import DEAD_QUEUE, REASON_HEADER  # noqa: PLC0415

    url = f"{settings.admin_url.rstrip('/')}/api/queues/{quote(settings.broker_vhost, safe='')}/{DEAD_QUEUE}/get"
    body = {"count": 10_000, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 2000}
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as r:
        if r.status == 404:
            return []
        r.raise_for_status()
        msgs = await r.json()
    return [
        (str(m.get("properties", {}).get("message_id", "")), str(m.get("properties", {}).get("headers", {}).get(REASON_HEADER, "")))
        for m in msgs
    ]


async def _queue_depths(settings: Settings) -> dict[str, int]:
    url = f"{settings.admin_url.rstrip('/')}/api/queues/{quote(settings.broker_vhost, safe='')}?columns=name,messages"
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        r.raise_for_status()
        return {q["name"]: int(q.get("messages") or 0) for q in await r.json()}


async def season_replay(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:  # noqa: PLR0915 - the run, step by step
    progress_mod, report_mod, sampler_mod, stats_mod = _extras()
    from loadtest.accounting import DeadLetter, check  # noqa: PLC0415
    from loadtest.driver import replay  # noqa: PLC0415
    from renkei.replay import changes_needed, close_target, open_target  # noqa: PLC0415
    from renkei.network import identities, load_rules  # noqa: PLC0415

    where = out or sys.stdout

    def say(line: str) -> None:
        print(line, file=where, flush=True)

    season = load_season(args.name)
    duration = parse_duration(args.duration)
    schedule = make_schedule(
        season,
        duration=duration,
        day_seconds=parse_duration(args.compress),
        rate=args.rate,
        scale=args.scale,
        start_hour=args.start_hour,
        seed=args.seed,
    )
    real = settings.broker_url is not None
    if real:
        state = State.load(settings.state_dir, [*season.offices(), "token"])
    else:
        state = State.generate(identities(load_rules(settings)[1]))
    say(
        f"season {season.name}: {len(schedule.arrivals)} messages over {duration:.0f} s"
        f" (mean {schedule.mean_rate:.1f}/s) on {'RabbitMQ and PostgreSQL' if real else 'the embedded network'}"
    )
    target = await open_target(settings, state, season, residents=args.residents, progress=say)
    try:
        short = changes_needed(season, schedule.counts(), target.people)
        if short:
            raise BadOption("not enough people to change each once: " + "; ".join(short))
        dead_before = await _dead_letters_real(settings) if real else []
        streams = tuple(t.name for t in season.traffic)
        offices = tuple(t.office for t in season.traffic)
        stats = stats_mod.Stats(streams, offices, bucket=max(1.0, duration / 120))
        groups = sampler_mod.service_processes(embedded=not real)
        sampler = sampler_mod.ProcessSampler(groups)
        queues: dict[str, Any] = {"t": [], "depth": {}}
        stop = asyncio.Event()

        async def sample() -> None:
            t0 = asyncio.get_running_loop().time()
            while not stop.is_set():
                sampler.sample()
                if real:
                    try:
                        depths = await _queue_depths(settings)
                    except aiohttp.ClientError:
                        depths = {}
                    queues["t"].append(round(asyncio.get_running_loop().time() - t0, 2))
                    for q, n in depths.items():
                        queues["depth"].setdefault(q, []).append(n)
                try:
                    await asyncio.wait_for(stop.wait(), 1.0)
                except TimeoutError:
                    pass

        sampling = asyncio.create_task(sample())
        started = dt.datetime.now(dt.UTC)
        with progress_mod.Progress(stats, len(schedule.arrivals), where) as live:
            took = await replay(schedule, target.send, stats, tick=live.update)
        stop.set()
        await sampling
        facts = await target.facts()
        if real:
            before = {m for m, _ in dead_before}
            facts.dead_letters = [
                DeadLetter("renkei.dead", reason, mid)
                for mid, reason in await _dead_letters_real(settings)
                if mid not in before
            ]
        verdict = check(target.ledger, facts)
    finally:
        await close_target(target)
    warm = int(parse_duration(args.warmup))
    report = {
        "run": {
            "season": season.name,
            "title": season.title,
            "started": started.isoformat(timespec="seconds"),
            "network": "RabbitMQ and PostgreSQL" if real else "embedded (in-process bus, memory stores)",
            "hub_processes": sum(1 for g in groups if g.startswith("hub-")) if real else 1,
            "scheduled": len(schedule.arrivals),
            "per_stream": schedule.counts(),
            "duration_s": duration,
            "day_seconds": schedule.day_seconds,
            "start_hour": schedule.start_hour,
            "mean_rate": schedule.mean_rate,
            "rate": args.rate,
            "scale": args.scale,
            "seed": args.seed,
            "took_s": took,
            "max_in_flight": stats.max_in_flight,
            "send_lag": stats_mod.summary(stats.send_lag),
        },
        "statuses": dict(stats.statuses),
        "by_stream_status": {k: dict(v) for k, v in stats.by_stream_status.items()},
        "codes": dict(stats.codes),
        "latency": {
            "overall": stats_mod.summary(stats.overall),
            "by_stream": {k: stats_mod.summary(h) for k, h in stats.by_stream.items()},
            "by_office": {k: stats_mod.summary(h) for k, h in stats.by_office.items()},
        },
        "time_series": stats.time_series(),
        "queues": queues if real else None,
        "processes": sampler.as_dict(),
        "memory": sampler_mod.flat_memory(sampler.rss_mb, warmup=warm),
        "loss": {"ok": verdict.ok, "problems": list(verdict.problems), "figures": dict(verdict.figures)},
    }
    folder = Path(args.reports) / f"{season.name}-{started:%Y%m%dT%H%M%S}"
    js, page = report_mod.write_report(report, folder)
    lat = report["latency"]["overall"]
    say(
        f"sent {stats.sent}, answered {stats.answered} ({dict(stats.statuses)}) in {took:.1f} s;"
        f" p50 {lat.get('p50_ms', '-')} ms, p99 {lat.get('p99_ms', '-')} ms, p99.9 {lat.get('p99.9_ms', '-')} ms"
    )
    if stats.codes:
        say("codes: " + ", ".join(f"{c} {n}" for c, n in stats.codes.most_common()))
    say(f"report: {page} ({js.name})")
    if verdict.ok:
        say(f"loss check: nothing lost ({verdict.figures['queries_sent']} queries, {verdict.figures['change_events']} change events)")
        return 0
    for p in verdict.problems:
        say(f"LOSS: {p}")
    return 1
