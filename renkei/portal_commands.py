"""The portal's commands: ``renkei portal serve`` (= ``renkei run portal``) on the network, and
``renkei demo --portal``: the whole network, the CA and the portal in one process, with one
demo resident whose card state file the card bridge can use.

``serve`` joins the running network as ``myna-portal`` (it needs RabbitMQ: a portal alone on
an in-process bus would have no hub to ask) and checks logins against the CA's chain in the
state directory and its OCSP responder (as a registered verifier) or its CRLs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from agencies.municipality.in_house import ATENA
from card_service import HttpCa, Pins, Resident, StateKey, issue_to_file
from card_service.desk.register import check_on_register
from hub.log import get_logger
from hub.numbers import resident_record_code
from hub.wire import Facts
from pki import (
    CertificationAuthority,
    RevocationChecker,
    RevocationSource,
    Trust,
)
from pki import create_app as create_pki_app
from pki.ca.office import PKI_OFFICE, CaListener, holder_for
from pki.relying.verify import load_pem_bundle
from portal.model import CertificateChecker
from portal.office import PortalOffice
from portal.web import create_app
from renkei.exceptions import RENKEI_NO_CA, RENKEI_NO_NETWORK, CommandError
from renkei.metrics_http import metrics_arg
from renkei.network import Network, identities, load_rules, open_network
from renkei.pki_checks import PkiLoginCheck, PkiSignatureCheck, local_ca
from renkei.secrets import State
from renkei.serving import heartbeat_arg, until_stopped, web_site
from renkei.settings import Settings

__all__ = ["DEMO_PINS", "PORTAL", "PORTAL_PORT", "add_portal_commands", "portal_demo", "serve"]

PORTAL = "myna-portal"
PORTAL_PORT = 8470  # the portal's HTTP port
DEMO_PINS = Pins(auth="1234", sign="DEMO1234", face="1234")
log = get_logger("renkei.portal")


def portal_app(
    backend: PortalOffice, checker: CertificateChecker, args: argparse.Namespace
) -> web.Application:
    public = args.public_url or f"http://{args.host}:{args.port}"
    return create_app(backend, checker, bridge_url=args.bridge_url, public_origin=public)


async def serve(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.broker_url:
        raise CommandError(
            RENKEI_NO_NETWORK,
            "the portal asks the hub: set RENKEI_BROKER_URL (or try `renkei demo --portal`)",
        )
    chain = Path(args.ca_file) if args.ca_file else settings.state_dir / "pki/certs/chain.pem"
    try:
        trust = Trust.from_bundle(load_pem_bundle(await asyncio.to_thread(chain.read_bytes)))
    except OSError as exc:
        raise CommandError(
            RENKEI_NO_CA, f"{chain}: {exc.strerror} (start `renkei run pki` once)"
        ) from None
    api_key = None
    if args.api_key_file:
        api_key = (await asyncio.to_thread(Path(args.api_key_file).read_text)).strip()
    source = RevocationSource(ocsp_url=args.ocsp_url, api_key=api_key)
    state = State.load(settings.state_dir, [PORTAL])
    async with (
        RevocationChecker() as revocation,  # every session's re-check shares its connections
        await open_network(settings, state, run=[PORTAL]) as net,
    ):
        app = portal_app(net.apps[PORTAL], PkiLoginCheck(trust, source, revocation), args)
        async with web_site(app, args.host, args.port):
            print(
                f"portal: http://{args.host}:{args.port} on {net.bus_name}; "
                f"card bridge expected at {args.bridge_url}; Ctrl-C stops it",
                file=sys.stderr,
            )
            await until_stopped(heartbeat=args.heartbeat)
    return 0


# ---- the demo --------------------------------------------------------------------------------


async def portal_demo(
    settings: Settings, state: State | None, args: argparse.Namespace, out: TextIO = sys.stdout
) -> int:
    """Network + CA + portal in one process, a demo resident with a card; office activity
    every ``args.every`` seconds so the portal's live alerts have something to show."""

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    pki_url = f"http://{args.host}:{args.pki_port}"
    local = local_ca(pki_url)
    ca, trust = local.ca, local.trust
    revocation = RevocationChecker()  # the process's: one HTTP session, CRLs kept
    login = PkiLoginCheck(trust, local.ocsp, revocation)
    signatures = PkiSignatureCheck(trust, RevocationSource(), checker=revocation)  # public CRLs
    table, registry = load_rules(settings)
    state = state or State.generate(identities(registry))
    listener = CaListener(ca)
    async with (  # the CA's web site inside the network: J-LIS's office links what it issues
        revocation,
        await open_network(
            settings,
            state,
            table=table,
            registry=registry,
            listeners={PKI_OFFICE: listener},
            signatures=signatures,
        ) as net,
        web_site(create_pki_app(ca, linked=listener.linked), args.host, args.pki_port),
    ):
        card, tokens = await demo_resident(net, ca, pki_url, Path(args.card))
        async with web_site(portal_app(net.apps[PORTAL], login, args), args.host, args.port):
            public = args.public_url or f"http://{args.host}:{args.port}"
            say(f"renkei demo — portal: {public}  (bus: {net.bus_name} · stores: {net.store_name})")
            say(f"  CA (CRL, OCSP): {pki_url}")
            say(f"  the demo resident's card: {card}")
            port = urlsplit(args.bridge_url).port or 8471
            say(
                f"  start the card bridge:  renkei card bridge --state {card} --port {port}"
                f" --portal {public}"
            )
            say(
                f"  PINs: authentication {DEMO_PINS.auth}, signature password {DEMO_PINS.sign}"
                f" (demo values)"
            )
            say(f"  an office looks at the resident every {args.every:g} s; Ctrl-C stops")
            activity = asyncio.create_task(
                office_activity(net, tokens, args.every, say, args.notice_every)
            )
            try:
                await until_stopped(args.seconds)
            finally:
                activity.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await activity
    return 0


