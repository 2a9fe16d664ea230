"""The card's commands (`renkei card …`): issue at the desk, emulate, and use a card.

``issue`` makes a card state file (a blank card personalized through its own APDUs, the
certificates from ``renkei pki serve`` over HTTP with the operator token of this state
directory). ``emulate`` puts that card in the vpcd virtual reader. ``info``, ``cert``,
``sign``, ``read-text`` and ``change-pin`` use a card: in a reader through PC/SC, or — with
``--state FILE``, or when no reader holds a card — the card state file run in this process
(the embedded default ``<state_dir>/card/card.state``); they say which on stderr.
``bridge`` serves the card to a resident portal on localhost (``card_service.bridge.app``),
choosing the card the same way (:func:`card_session`) for each operation.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import getpass
import json
import re
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from card_service import (
    DEFAULT_CA_URL,
    DEFAULT_PORT,
    CardClient,
    HttpCa,
    LocalTransport,
    PinFormatError,
    Pins,
    Resident,
    StateFileError,
    StateKey,
    Transport,
    VpcdLink,
    issue_to_file,
    jpki,
    open_card,
)
from card_service.bridge.app import DEFAULT_PORT as BRIDGE_PORT
from card_service.bridge.app import LOOPBACK, create_bridge_app
from card_service.desk.register import check_on_register
from hub.node import PgStore
from pki.cms import sign_document_with
from renkei.exceptions import (
    RENKEI_BAD_PARAM,
    RENKEI_NO_DATABASE,
    RENKEI_UNKNOWN_OFFICE,
    CommandError,
)
from renkei.network import load_rules
from renkei.serving import until_stopped, web_site
from renkei.settings import Settings

__all__ = ["add_card_commands", "card_session", "which_card_args"]

DEFAULT_PORTAL = "http://127.0.0.1:8470"
LOCAL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

PIN_LABELS = {"auth": "authentication PIN", "sign": "signature PIN", "face": "card-face PIN"}


def _default_state(settings: Settings) -> Path:
    return settings.state_dir / "card" / "card.state"


def _key_for(args: argparse.Namespace) -> Callable[[Path], StateKey]:
    def key(path: Path) -> StateKey:
        if args.password_file:
            return StateKey(password=Path(args.password_file).read_bytes().strip())
        if args.key_file:
            return StateKey(key_file=Path(args.key_file))
        return StateKey.beside(path)

    return key


def _pin(args: argparse.Namespace, kind: str, attr: str = "pin_file", prompt: str = "") -> str:
    path = getattr(args, attr, None)
    if path:
        lines = Path(path).read_text().splitlines()
        return lines[0].strip() if lines else ""
    return getpass.getpass(prompt or f"{PIN_LABELS[kind]}: ")


def _open(settings: Settings, args: argparse.Namespace) -> Transport:
    state = Path(args.state) if args.state else None
    transport, note = open_card(
        reader=args.reader,
        state=state,
        default_state=_default_state(settings),
        key_for=_key_for(args),
    )
    print(f"card: {note}", file=sys.stderr)
    return transport


@contextlib.contextmanager
def card_session(settings: Settings, args: argparse.Namespace) -> Iterator[CardClient]:
    """The card the options choose (``--reader``, ``--state``, else the first reader holding a
    card, else the default state file), open for one use; the choice is said on stderr."""
    transport = _open(settings, args)
    try:
        yield CardClient(transport)
    finally:
        transport.close()


def _with_card(
    settings: Settings, args: argparse.Namespace, use: Callable[[CardClient], int]
) -> int:
    with card_session(settings, args) as client:
        return use(client)


# -- the desk ---------------------------------------------------------------------------------


def _issue_pins(args: argparse.Namespace) -> Pins:
    if args.pins:
        doc = json.loads(Path(args.pins).read_text())
        return Pins(auth=str(doc["auth"]), sign=str(doc["sign"]), face=str(doc["face"]))
    chosen: dict[str, str] = {}
    for kind in ("auth", "sign", "face"):
        first = getpass.getpass(f"resident's new {PIN_LABELS[kind]}: ")
        if getpass.getpass("again: ") != first:
            raise PinFormatError(f"the two {PIN_LABELS[kind]}s differ")
        chosen[kind] = first
    return Pins(**chosen)


async def _register_record(
    settings: Settings, office: str, local_id: str
) -> Mapping[str, Any] | None:
    """The record ``office``'s resident register keeps under ``local_id`` (None: none): the
    municipality's own register, read by its own desk (庁内), from PostgreSQL."""
    _, registry = load_rules(settings)
    if office not in registry or "resident_register" not in registry.get(office).roles:
        raise CommandError(RENKEI_UNKNOWN_OFFICE, f"{office!r} keeps no resident register")
    if not LOCAL_ID.fullmatch(local_id):
        raise CommandError(
            RENKEI_BAD_PARAM, "--local-id: the register's own id (1–64 letters, digits, - or _)"
        )
    if not settings.db_url:
        raise CommandError(
            RENKEI_NO_DATABASE,
            "the desk checks the resident register, which is kept in PostgreSQL: pass --db",
        )
    pool = await asyncpg.create_pool(settings.db_url, min_size=1, max_size=1)
    try:
        return await PgStore(pool, office).get("residents", local_id)
    except asyncpg.UndefinedTableError:
        raise CommandError(
            RENKEI_NO_DATABASE, f"no store of {office} in this database: run `renkei db migrate`"
        ) from None
    finally:
        await pool.close()


