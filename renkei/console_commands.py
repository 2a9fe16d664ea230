"""The monitor's console: served by ``renkei run monitor`` (port 8480) and beside the embedded
network by ``renkei demo --monitor``; ``renkei officials add`` makes an official's account.

Officials live in PostgreSQL (``monitor.official``) when there is a database, else in memory
(the demo's, made at start); so does the console's action log (``monitor.console_action``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import sys
import time
from collections.abc import AsyncIterator
from typing import TextIO

import asyncpg

from agencies.municipality.child_allowance import AFFAIR, ChildAllowance
from agencies.population.households import generate
from monitor.console import (
    DEFAULT_PORT,
    ActionLog,
    MemoryActionLog,
    MemoryOfficials,
    Officials,
    PgActionLog,
    PgOfficials,
    Role,
    create_app,
    new_official,
    provisioning_uri,
    totp,
)
from monitor.exceptions import OfficialExists
from renkei.exceptions import RENKEI_BAD_OFFICIAL, RENKEI_NO_DATABASE, CommandError
from renkei.network import Network, identities, load_rules, open_network
from renkei.population.enroll import load_population
from renkei.secrets import State
from renkei.serving import until_stopped, web_site
from renkei.settings import Settings

__all__ = ["add_console_commands", "console_args", "monitor_demo", "served_console"]

STATUS_DATE = dt.date(2024, 6, 1)
DEMO_OFFICIALS: tuple[tuple[str, Role], ...] = (
    ("demo-operator", "operator"),
    ("demo-auditor", "auditor"),
)


def console_args(p: argparse.ArgumentParser) -> None:
    """``--host``, ``--port``, ``--public-url`` of ``renkei run monitor`` (the console, port
    8480) and of ``renkei run kiosk`` (its screen, 8491); ``--host``, ``--port`` of ``renkei run
    issuance-centre`` (its kiosks' API, 8490)."""
    p.add_argument("--host", default="127.0.0.1", help="monitor, issuance-centre, kiosk: address")
    p.add_argument(
        "--port",
        type=int,
        help=f"monitor ({DEFAULT_PORT}), issuance-centre (8490), kiosk (8491): the port",
    )
    p.add_argument(
        "--public-url", help="the console's or kiosk's origin as browsers see it (monitor, kiosk)"
    )


def add_console_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("officials", help="the monitor console's officials (operators, auditors)")
    osub = p.add_subparsers(dest="action", required=True)
    add = osub.add_parser(
        "add", help="make an official's account; prints a one-time password and a TOTP secret"
    )
    add.add_argument("name", help="the sign-in name (a-z 0-9 . _ -)")
    add.add_argument("--role", required=True, choices=["operator", "auditor"])
    add.set_defaults(run=officials_add)
    code = osub.add_parser(
        "code", help="the current TOTP code of a secret, as an authenticator app shows it"
    )
    code.add_argument("secret", help="the base32 TOTP secret `officials add` printed")
    code.set_defaults(run=officials_code)


async def officials_add(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.db_url:
        raise CommandError(
            RENKEI_NO_DATABASE,
            "officials are kept in PostgreSQL (the demo makes its own in memory): pass --db",
        )
    try:
        official, password = new_official(args.name, args.role)
    except ValueError as exc:
        raise CommandError(RENKEI_BAD_OFFICIAL, str(exc)) from None
    pool = await asyncpg.create_pool(settings.db_url, min_size=1, max_size=1)
    try:
        await PgOfficials(pool).add(official)
    except OfficialExists as exc:
        raise CommandError(exc.code, str(exc)) from None
    finally:
        await pool.close()
    _print_official(official.name, official.role, password, official.totp_secret, sys.stdout)
    print(provisioning_uri(official))
    return 0


async def officials_code(settings: Settings, args: argparse.Namespace) -> int:
    try:
        print(totp(args.secret, int(time.time() // 30)))
    except ValueError:
        raise CommandError(RENKEI_BAD_OFFICIAL, "the secret is base32 (A-Z, 2-7)") from None
    return 0


def _print_official(name: str, role: str, password: str, secret: str, out: TextIO) -> None:
    print(f"official {name} ({role})", file=out)
    print(f"  password (shown once): {password}", file=out)
    print(f"  TOTP secret: {secret}  (renkei officials code {secret})", file=out)


@contextlib.asynccontextmanager
async def served_console(
    settings: Settings,
    net: Network,
    args: argparse.Namespace,
    officials: Officials | None = None,
) -> AsyncIterator[str]:
    """The console over the network's monitor, served for the block; yields its URL."""
    assert net.monitor is not None
    actions: ActionLog
    pool = None
    if settings.db_url:
        pool = await asyncpg.create_pool(settings.db_url, min_size=1, max_size=4)
        officials, actions = officials or PgOfficials(pool), PgActionLog(pool)
    else:
        if officials is None:
            print(
                "monitor console: no database, so no officials (they are made with"
                " `renkei --db URL officials add`); try `renkei demo --monitor`",
                file=sys.stderr,
            )
        officials, actions = officials or MemoryOfficials(), MemoryActionLog()
    port = args.port or DEFAULT_PORT
    url = args.public_url or f"http://{args.host}:{port}"
    app = create_app(
        net.monitor.store,
        officials,
        actions,
        offices=[o.code for o in net.registry],
        public_origin=url,
        oversight=net.oversight,
        dead_letters=net.dead_letters,
    )
    try:
        async with web_site(app, args.host, port):
            yield url
    finally:
        if pool is not None:
            await pool.close()


async def monitor_demo(
    settings: Settings, state: State | None, args: argparse.Namespace, out: TextIO = sys.stdout
) -> int:
    """The network with the console beside it, a demo operator and auditor, and the
    child-allowance office checking applicants every ``args.every`` seconds (flows for the
    map; one refused by the legal table each time, an error for it to show)."""

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    table, registry = load_rules(settings)
    state = state or State.generate(identities(registry))
    officials = MemoryOfficials()
    made: list[tuple[str, Role, str, str]] = []
    demo: tuple[tuple[str, Role], ...] = (
        ("demo-operator", "operator"),
        ("demo-auditor", "auditor"),
    )
    for name, role in demo:
        official, password = new_official(name, role)
        await officials.add(official)
        made.append((name, role, password, official.totp_secret))
    async with await open_network(settings, state, table=table, registry=registry) as net:
        await load_population(
            net, generate(min(args.residents, 60), seed=args.seed), fiscal_year=2024
        )
        async with served_console(settings, net, args, officials) as url:
            say(f"renkei demo — monitor console: {url}  (bus: {net.bus_name})")
            for name, role, password, secret in made:
                _print_official(name, role, password, secret, out)
            say(f"  the child-allowance office asks every {args.every:g} s; Ctrl-C stops")
            activity = asyncio.create_task(_activity(net, args.every))
            try:
                await until_stopped(args.seconds)
            finally:
                activity.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await activity
    return 0


async def _activity(net: Network, every: float) -> None:
    """The office checks five applicants (in-house: its ward's register and tax office, no
    network traffic), asks 新宿区's tax office about each over the network (as for a claimant
    who moved in after 1 January), and asks once what no row allows (refused)."""
    child: ChildAllowance = net.apps["chiyoda-child"]
    while True:
        applicants = (await child.store.keys("applicants"))[:5]
        await asyncio.gather(*(child.check(a, STATUS_DATE) for a in applicants))
        tokens = [t for a in applicants if (t := await child.store.token("applicants", a))]
        year = {"fiscal_year": STATUS_DATE.year}
        await asyncio.gather(
            *(child.node.ask(AFFAIR, "shinjuku-tax", ("local_tax",), t, year) for t in tokens)
        )
        if tokens:  # no row lets 児童手当 ask 日本年金機構 for 年金給付関係情報: refused
            await child.node.ask(AFFAIR, "nenkin", ("pension_benefit",), tokens[0])
        await asyncio.sleep(every)