DEMO_RESIDENT = {
    "name": "番号 花子",
    "address": "東京都千代田区麹町一丁目1番1号",
    "birth_date": "1985-04-02",
    "sex": "2",  # JIS X 0303: 1 male, 2 female, 9 not applicable
}
# the demo resident's child (a 子 of their household): a 児童手当 claim filed for them in the
# portal is 認定 (agencies/municipality/child_claims.py)
DEMO_CHILD = {"name": "番号 一郎", "birth_date": "2022-08-08", "sex": "1"}
# a long address (a reserved .example one), as real notices carry: the page must wrap it
DEMO_NOTICE_URL = (
    "https://www.city.chiyoda.example/koho/kurashi/kosodate/teate/jidoteate/"
    "genkyo-kakunin-no-oshirase-reiwa7nendo-jidoteate-shikyu-nitsuite.html"
)
DEMO_INCOME, DEMO_LEVY = 4_820_000, 263_400  # yen: (income − 430,000) × 6 %, to the 100
JST = dt.timezone(dt.timedelta(hours=9))


async def demo_resident(
    net: Network, ca: CertificationAuthority, pki_url: str, card: Path
) -> tuple[Path, dict[str, str]]:
    """Number, register and enroll the demo resident at 千代田区; issue their card."""
    rrc = resident_record_code(f"{uuid.uuid4().int % 10**10:010d}")
    facts = Facts.of(DEMO_RESIDENT)
    number = (await net.apps["jlis"].register({rrc: facts}, municipality="131016"))[rrc]
    offices = ("chiyoda-resident", "chiyoda-child", "chiyoda-tax", "nenkin")
    tokens = {o: await net.offices[o].enroll(number, facts) for o in offices}
    record = {**DEMO_RESIDENT, "household": f"h-{rrc}", "relationship": "世帯主", "rrc": rrc}
    await net.stores["chiyoda-resident"].put_many(
        "residents", [(f"demo-{rrc}", tokens["chiyoda-resident"], record)]
    )
    # 地方税関係情報 for this fiscal year (the levy as agencies/population computes it)
    today = dt.datetime.now(JST).date()
    year = today.year if today.month >= 4 else today.year - 1
    assessed = {"total_income": DEMO_INCOME, "municipal_income_levy": DEMO_LEVY}
    taxpayer = {"name": DEMO_RESIDENT["name"], "years": {str(year): assessed}}
    taxpayer[ATENA] = f"demo-{rrc}"  # the ward's in-house key: its register's record (庁内連携)
    await net.stores["chiyoda-tax"].put_many(
        "taxpayers", [(f"demo-{rrc}", tokens["chiyoda-tax"], taxpayer)]
    )
    child = {k: v for k, v in record.items() if k != "rrc"} | DEMO_CHILD  # not numbered here
    child["relationship"] = "子"
    await net.stores["chiyoda-resident"].put_many("residents", [(f"demo-{rrc}-c", None, child)])
    members = {"head": f"demo-{rrc}", "members": [f"demo-{rrc}", f"demo-{rrc}-c"]}
    await net.stores["chiyoda-resident"].put_many("households", [(f"h-{rrc}", None, members)])
    holder = holder_for(await net.offices[PKI_OFFICE].enroll(number, facts))
    resident = Resident.model_validate(
        {
            "number": number,
            "name": DEMO_RESIDENT["name"],
            "address": DEMO_RESIDENT["address"],
            "birth_date": dt.date.fromisoformat(DEMO_RESIDENT["birth_date"]),
            "sex": DEMO_RESIDENT["sex"],
            "prefecture": "東京都",
            "municipality": "千代田区",
        }
    )
    # the desk checks the applicant against its own register before it issues (番号法 第16条)
    check_on_register(
        resident, await net.stores["chiyoda-resident"].get("residents", f"demo-{rrc}")
    )
    await asyncio.to_thread(card.parent.mkdir, parents=True, exist_ok=True)
    for old in (card, card.with_name(card.name + ".key")):  # a new CA every demo: a new card
        await asyncio.to_thread(old.unlink, missing_ok=True)
    async with aiohttp.ClientSession() as http:
        await issue_to_file(
            card,
            StateKey.beside(card),
            resident,
            DEMO_PINS,
            HttpCa(http, pki_url, ca.operator_token),
            holder=holder,
            code=rrc,
        )
    return card, tokens


