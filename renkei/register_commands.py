"""The municipal desk's register events (`renkei register <event> …`): 住民異動 as a clerk
enters it — birth, death, move-out, move-in, name, address, household.

Each runs :class:`agencies.municipality.register_desk.RegisterDesk` as the resident register
``--office`` (default ``chiyoda-resident``): the change event to every holder through the hub,
J-LIS's 本人確認情報 (J-LIS in this process: 住基ネット is not yet a network of its own, issue
17 item 1), the register's record. With ``--broker`` and ``--db`` it acts on the deployment
(the register's and J-LIS's stores in PostgreSQL); with neither, on an embedded network loaded
with the demo's population (300 households, seed 1: residents ``R0000001`` …), which ends with
the command — a move in there is refused, as no move out reached that register before it.

The event id is printed first; give it again (``--event-id``) to retry an event that was not
confirmed: it is applied once. A move in's number is read from a file (``--number-file``),
never from the command line (which other users of the machine can see).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agencies.jlis.registry import Jlis
from agencies.municipality.register_desk import KINDS, Filing, RegisterDesk, parse
from agencies.population.households import generate
from renkei.exceptions import RENKEI_NO_DATABASE, RENKEI_UNKNOWN_OFFICE, CommandError
from renkei.network import Network, identities, load_rules, open_network
from renkei.population.enroll import load_population
from renkei.secrets import State
from renkei.settings import Settings

__all__ = ["add_register_commands"]

DEFAULT_OFFICE = "chiyoda-resident"
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
    }
    for kind in KINDS:
        p = events.add_parser(kind.replace("_", "-"), help=helps[kind.replace("_", "-")])
        p.add_argument("--local-id", required=True, help="the resident, by the register's own id")
        p.add_argument("--effective", required=True, help="異動年月日, YYYY-MM-DD")
        p.add_argument("--office", default=DEFAULT_OFFICE, help="the resident register")
        p.add_argument("--event-id", help="retry an event: the id printed when it was filed")
        for opt in _OPTIONS:
            p.add_argument(f"--{opt.replace('_', '-')}")
        p.add_argument("--head", action="store_true", help="the resident becomes the head")
        p.add_argument("--number-file", help="a file holding the move in's individual number")
        p.set_defaults(run=register_event, kind=kind)


def _fields(args: argparse.Namespace) -> dict[str, str]:
    fields = {f: getattr(args, o) for o, f in _OPTIONS.items() if getattr(args, o)}
    if args.head:
        fields["head"] = "1"
    if args.number_file:
        fields["number"] = Path(args.number_file).read_text()[:64].strip()
    return fields


async def register_event(settings: Settings, args: argparse.Namespace) -> int:
    filing = parse(args.kind, args.local_id, args.effective, _fields(args), args.event_id)
    _, registry = load_rules(settings)
    if args.office not in registry or "resident_register" not in registry.get(args.office).roles:
        raise CommandError(RENKEI_UNKNOWN_OFFICE, f"{args.office!r} keeps no resident register")
    municipality = registry.get(args.office).municipality
    assert municipality is not None  # a resident register is a municipality's
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
            record = await _file(net, args.office, municipality, filing)
    else:
        if settings.db_url is None:
            raise CommandError(RENKEI_NO_DATABASE, "the register lives in PostgreSQL: pass --db")
        run = [args.office, "jlis"]
        async with await open_network(
            settings, State.load(settings.state_dir, run), run=run
        ) as net:
            record = await _file(net, args.office, municipality, filing)
    shown = {k: v for k, v in record.items() if k not in ("rrc", "seal", "event")}
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    told = "the network" if filing.kind == "household" else "the network and J-LIS"
    print(f"event {filing.event_id} applied: told to {told}", file=sys.stderr)
    return 0


async def _file(net: Network, office: str, municipality: str, filing: Filing) -> dict[str, Any]:
    jlis: Jlis = net.apps["jlis"]
    desk = RegisterDesk(net.offices[office], net.stores[office], jlis, municipality)
    return await desk.file(filing)
