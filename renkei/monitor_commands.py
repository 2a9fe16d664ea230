"""``renkei monitor export``: the monitor's operational records (or spans) as JSON lines."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import unicodedata
from typing import Any

import asyncpg
import orjson

from monitor import PgSpanStore, Search
from renkei.exceptions import RENKEI_BAD_DATE, RENKEI_NO_DATABASE, CommandError
from renkei.settings import Settings

__all__ = ["add_monitor_commands", "export"]

PAGE = 1000


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
    pool = await asyncpg.create_pool(settings.db_url, min_size=1, max_size=2)
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
