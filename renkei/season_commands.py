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

from loadtest.exceptions import BadOption, MissingExtra
from loadtest.schedule import make_schedule, parse_duration
from loadtest.season import CARD_KINDS, list_seasons, load_season
from renkei.network import identities, load_rules, with_juki
from renkei.secrets import State
from renkei.settings import Settings

__all__ = ["add_season_commands"]

INSTALL = "pip install 'renkei[loadtest]'  (or .venv/bin/pip install -e '.[loadtest]')"
DEFAULT_PKI = "http://127.0.0.1:8440"  # `renkei run pki`'s


def add_season_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    season = sub.add_parser("season", help="claim seasons: list, show, replay against the network")
    ssub = season.add_subparsers(dest="action", required=True)
    ssub.add_parser("list", help="the seasons under loadtest/seasons/").set_defaults(
        run=season_list
    )
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
    rp.add_argument(
        "--duration", default="60s", help="wall time of the replay (90s, 20m; default 60s)"
    )
    rp.add_argument(
        "--compress",
        default="24m",
        help="a season day lasts this long (default 24m: an hour a minute)",
    )
    rp.add_argument(
        "--start-hour", type=float, default=9.0, help="hours into the season (default 9)"
    )
    rp.add_argument("--seed", type=int, default=1, help="same seed, same schedule (default 1)")
    rp.add_argument(
        "--residents", type=int, help="embedded: population size (default: the season's)"
    )
    rp.add_argument("--reports", default="reports", help="where reports go (default reports/)")
    rp.add_argument(
        "--warmup", default="30s", help="memory samples before this are left out of the flat check"
    )
    rp.add_argument(
        "--portal",
        metavar="URL",
        help="real network: the portal process (`renkei run portal`), its pages, logins and"
        " applications replayed over HTTP (without it they are left out)",
    )
    rp.add_argument(
        "--pki",
        metavar="URL",
        default=DEFAULT_PKI,
        help=f"with --portal: the CA (`renkei run pki`) that issues the residents' cards"
        f" (default {DEFAULT_PKI})",
    )
    rp.set_defaults(run=season_replay)