async def office_activity(
    net: Network,
    tokens: dict[str, str],
    every: float,
    say: Callable[[str], None],
    notice_every: int = 0,
) -> None:
    """日本年金機構 asks the ward's register for the resident's record now and then (over the
    network: another body; the ward's own offices read it in-house, 庁内連携, and leave no
    access record); 児童手当 sends a notice at the first visit (and then every
    ``notice_every``-th, when given)."""
    child, pension = net.offices["chiyoda-child"], net.offices["nenkin"]
    visits = sent = 0
    while True:
        await asyncio.sleep(every)
        visits += 1
        answer = await pension.ask(
            "national_pension", "chiyoda-resident", ("resident_record",), tokens["nenkin"]
        )
        say(f"  … 日本年金機構 asked 住民記録 for the resident's record: {answer.status}")
        if sent == 0 or (notice_every and visits % notice_every == 0):
            notice = {
                "title": f"児童手当の現況について (child allowance: status check {sent + 1})",
                "body": "世帯の状況を確認しました。手続きは不要です。詳しくは "
                f"{DEMO_NOTICE_URL} をご覧ください。(We checked your household; nothing to do.)",
            }
            outcome = await child.notify(tokens["chiyoda-child"], PORTAL, notice)
            sent += outcome.status == "delivered"


def add_portal_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("portal", help="the resident portal (マイナポータル)")
    psub = p.add_subparsers(dest="action", required=True)
    s = psub.add_parser("serve", help="serve the portal on the network (needs RabbitMQ)")
    web_args(s)
    s.add_argument("--ca-file", help="the JPKI chain (default <state_dir>/pki/certs/chain.pem)")
    s.add_argument("--ocsp-url", help="the CA's OCSP responder (default: CRLs)")
    s.add_argument("--api-key-file", help="the portal's verifier key for OCSP")
    heartbeat_arg(s)
    metrics_arg(s)
    s.set_defaults(run=serve)


def web_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=PORTAL_PORT)
    p.add_argument("--public-url", help="the portal's origin as browsers see it")
    p.add_argument("--bridge-url", default="http://127.0.0.1:8471", help="the card bridge")