def _prepare_issue(
    settings: Settings, args: argparse.Namespace, resident: Resident
) -> tuple[Pins, Path, str]:
    path = Path(args.state) if args.state else _default_state(settings)
    if path.exists():
        raise StateFileError(f"{path} exists: refusing to overwrite a card")
    token_file = settings.state_dir / "pki" / "operator-token"
    try:
        token = token_file.read_text().strip()
    except FileNotFoundError:
        raise StateFileError(
            f"no CA operator token at {token_file}: run `renkei pki serve` with this state dir"
        ) from None
    return _issue_pins(args), path, token


async def issue(settings: Settings, args: argparse.Namespace) -> int:
    """The desk: the applicant checked against the register (``--register``, ``--local-id``:
    on it, the four facts its own), then the card issued."""
    resident = Resident.from_json(await asyncio.to_thread(Path(args.resident).read_bytes))
    record = await _register_record(settings, args.register, args.local_id)
    check_on_register(resident, record)
    code = record.get("rrc") if record is not None else None  # the 住民票コード, for the CA
    pins, path, token = _prepare_issue(settings, args, resident)
    async with aiohttp.ClientSession() as http:
        ca = HttpCa(http, args.url, token)
        key = _key_for(args)(path)
        issued, serial = await issue_to_file(
            path,
            key,
            resident,
            pins,
            ca,
            holder=args.holder,
            code=code if isinstance(code, str) else None,
        )
    print(f"card issued → {path} (holder {issued.holder}, card serial {serial})")
    print(f"authentication certificate {issued.auth_serial:x}: {issued.auth_subject}")
    print(f"signature certificate {issued.sign_serial:x}: {issued.sign_subject}")
    print(f"signature certificate valid until {issued.not_after}")
    return 0


async def emulate(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.state) if args.state else _default_state(settings)
    local = LocalTransport.open(path, _key_for(args)(path))
    link = VpcdLink(local.card, args.host, args.port, quickack=not args.no_quickack)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.to_thread(link.connect, args.wait)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, link.stop)
        print(
            f"card: {path} is in the virtual reader at {args.host}:{args.port}; "
            "Ctrl-C pulls it out",
            file=sys.stderr,
        )
        await asyncio.to_thread(link.serve)
    finally:
        local.close()
    print(f"card: pulled out after {link.apdus} APDUs", file=sys.stderr)
    return 0


