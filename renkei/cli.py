"""The ``renkei`` command: one entry point for every service and tool.

Settings come from ``RENKEI_*`` environment variables (or ``.env``); ``--broker`` and ``--db``
override them. Errors print one line (the operator's line) and exit non-zero; ``--debug``
shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import uvloop

from hub.log import configure
from renkei import commands
from renkei.card_commands import add_card_commands
from renkei.console_commands import add_console_commands, console_args
from renkei.extra_commands import add_extra_commands
from renkei.issuance_commands import add_certificates_commands, centre_args
from renkei.key_commands import add_key_commands
from renkei.kiosk_commands import kiosk_args
from renkei.metrics_http import metrics_arg, metrics_port, with_metrics
from renkei.monitor_commands import add_monitor_commands
from renkei.pki_commands import PKI_PORT, add_pki_commands
from renkei.portal_commands import add_portal_commands, web_args
from renkei.register_commands import add_number_commands, add_register_commands
from renkei.serving import heartbeat_arg
from renkei.settings import Settings
from renkei.token_commands import add_token_commands

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="renkei", description=__doc__.splitlines()[0])
    p.add_argument("--broker", help="AMQP URL of RabbitMQ (default: the in-process bus)")
    p.add_argument("--db", help="PostgreSQL URL (default: in-memory stores)")
    p.add_argument("--state-dir", help="where `renkei init` keeps keys and secrets (default: var)")
    p.add_argument("--debug", action="store_true", help="debug logs and tracebacks")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_demo(sub)

    init = sub.add_parser("init", help="create the keys and secrets of a deployment")
    init.set_defaults(run=commands.init)

    _add_run(sub)

    broker = sub.add_parser("broker", help="RabbitMQ administration")
    broker.add_subparsers(dest="action", required=True).add_parser(
        "setup", help="declare the topology, users, permissions and policies"
    ).set_defaults(run=commands.broker_setup)

    db = sub.add_parser("db", help="PostgreSQL administration")
    db.add_subparsers(dest="action", required=True).add_parser(
        "migrate", help="create or update every schema"
    ).set_defaults(run=commands.db_migrate)

    numbers = sub.add_parser("numbers", help="numbers: their check digits, a number changed")
    nsub = numbers.add_subparsers(dest="action", required=True)
    check = nsub.add_parser(
        "check", help="say which kind of number this is and whether it is valid"
    )
    check.add_argument("number")
    check.set_defaults(run=commands.numbers_check)
    add_number_commands(nsub)

    legal = sub.add_parser("legal", help="the legal table (番号法 別表第二 model)")
    lsub = legal.add_subparsers(dest="action", required=True)
    lsub.add_parser("list", help="every row").set_defaults(run=commands.legal_list)
    lcheck = lsub.add_parser("check", help="is this exchange allowed, and why (not)?")
    for flag in ("--requester", "--affair", "--provider"):
        lcheck.add_argument(
            flag,
            required=True,
            help="an office code or an office kind" if flag != "--affair" else "affair code",
        )
    lcheck.add_argument(
        "--item", action="append", required=True, help="information item (repeatable)"
    )
    lcheck.add_argument("--on", help="date (default today)")
    lcheck.set_defaults(run=commands.legal_check)

    _add_records(sub)
    _add_query(sub)
    add_pki_commands(sub)
    add_card_commands(sub)
    add_register_commands(sub)
    add_portal_commands(sub)
    add_extra_commands(sub)
    add_key_commands(sub)
    add_token_commands(sub)
    add_monitor_commands(sub)
    add_console_commands(sub)
    add_certificates_commands(sub)
    return p


def _add_demo(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser(
        "demo", help="run the whole network in one process and show a claim season"
    )
    demo.add_argument("--residents", type=int, default=300, help="population size (default 300)")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument(
        "--portal",
        action="store_true",
        help="instead: keep the network up with the CA and the resident portal, and a demo card",
    )
    demo.add_argument(
        "--monitor",
        action="store_true",
        help="instead: keep the network up with the monitor's console and demo officials",
    )
    web_args(demo)
    demo.set_defaults(port=None)  # the portal's 8470, or with --monitor the console's 8480
    demo.add_argument("--pki-port", type=int, default=PKI_PORT, help="the CA's port (--portal)")
    demo.add_argument("--card", help="the demo card's state file (default <state_dir>/card/…)")
    demo.add_argument(
        "--every",
        type=float,
        default=15.0,
        help="seconds between office visits (--portal, --monitor)",
    )
    demo.add_argument(
        "--notice-every", type=int, default=0, help="a notice every N visits (default: one only)"
    )
    demo.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl-C)")
    demo.set_defaults(run=commands.demo)


def _add_run(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run = sub.add_parser("run", help="run one service as its own process")
    run.add_argument(
        "service",
        choices=["hub", "token", "office", "pki", "portal", "monitor", "issuance-centre", "kiosk"],
    )
    run.add_argument("name", nargs="?", help="the office code, with `office`")
    run.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="token: where the hub's processes connect (default RENKEI_TOKEN_ADDRESS, "
        "127.0.0.1:8460)",
    )
    heartbeat_arg(run)
    metrics_arg(run)
    console_args(run)
    centre_args(run)
    kiosk_args(run)
    run.set_defaults(run=commands.run_service)


def _add_records(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    records = sub.add_parser("records", help="access records (情報提供等記録)")
    rsub = records.add_subparsers(dest="action", required=True)
    show = rsub.add_parser(
        "show", help="the records about one person, named by an office's local id"
    )
    show.add_argument("--office", required=True)
    show.add_argument("--local-id", required=True)
    show.add_argument(
        "--collection", help="the office's collection holding the id (default: guessed)"
    )
    show.set_defaults(run=commands.records_show)
    verify = rsub.add_parser(
        "verify", help="check the whole chain, its seals and checkpoints, against the witness"
    )
    verify.add_argument(
        "--witness",
        type=Path,
        help="the hub's witness file (or its directory; default: RENKEI_WITNESS_DIR's)",
    )
    verify.set_defaults(run=commands.records_verify)
    lift = rsub.add_parser(
        "disclose",
        help="lift a record's non-disclosure flag (不開示) now: a signed change in the flag log",
    )
    lift.add_argument("record_id", help="the access record's id")
    lift.add_argument("--reason", required=True, help="why it is lifted (recorded)")
    lift.add_argument("--by", default="operator", help="who lifts it (recorded; default: operator)")
    lift.set_defaults(run=commands.records_disclose)


def _add_query(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    q = sub.add_parser("query", help="ask as an office; print the answer, or the refusal and why")
    q.add_argument("--as", dest="as_office", required=True, metavar="OFFICE")
    q.add_argument("--affair", required=True)
    q.add_argument("--item", action="append", required=True, help="information item (repeatable)")
    q.add_argument("--local-id", required=True, help="the person, by the asking office's own id")
    q.add_argument("--provider", help="the office to ask (default: the hub finds it)")
    q.add_argument("--fiscal-year", type=int)
    q.add_argument("--param", action="append", metavar="KEY=VALUE")
    q.set_defaults(run=commands.query)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.broker:
        overrides["broker_url"] = args.broker
    if args.db:
        overrides["db_url"] = args.db
    if args.state_dir:
        overrides["state_dir"] = args.state_dir
    settings = Settings(**overrides)
    # tools print their own output, so only services log at info by default;
    # RENKEI_LOG_LEVEL=info shows one line per query everywhere
    quiet = args.command != "run" and "log_level" not in settings.model_fields_set
    level = "warning" if quiet else settings.log_level
    configure(level="debug" if args.debug else level, json=settings.log_json)
    command: Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]] = args.run
    coro = command(settings, args)
    if (port := metrics_port(settings, args)) is not None:
        coro = with_metrics(coro, settings.metrics_host, port)
    try:
        return _run(coro)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        code = getattr(exc, "code", type(exc).__name__)
        print(f"renkei: {code}: {exc}", file=sys.stderr)
        return 2


def _run(coro: Coroutine[Any, Any, int]) -> int:
    return uvloop.run(coro)
