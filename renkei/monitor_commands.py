"""``renkei monitor export``: the monitor's operational records (or spans) as JSON lines;
``renkei monitor alerts``: its anomaly alerts, and an auditor's acknowledgement of one."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import unicodedata
from typing import Any

import asyncpg
import orjson

from monitor import PgAlertStore, PgSpanStore, Search
from renkei.exceptions import RENKEI_BAD_DATE, RENKEI_NO_DATABASE, RENKEI_USAGE, CommandError
from renkei.settings import Settings

__all__ = ["add_monitor_commands", "alerts", "export"]

PAGE = 1000
_MINUTE = "%Y-%m-%d %H:%M"


def add_monitor_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    monitor = sub.add_parser("monitor", help="the monitor's traces (renkei run monitor keeps them)")
    msub = monitor.add_subparsers(dest="action", required=True)
    out = msub.add_parser(
        "export",
        help="every message flow (X-Road-style operational record) since a time, as JSON lines",
    )
    out.add_argument(
        "--since", required=True, help="ISO time (UTC unless it says), e.g. 2026-06-01"
    )
    out.add_argument("--until", help="ISO time (default: now)")
    out.add_argument("--office", help="only flows this office asked or answered")
    out.add_argument("--spans", action="store_true", help="write each flow's spans instead")
    out.set_defaults(run=export)
    al = msub.add_parser(
        "alerts",
        help="the open anomaly alerts (--all: acknowledged ones too); an auditor acknowledges one",
    )
    al.add_argument("--all", action="store_true", help="the newest alerts, acknowledged or not")
    al.add_argument("--json", action="store_true", help="one JSON object a line")
    al.add_argument("--ack", metavar="ID", help="acknowledge this alert (with --by)")
    al.add_argument(
        "--by", metavar="NAME", help="who acknowledges: an auditor (RENKEI_MONITOR_AUDITORS)"
    )
    al.set_defaults(run=alerts)


async def _pool(settings: Settings) -> Any:
    if not settings.db_url:
        raise CommandError(
            RENKEI_NO_DATABASE,
            "the monitor keeps its alerts in PostgreSQL (in memory they end with the process):"
            " pass --db",
        )
    return await asyncpg.create_pool(settings.db_url, min_size=1, max_size=2)


async def alerts(settings: Settings, args: argparse.Namespace) -> int:
    """List the alerts, or acknowledge one as ``--by`` (an auditor: a name in
    ``RENKEI_MONITOR_AUDITORS``; the console checks its officials' roles instead)."""
    if (args.ack is None) != (args.by is None):
        raise CommandError(RENKEI_USAGE, "--ack ID and --by NAME go together")
    pool = await _pool(settings)
    store = PgAlertStore(pool)
    auditors = frozenset(settings.monitor_auditors)
    try:
        if args.ack is not None:
            done = await store.acknowledge(
                args.ack, by=args.by, at=dt.datetime.now(dt.UTC), is_auditor=auditors.__contains__
            )
            print(f"alert {done.id} ({done.rule}, {done.subject}) acknowledged by {done.acked_by}")
            return 0
        shown = await store.recent(200) if args.all else await store.open()
    finally:
        await pool.close()
    for a in shown:
        if args.json:
            sys.stdout.buffer.write(orjson.dumps(a.as_json()) + b"\n")
            continue
        state = f"acknowledged by {a.acked_by} at {a.acked_at:{_MINUTE}}" if a.acked_at else "open"
        print(f"{a.id}  {a.severity:<8} {a.rule:<17} {a.subject:<20} ×{a.count:<5} {state}")
        print(f"    {a.summary} (first {a.first_at:{_MINUTE}}, last {a.last_at:{_MINUTE}} UTC)")
    if not args.json:
        print(f"{len(shown)} alert(s){'' if args.all else ' open'}", file=sys.stderr)
    return 0


def _instant(text: str, flag: str) -> int:
    try:
        when = dt.datetime.fromisoformat(unicodedata.normalize("NFKC", text))
    except ValueError:
        raise CommandError(
            RENKEI_BAD_DATE, f"{flag} takes an ISO time (2026-06-01T09:00), not {text!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1e9)


async def export(settings: Settings, args: argparse.Namespace) -> int:
    """Oldest first, in pages; one JSON object a line on stdout."""
    if not settings.db_url:
        raise CommandError(
            RENKEI_NO_DATABASE,
            "the monitor keeps spans in PostgreSQL (in memory they end with the process):"
            " pass --db",
        )
    since = _instant(args.since, "--since")
    until = _instant(args.until, "--until") if args.until else None
    pool = await _pool(settings)
    store = PgSpanStore(pool)
    written = 0
    try:
        while True:
            q = Search(
                office=args.office, since_ns=since, until_ns=until, limit=PAGE, oldest_first=True
            )
            page = await store.search(q)
            for op in page:
                lines: list[Any] = (
                    [s.as_json() for s in await store.trace(op.trace_id)]
                    if args.spans
                    else [op.as_json()]
                )
                for line in lines:
                    sys.stdout.buffer.write(orjson.dumps(line) + b"\n")
                written += 1
            if len(page) < PAGE:
                break
            since = max(op.started_ns or since for op in page) + 1
    finally:
        await pool.close()
    sys.stdout.flush()
    print(f"{written} flow(s) exported", file=sys.stderr)
    return 0
