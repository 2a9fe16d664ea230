"""The municipal desk's register events (`renkei register <event> …`): 住民異動 as a clerk
enters it — birth, a first entry from abroad, death, move-out, move-in, name, address,
household — and `renkei numbers change` (番号法 第7条第2項). A birth, an entry and a number change
write the resident's 個人番号通知書 (PDF) for the post, into ``--notice-dir``.

Each runs :class:`agencies.municipality.register_desk.RegisterDesk` as the resident register
``--office`` (default ``chiyoda-resident``): the change event to every holder through the hub,
J-LIS's 本人確認情報 over 住基ネット (the register's own user there; J-LIS answers from its
own process), the register's record. With ``--broker`` and ``--db`` it acts on the deployment
as the register (its store in PostgreSQL; J-LIS runs as ``renkei run office jlis``: without it
the event is unconfirmed, to retry with ``--event-id``); with neither, on an embedded network loaded
with the demo's population (300 households, seed 1: residents ``R0000001`` …), which ends with
the command — a move in there is refused, as no move out reached that register before it.

The event id is printed first; give it again (``--event-id``) to retry an event that was not
confirmed: it is applied once. A move in's number is read from a file (``--number-file``),
never from the command line (which other users of the machine can see).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from agencies.municipality.numbering import Notifier, NumberNotice
from agencies.municipality.register_desk import KINDS, NUMBER, Filing, RegisterDesk, parse
from agencies.population.households import generate
from issuance.notice import render_notice
from renkei.exceptions import RENKEI_NO_DATABASE, RENKEI_UNKNOWN_OFFICE, CommandError
from renkei.network import Network, identities, load_rules, open_network, with_juki
from renkei.population.enroll import load_population
from renkei.secrets import State
from renkei.settings import Settings

__all__ = ["add_number_commands", "add_register_commands"]

DEFAULT_OFFICE = "chiyoda-resident"
JST = dt.timezone(dt.timedelta(hours=9), "JST")  # the desk's calendar
_UNSHOWN = frozenset({"rrc", "number", "seal", "event"})  # never on the clerk's terminal
_OPTIONS = {  # option → the filing's field
    "name": "name",
    "address": "address",
    "sex": "sex",
    "birth_date": "birth_date",
    "household": "household",
    "relationship": "relationship",
    "relationships": "relationships",  # a new head: the others' 続柄, R2=妻,R3=子
    "to": "to_municipality",
    "from_address": "from_address",
}


def add_register_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    reg = sub.add_parser("register", help="the municipal desk: register events (住民異動)")
    events = reg.add_subparsers(dest="event", required=True)
    helps = {
        "birth": "出生: a new resident in a household; J-LIS numbers them",
        "death": "死亡: the record is closed; both certificates are revoked",
        "move-out": "転出: filed ahead (up to 30 days); the new municipality is told",
        "move-in": "転入: after a move out to this municipality; the resident gets their holder",
        "name": "氏名の変更: the signature certificate is revoked",
        "address": "転居: a new address within the municipality",
        "household": "世帯変更: join or leave a household, or become its head (--head; the"
        " other members' new 続柄 with --relationships R2=妻,R3=子)",
        "entry": "国外からの転入: a first entry, never numbered; J-LIS numbers them, a notice",
    }
    for kind in (k for k in KINDS if k != NUMBER):  # a number change: `renkei numbers change`
        p = events.add_parser(kind.replace("_", "-"), help=helps[kind.replace("_", "-")])
        p.add_argument("--local-id", required=True, help="the resident, by the register's own id")
        p.add_argument("--effective", required=True, help="異動年月日, YYYY-MM-DD")
        p.add_argument("--office", default=DEFAULT_OFFICE, help="the resident register")
        p.add_argument("--event-id", help="retry an event: the id printed when it was filed")
        for opt in _OPTIONS:
            p.add_argument(f"--{opt.replace('_', '-')}")
        p.add_argument("--head", action="store_true", help="the resident becomes the head")
        p.add_argument("--number-file", help="a file holding the move in's individual number")
        _notices(p)
        p.set_defaults(run=register_event, kind=kind)


def add_number_commands(numbers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = numbers.add_parser(
        "change",
        help="個人番号の変更 (番号法 第7条第2項): a new number for a leaked one, at the desk",
    )
    p.add_argument("--local-id", required=True, help="the resident, by the register's own id")
    p.add_argument(
        "--by",
        required=True,
        choices=("request", "ex-officio"),
        help="the resident's request (請求) or the municipality's own motion (職権)",
    )
    p.add_argument("--effective", help="the date of the new number, YYYY-MM-DD (default: today)")
    p.add_argument("--office", default=DEFAULT_OFFICE, help="the resident register")
    p.add_argument("--event-id", help="retry a change: the id printed when it was filed")
    _notices(p)
    p.set_defaults(run=number_change)


def _notices(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--notice-dir",
        help="where a 個人番号通知書 (PDF) is written for the post (default:"
        " <state-dir>/notices/<office>)",
    )


async def number_change(settings: Settings, args: argparse.Namespace) -> int:
    on = args.effective or dt.datetime.now(JST).date().isoformat()
    fields = {"by": args.by.replace("-", "_")}
    filing = parse(NUMBER, args.local_id, on, fields, args.event_id)
    return await _apply(settings, args, filing)


def _fields(args: argparse.Namespace) -> dict[str, str]:
    fields = {f: getattr(args, o) for o, f in _OPTIONS.items() if getattr(args, o)}
    if args.head:
        fields["head"] = "1"
    if args.number_file:
        fields["number"] = Path(args.number_file).read_text()[:64].strip()
    return fields


async def register_event(settings: Settings, args: argparse.Namespace) -> int:
    filing = parse(args.kind, args.local_id, args.effective, _fields(args), args.event_id)
    return await _apply(settings, args, filing)


async def _apply(settings: Settings, args: argparse.Namespace, filing: Filing) -> int:
    _, registry = load_rules(settings)
    if args.office not in registry or "resident_register" not in registry.get(args.office).roles:
        raise CommandError(RENKEI_UNKNOWN_OFFICE, f"{args.office!r} keeps no resident register")
    office = registry.get(args.office)
    municipality = office.municipality
    assert municipality is not None  # a resident register is a municipality's
    folder = Path(args.notice_dir or settings.state_dir / "notices" / args.office)
    notify = _post(folder, f"{office.name_ja.split()[0]}長")
    print(f"event {filing.event_id}: {filing.kind} of {filing.local_id}", file=sys.stderr)
    if settings.broker_url is None:
        print(
            "(no broker configured: the event is applied inside a demo network with its"
            " population, which ends with this command)",
            file=sys.stderr,
        )
        state = State.generate(identities(registry))
        async with await open_network(settings, state) as net:
            await load_population(net, generate(300, seed=1), fiscal_year=2024)
            record = await _file(net, args.office, municipality, filing, notify)
    else:
        if settings.db_url is None:
            raise CommandError(RENKEI_NO_DATABASE, "the register lives in PostgreSQL: pass --db")
        run = [args.office]  # J-LIS runs on its own (`renkei run office jlis`), over 住基ネット
        state = State.load(settings.state_dir, with_juki(registry, run))
        async with await open_network(settings, state, run=run) as net:
            record = await _file(net, args.office, municipality, filing, notify)
    shown = {k: v for k, v in record.items() if k not in _UNSHOWN}
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    told = {"household": "the network", NUMBER: "J-LIS (a new number) and the network"}.get(
        filing.kind, "the network and J-LIS"
    )
    print(f"event {filing.event_id} applied: told to {told}", file=sys.stderr)
    return 0


async def _file(
    net: Network, office: str, municipality: str, filing: Filing, notify: Notifier
) -> dict[str, Any]:
    desk = RegisterDesk(
        net.offices[office], net.stores[office], net.juki[office], municipality, notify
    )
    return await desk.file(filing)


def _post(folder: Path, issuer: str) -> Notifier:
    """The 個人番号通知書 printed for the post: one PDF a notice, readable by its owner only
    (it bears the number), named after the resident's local id and the event."""

    async def notify(notice: NumberNotice) -> None:
        pdf = render_notice(notice.as_dict(), issuer)
        path = folder / f"number-notice-{notice.local_id}-{notice.event_id}.pdf"

        def write() -> None:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pdf)

        await asyncio.to_thread(write)
        print(f"個人番号通知書 written for the post: {path}", file=sys.stderr)

    return notify
