"""``renkei population generate``: a synthetic population at scale, written into each office.

This is the BULK-LOAD path of an operator tool of the composition root, and it is equivalent
to each office enrolling each person (符号取得) one message at a time: the tool holds the
deployment's secrets (``renkei init``), computes for every record the token the token service
would issue to that office, files it with the record in the office's own store, and writes
the hub's directory row (hub token, office, since) that the hub writes at each enrollment.
J-LIS's registry gets each resident-record code at generation 0. No office stores the
individual number (or the resident-record code): each holds its own local id and its own token.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections import defaultdict
from typing import TextIO

import asyncpg

from agencies.population import (
    MUNICIPALITIES,
    Plan,
    check_size,
    chunks,
    select,
)
from hub.routing import Registry
from renkei.exceptions import GenerateError
from renkei.network import load_rules
from renkei.population.chunks import Job
from renkei.population.load import Loaded, check_targets, clear, load, targets_for
from renkei.progress import Progress
from renkei.secrets import TOKEN, State
from renkei.settings import Settings

__all__ = ["add_population_commands", "generate", "plan_for"]

HELP = """\
Generate a synthetic population (deterministic for --seed) and write it into each office's own
store in PostgreSQL with COPY: J-LIS's registry, the resident registers, tax offices, child
allowance, national health insurance, care, disability and welfare offices of 千代田区 and
新宿区, 東京都's offices, and the national pension, health insurance and employment offices.
People living in municipalities without offices on the network are held only by J-LIS and the
national offices.

With --enroll (the default) this is a bulk load equivalent to every office enrolling every
person it holds (符号取得): each record is filed with that office's own token, computed from
the deployment's secrets exactly as the token service issues it, and the hub's directory gets
the row it writes at enrollment. The individual number is never stored by any office.

Needs `renkei --db URL` (or RENKEI_DB_URL), the state directory made by `renkei init`
(`renkei --state-dir DIR`, RENKEI_STATE_DIR) and the schemas made by `renkei db migrate`:

  renkei --db postgresql://postgres@127.0.0.1/renkei population generate --residents 1000000