# -- the resident -----------------------------------------------------------------------------


def _info(settings: Settings, args: argparse.Namespace) -> int:
    def show(client: CardClient) -> int:
        i = jpki.info(client)
        print(f"reader:       {i.reader}")
        print(f"ATR:          {i.atr.hex(' ').upper()}")
        print(f"applications: {', '.join(i.applications) or 'none'}")
        if i.token is not None:
            print(f"token:        {i.token}")
        for label, left in i.tries.items():
            print(f"{label}: {f'{left} tries left' if left else 'BLOCKED'}")
        for label, subject in i.subjects.items():
            print(f"{label}: {subject}")
        return 0

    return _with_card(settings, args, show)


def _cert(settings: Settings, args: argparse.Namespace) -> int:
    def read(client: CardClient) -> int:
        pin = _pin(args, "sign") if args.key == "sign" else None
        der = jpki.read_certificate(client, args.key, pin)
        pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        if args.out:
            Path(args.out).write_bytes(pem)
            print(f"{args.key} certificate → {args.out}", file=sys.stderr)
        else:
            sys.stdout.write(pem.decode())
        return 0

    return _with_card(settings, args, read)


def _sign(settings: Settings, args: argparse.Namespace) -> int:
    data = Path(args.file).read_bytes()

    def sign(client: CardClient) -> int:
        signature = jpki.sign(client, args.key, _pin(args, args.key), data)
        if args.out:
            Path(args.out).write_bytes(signature)
            print(f"signature → {args.out}", file=sys.stderr)
        print(base64.b64encode(signature).decode())
        return 0

    return _with_card(settings, args, sign)


def _read_text(settings: Settings, args: argparse.Namespace) -> int:
    def read(client: CardClient) -> int:
        text = jpki.read_text(client, _pin(args, "face"))
        b = text.birth_date
        print(f"number:     {text.number}")
        print(f"name:       {text.name}")
        print(f"address:    {text.address}")
        print(f"birth date: {b[:4]}-{b[4:6]}-{b[6:]}")
        print(f"sex:        {text.sex_text}")
        return 0

    return _with_card(settings, args, read)


def _change_pin(settings: Settings, args: argparse.Namespace) -> int:
    def change(client: CardClient) -> int:
        old = _pin(args, args.key, prompt=f"current {PIN_LABELS[args.key]}: ")
        new = _pin(args, args.key, "new_pin_file", f"new {PIN_LABELS[args.key]}: ")
        if not args.new_pin_file and getpass.getpass("again: ") != new:
            raise PinFormatError("the two new PINs differ")
        jpki.change_pin(client, args.key, old, new)
        print(f"{PIN_LABELS[args.key]} changed")
        return 0

    return _with_card(settings, args, change)


async def bridge(settings: Settings, args: argparse.Namespace) -> int:
    portals = args.portal or [DEFAULT_PORTAL]
    app = create_bridge_app(
        functools.partial(card_session, settings, args),
        portal_origins=portals,
        sign_cms=sign_document_with,
        hosts=(*LOOPBACK, args.host),
    )
    if args.host not in LOOPBACK:
        print(f"card: warning: {args.host} is not this machine's loopback", file=sys.stderr)
    async with web_site(app, args.host, args.port):
        print(
            f"card: bridge on http://{args.host}:{args.port} for {', '.join(portals)}; "
            "Ctrl-C stops it",
            file=sys.stderr,
        )
        await until_stopped()
    return 0


def _threaded(
    fn: Callable[[Settings, argparse.Namespace], int],
) -> Callable[[Settings, argparse.Namespace], Any]:
    async def run(settings: Settings, args: argparse.Namespace) -> int:
        return await asyncio.to_thread(fn, settings, args)

    return run


# -- the parser -------------------------------------------------------------------------------


def _state_key_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--key-file", help="the state file's key (default FILE.key beside it)")
    g.add_argument("--password-file", help="protect/open the state with a password instead")