async def season_list(
    settings: Settings, args: argparse.Namespace, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    for name, _ in list_seasons():
        s = load_season(name)
        print(f"{name:<24} {s.calendar.start} +{s.calendar.days}d  {s.title}", file=out)
    return 0


async def season_show(
    settings: Settings, args: argparse.Namespace, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    s = load_season(args.name)

    def say(line: str = "") -> None:
        print(line, file=out)

    say(f"{s.name}: {s.title}")
    say(f"  {s.about}")
    cal, pop = s.calendar, s.population
    weights = list(cal.day_weights) or "all 1"
    say(f"  calendar: {cal.start} for {cal.days} days; day weights {weights}")
    say(f"  population: {pop.residents} residents on {pop.today} (seed {pop.seed})")
    say(f"  {s.daily_messages} messages a season day at scale 1")
    for name, shape in s.shapes.items():
        say(f"  shape {name}: weekdays {list(shape.weekdays)}; hours {list(shape.hours)}")
        say(f"    {shape.source}")
    for t in s.traffic:
        what = {
            "query": f"{t.affair}: {', '.join(t.items)} from {t.provider}",
            "change": f"{t.change} {dict(t.detail) or ''}",
            "portal_page": f"page {t.page}",
            "portal_login": f"login, history, notices ({t.held_by}'s residents, a card each)"
            if not t.revoked
            else f"login refused ({t.held_by}'s residents, a card each, reported lost)",
            "application": f"{t.application} application ({t.held_by}'s residents, once each)",
        }[t.kind]
        sender = f"{t.office} ({t.collection})"
        say(f"  {t.share:5.0%} {t.name:<26} {t.kind:<11} {sender} {what} [{t.shape}]")
    for src in s.sources:
        say(f"  source: {src}")
    return 0


def _extras() -> Any:
    try:
        from loadtest import progress, report, sampler, stats  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise MissingExtra(
            f"the replay needs the `loadtest` extra ({exc.name} is missing): {INSTALL}"
        ) from None
    return progress, report, sampler, stats


async def season_replay(
    settings: Settings, args: argparse.Namespace, out: TextIO | None = None
) -> int:
    """Replay a season; exit 1 when the loss check fails. Steps: the schedule, the network
    and its people, the replay with the samplers, the facts, the report."""
    progress_mod, report_mod, sampler_mod, stats_mod = _extras()
    from loadtest.accounting import check  # noqa: PLC0415
    from loadtest.driver import replay  # noqa: PLC0415
    from renkei.replay import (  # noqa: PLC0415
        Broker,
        changes_needed,
        close_target,
        open_target,
        sample_until,
    )

    where = out or sys.stdout

    def say(line: str) -> None:
        print(line, file=where, flush=True)

    real = settings.broker_url is not None
    season = _season(args, real, say)
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
    state = _state(settings, season, web=args.portal is not None)
    where_to = "RabbitMQ and PostgreSQL" if real else "the embedded network"
    say(
        f"season {season.name}: {len(schedule.arrivals)} messages over {duration:.0f} s"
        f" (mean {schedule.mean_rate:.1f}/s) on {where_to}"
    )
    broker = Broker(settings) if real else None
    web = _portal_web(settings, args, say)
    target = await open_target(
        settings,
        state,
        season,
        residents=args.residents,
        progress=say,
        counts=schedule.counts(),
        web=web,
    )
    try:
        short = changes_needed(season, schedule.counts(), target.people)
        if short:
            raise BadOption("not enough people to act once each: " + "; ".join(short))
        dead_before = await broker.dead_letters() if broker else []
        stats = stats_mod.Stats(
            tuple(t.name for t in season.traffic),
            tuple(t.office for t in season.traffic),
            bucket=max(1.0, duration / 120),
        )
        groups = sampler_mod.service_processes(embedded=not real, vhost=settings.broker_vhost)
        sampler = sampler_mod.ProcessSampler(groups)
        queues: dict[str, Any] = {"t": [], "depth": {}}
        stop = asyncio.Event()
        sampling = asyncio.create_task(sample_until(stop, sampler, broker, queues))
        started = dt.datetime.now(dt.UTC)
        with progress_mod.Progress(stats, len(schedule.arrivals), where) as live:
            took = await replay(schedule, target.send, stats, tick=live.update)
        stop.set()
        await sampling
        say(f"replayed in {took:.1f} s; reading the stores for the loss check …")
        facts = await target.facts()
        if broker is not None:
            facts.dead_letters = await broker.dead_letters(after=dead_before)
        verdict = check(target.ledger, facts)
        say("loss check done; closing the replayer's offices and writing the report …")
    finally:
        await close_target(target)
    run = {
        "season": season.name,
        "title": season.title,
        "started": started.isoformat(timespec="seconds"),
        "network": "RabbitMQ and PostgreSQL" if real else "embedded (in-process bus, memory)",
        "hub_processes": sum(1 for g in groups if g.startswith("hub-")) if real else 1,
        "portal": args.portal or ("in the replayer" if not real else None),
        "rate": args.rate,
        "scale": args.scale,
        "took_s": took,
    }
    report = report_mod.build(
        run,
        schedule=schedule,
        stats=stats,
        sampler=sampler,
        queues=queues if real else None,
        verdict=verdict,
        warmup=parse_duration(args.warmup),
    )
    folder = Path(args.reports) / f"{season.name}-{started:%Y%m%dT%H%M%S}"
    return _result(say, report, report_mod.write_report(report, folder), stats, verdict)


def _season(args: argparse.Namespace, real: bool, say: Any) -> Any:
    """The season to replay: on the real network without logins and applications unless
    the portal process is replayed (``--portal``)."""
    season = load_season(args.name)
    if args.portal is not None and not real:
        raise BadOption("--portal replays against the real network only (--broker and --db)")
    if real and args.portal is None:  # logins and applications go through the portal process
        left = [t.name for t in season.traffic if t.kind in CARD_KINDS]
        season = season.without(CARD_KINDS)
        if left:
            say(
                f"on the real network without {', '.join(left)}: logins and applications are"
                " replayed at the portal process (--portal URL)"
            )
    return season


def _portal_web(settings: Settings, args: argparse.Namespace, say: Any) -> Any:
    """With ``--portal``: the portal process and the CA (its operator token from the state
    directory: the card desk's), for the portal's streams."""
    if args.portal is None:
        return None
    from renkei.replay_web import PortalWeb  # noqa: PLC0415 - the loadtest extra

    operator = (settings.state_dir / "pki" / "operator-token").read_text().strip()
    say(f"the portal at {args.portal}, cards from the CA at {args.pki}")
    return PortalWeb(args.portal, args.pki, operator)


def _state(settings: Settings, season: Any, *, web: bool) -> State:
    """The senders' keys and the token master from the state directory on the real network;
    the embedded one makes a network of its own."""
    from renkei.replay import senders  # noqa: PLC0415 - the loadtest extra

    if settings.broker_url is not None:
        # and the 住基ネット user of a register among them
        offices = with_juki(load_rules(settings)[1], senders(season, web=web))
        return State.load(settings.state_dir, [*offices, "token"])
    return State.generate(identities(load_rules(settings)[1]))


def _result(say: Any, report: Any, paths: tuple[Path, Path], stats: Any, verdict: Any) -> int:
    js, page = paths
    lat = report["latency"]["overall"]
    say(
        f"sent {stats.sent}, answered {stats.answered} ({dict(stats.statuses)})"
        f" in {report['run']['took_s']:.1f} s;"
        f" p50 {lat.get('p50_ms', '-')} ms, p99 {lat.get('p99_ms', '-')} ms,"
        f" p99.9 {lat.get('p99.9_ms', '-')} ms"
    )
    if stats.codes:
        say("codes: " + ", ".join(f"{c} {n}" for c, n in stats.codes.most_common()))
    say(f"report: {page} ({js.name})")
    if verdict.ok:
        f = verdict.figures
        say(
            f"loss check: nothing lost ({f['queries_sent']} queries, {f['change_events']}"
            f" change events, {f['logins']} logins, {f['applications']} applications,"
            f" {f['applications_processed']} processed)"
        )
        return 0
    for p in verdict.problems:
        say(f"LOSS: {p}")
    return 1