"""


def _prefecture(name_ja: str) -> str | None:
    for m in MUNICIPALITIES.values():
        if name_ja.startswith(m.pref):
            return m.pref_code
    return None


def plan_for(registry: Registry) -> Plan:
    """Which office of the registry plays which role (the first office found for a role)."""
    municipal: dict[str, dict[str, str]] = defaultdict(dict)
    prefectural: dict[str, dict[str, str]] = defaultdict(dict)
    national: dict[str, str] = {}
    for o in registry:
        if o.kind == "jlis":
            national.setdefault("jlis", o.code)
        elif o.kind == "pension_service" and "pension_benefit" in o.provides:
            national.setdefault("pension", o.code)
        elif o.kind == "health_insurer" and "medical_insurance_benefit" in o.provides:
            national.setdefault("health", o.code)
        elif o.kind == "mhlw" and "employment_insurance_benefit" in o.provides:
            national.setdefault("employment", o.code)
        elif o.municipality:
            roles = municipal[o.municipality]
            for role, wanted in (
                ("resident", "resident_record" in o.provides),
                ("tax", "local_tax" in o.provides),
                ("child", "child_allowance" in o.affairs),
                ("nhi", "national_health_insurance" in o.affairs),
                ("care", "long_term_care_benefit" in o.provides),
                ("disability", "independence_support" in o.affairs),
                ("welfare", "public_assistance" in o.provides),
                ("child_rearing", "child_rearing_allowance" in o.provides),
            ):
                if wanted:
                    roles.setdefault(role, o.code)
        elif o.kind in ("prefecture", "koiki") and (pref := _prefecture(o.name_ja)):
            prefectural[pref].setdefault(o.kind, o.code)
    return Plan(
        jlis=national.get("jlis"),
        pension=national.get("pension"),
        health=national.get("health"),
        employment=national.get("employment"),
        municipal=dict(municipal),
        prefectural=dict(prefectural),
    )


def add_population_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    population = sub.add_parser("population", help="a synthetic population, in bulk")
    psub = population.add_subparsers(dest="action", required=True)
    gen = psub.add_parser(
        "generate",
        help="generate a population and bulk-load it into every office (with its tokens)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gen.add_argument(
        "--residents",
        type=int,
        required=True,
        metavar="N",
        help="how many people (1 to 20,000,000)",
    )
    gen.add_argument("--seed", type=int, default=1, help="same seed, same population (default 1)")
    gen.add_argument(
        "--municipalities",
        nargs="+",
        metavar="CODE",
        help="municipal codes (with check digit) or names; default: all of "
        + ", ".join(f"{m.code} {m.name}" for m in MUNICIPALITIES.values()),
    )
    gen.add_argument(
        "--enroll",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="file each office's token with its records and fill the hub's directory "
        "(bulk 符号取得; default on)",
    )
    gen.add_argument(
        "--today", default="2024-06-01", help="the population's date (default 2024-06-01)"
    )
    gen.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="generator processes (0: in this process; default: up to 2)",
    )
    gen.add_argument(
        "--replace",
        action="store_true",
        help="empty the target tables first (every office's documents, the directory)",
    )
    gen.set_defaults(run=generate)


async def generate(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    residents = check_size(args.residents)
    chosen = select(args.municipalities) if args.municipalities else select()
    try:
        today = dt.date.fromisoformat(args.today)
    except ValueError:
        raise GenerateError(f"--today takes an ISO date (2024-06-01), not {args.today!r}") from None
    if not 0 <= args.workers <= 64:
        raise GenerateError(f"--workers is 0–64, not {args.workers}")
    if not settings.db_url:
        raise GenerateError(
            "no database configured: the population is written into PostgreSQL; "
            "pass --db URL or set RENKEI_DB_URL"
        )
    # bulk enrollment (符号取得) acts as the token service (every office's token from the
    # token master), J-LIS and every office (their tables): its secret must be here
    State.load_secret(settings.state_dir, TOKEN)
    plan = plan_for(load_rules(settings)[1])
    targets = targets_for(plan.offices())
    try:
        conn = await asyncpg.connect(settings.db_url, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise GenerateError(f"cannot reach the database: {exc}") from None
    try:
        held = await check_targets(conn, targets)
        busy = [name for name, n in held.items() if n]
        if busy and not args.replace:
            raise GenerateError(
                f"{', '.join(busy[:3])}{' …' if len(busy) > 3 else ''} already hold data: "
                "pass --replace to empty the target tables first"
            )
        if args.replace:
            await clear(conn, targets)
    finally:
        await conn.close()
    codes = tuple(m.code for m in chosen)
    jobs = [Job(args.seed, c, n, today, codes, plan, args.enroll) for c, n in chunks(residents)]
    bar = Progress(residents, "residents")
    try:
        loaded = await load(
            settings.db_url,
            jobs,
            workers=args.workers,
            state_dir=settings.state_dir,
            progress=bar.advance,
        )
    finally:
        bar.close()
    _report(loaded, args, len(codes), out or sys.stdout)
    return 0


def _report(loaded: Loaded, args: argparse.Namespace, places: int, out: TextIO) -> None:
    secs = max(loaded.seconds, 1e-9)
    print(
        f"population: {loaded.residents:,} residents in {loaded.households:,} households"
        f" (seed {args.seed}, {places} municipalities) in {secs:.1f} s,"
        f" {loaded.residents / secs:,.0f} residents/s",
        file=out,
    )
    print(f"  {'table':<36}{'rows':>12}{'COPY s':>9}{'rows/s':>11}", file=out)
    total = 0
    for (schema, table), t in sorted(loaded.tables.items()):
        rate = t.rows / t.seconds if t.seconds else 0
        print(f"  {schema + '.' + table:<36}{t.rows:>12,}{t.seconds:>9.1f}{rate:>11,.0f}", file=out)
        total += t.rows
    print(
        f"  {'all tables (wall clock)':<36}{total:>12,}{secs:>9.1f}{total / secs:>11,.0f}", file=out
    )
    if args.enroll:
        print(
            "enrolled in bulk: each record carries its office's own token, the directory its"
            " hub token; no office holds a number",
            file=out,
        )