def which_card_args(p: argparse.ArgumentParser) -> None:
    """The options of :func:`card_session`."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--reader", help="PC/SC reader (default: the first with a card)")
    where.add_argument("--state", help="no reader: run this card state file in-process")
    _state_key_args(p)


def add_card_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `renkei card …` on the `renkei` parser."""
    card = sub.add_parser("card", help="the individual number card: issue, emulate, use")
    csub = card.add_subparsers(dest="action", required=True)

    p = csub.add_parser(
        "issue",
        help="issue a card at the municipal desk, to a resident on its register (needs `pki"
        " serve` and --db)",
    )
    p.add_argument("--resident", required=True, help="JSON: number, name, address, birth_date…")
    p.add_argument(
        "--register",
        required=True,
        metavar="OFFICE",
        help="the municipality's resident register (e.g. chiyoda-resident): the applicant must"
        " be on it, with its four facts",
    )
    p.add_argument(
        "--local-id", required=True, metavar="ID", help="the register's id for the resident"
    )
    p.add_argument("--state", help="card state file to create (default <state_dir>/card/…)")
    p.add_argument("--pins", help='JSON {"auth", "sign", "face"} (default: asked)')
    p.add_argument("--holder", help="the desk's opaque reference (default: random)")
    p.add_argument("--url", default=DEFAULT_CA_URL, help=f"the CA (default {DEFAULT_CA_URL})")
    _state_key_args(p)
    p.set_defaults(run=issue)

    p = csub.add_parser("emulate", help="put a card state in the vpcd virtual reader")
    p.add_argument("--state", help="card state file (default <state_dir>/card/card.state)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="vpcd slot port (35963)")
    p.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the reader")
    p.add_argument("--no-quickack", action="store_true", help="measure without TCP_QUICKACK")
    _state_key_args(p)
    p.set_defaults(run=emulate)

    def client(name: str, help_: str, fn: Callable[[Settings, argparse.Namespace], int]) -> Any:
        c: argparse.ArgumentParser = csub.add_parser(name, help=help_)
        which_card_args(c)
        c.set_defaults(run=_threaded(fn))
        return c

    client("info", "reader, ATR, applications, PIN tries, certificates", _info)
    p = client("cert", "export a certificate (PEM)", _cert)
    p.add_argument("--key", choices=["auth", "sign"], required=True)
    p.add_argument("--pin-file", help="the signature PIN (sign only; default: asked)")
    p.add_argument("-o", "--out", help="PEM file (default stdout)")
    p = client("sign", "sign a file with the card (RSA PKCS#1 v1.5, SHA-256)", _sign)
    p.add_argument("--key", choices=["auth", "sign"], required=True)
    p.add_argument("--pin-file", help="file whose first line is the PIN (default: asked)")
    p.add_argument("-o", "--out", help="also write the raw signature here")
    p.add_argument("file")
    p = client("read-text", "the number and the four facts (card-face PIN)", _read_text)
    p.add_argument("--pin-file", help="file whose first line is the PIN (default: asked)")
    p = client("change-pin", "change a PIN (the current one first)", _change_pin)
    p.add_argument("--key", choices=["auth", "sign", "face"], required=True)
    p.add_argument("--pin-file", help="the current PIN (default: asked)")
    p.add_argument("--new-pin-file", help="the new PIN (default: asked twice)")

    p = csub.add_parser("bridge", help="serve the card to a resident portal on localhost")
    p.add_argument("--host", default="127.0.0.1", help="listen here (default 127.0.0.1 only)")
    p.add_argument("--port", type=int, default=BRIDGE_PORT, help=f"(default {BRIDGE_PORT})")
    p.add_argument(
        "--portal",
        action="append",
        metavar="ORIGIN",
        help=f"a portal origin allowed to use the bridge (repeatable; default {DEFAULT_PORTAL})",
    )
    which_card_args(p)
    p.set_defaults(run=bridge)
