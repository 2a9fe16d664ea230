"""コンビニ交付's commands: ``renkei run issuance-centre`` (the certificate issuance centre on
the network, serving kiosks) and ``renkei certificates verify FILE.pdf``; and the municipal
offices' seals (``seals_on_disk``), which ``renkei run office`` hands to the offices that print."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

from hub.routing import Office
from issuance import IssuanceCentre, IssuanceError
from issuance.api import create_api
from issuance.seal import Seal, ensure, load_root
from issuance.verify import MAX_PDF, verify_pdf
from pki import RevocationChecker, RevocationSource, Trust
from pki.relying.verify import load_pem_bundle
from renkei.exceptions import RENKEI_NO_CA, RENKEI_NO_NETWORK, CommandError
from renkei.network import load_rules, open_network
from renkei.pki_checks import PkiCardCheck, PkiLoginCheck
from renkei.secrets import State
from renkei.serving import until_stopped, web_site
from renkei.settings import Settings

__all__ = [
    "CENTRE",
    "CENTRE_PORT",
    "PRINTED",
    "add_certificates_commands",
    "centre_args",
    "seals_on_disk",
    "serve_centre",
]

CENTRE = "jlis-kofu"
CENTRE_PORT = 8490
PRINTED = frozenset({"resident_certificate", "seal_certificate", "tax_certificate"})


def seals_on_disk(state_dir: Path) -> Callable[[Office], Seal | None]:
    """Each office that answers a certificate its seal, from its folder (made on first use)."""

    def seal_of(office: Office) -> Seal | None:
        if not PRINTED & set(office.provides):
            return None
        return ensure(state_dir, office.code, office.name_ja)

    return seal_of


def centre_args(run: argparse.ArgumentParser) -> None:
    """``renkei run issuance-centre``'s options."""
    run.add_argument("--ca-file", help="issuance-centre: JPKI chain (default the CA's)")
    run.add_argument("--ocsp-url", help="issuance-centre: J-LIS's OCSP responder")
    run.add_argument("--api-key-file", help="issuance-centre: its OCSP verifier key")


def add_certificates_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    certificates = sub.add_parser("certificates", help="コンビニ交付's certificate PDFs")
    csub = certificates.add_subparsers(dest="action", required=True)
    verify = csub.add_parser(
        "verify", help="check a certificate PDF: signature, chain, and its QR code"
    )
    verify.add_argument("file", type=Path)
    verify.add_argument(
        "--ca-file", type=Path, help="the seals' root (default <state_dir>/lgpki/root.pem)"
    )
    verify.set_defaults(run=certificates_verify)
    seals = csub.add_parser(
        "seals", help="make the seals of the offices that print certificates (operator, once)"
    )
    seals.set_defaults(run=certificates_seals)


async def certificates_seals(settings: Settings, args: argparse.Namespace) -> int:
    """Each printing office's 公印 under its folder, and their root (``lgpki/``); kept if there."""
    seal_of = seals_on_disk(settings.state_dir)
    registry = load_rules(settings)[1]
    printing = [o.code for o in registry if seal_of(o) is not None]
    print(f"seals of {', '.join(printing)} under {settings.state_dir} (lgpki/: their root)")
    return 0


async def certificates_verify(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.ca_file:
            roots = load_pem_bundle(await asyncio.to_thread(args.ca_file.read_bytes))
        else:
            roots = [await asyncio.to_thread(load_root, settings.state_dir)]
    except (OSError, ValueError) as exc:
        raise CommandError(RENKEI_NO_CA, f"the seals' root: {exc}") from None
    try:
        with args.file.open("rb") as f:
            pdf = f.read(MAX_PDF + 1)
    except OSError as exc:
        raise CommandError(RENKEI_NO_CA, f"{args.file}: {exc.strerror}") from None
    try:
        verified = await verify_pdf(pdf, roots)
    except IssuanceError as exc:
        print(f"{args.file}: NOT VALID — {exc.code}: {exc}")
        return 1
    kind = verified.data.get("kind", "")
    print(f"{args.file}: valid — {kind} {verified.serial}, signed by {verified.signer}")
    return 0


async def serve_centre(settings: Settings, args: argparse.Namespace) -> int:
    """The centre on the network (office ``jlis-kofu``) and its API for kiosks."""
    if not settings.broker_url:
        raise CommandError(RENKEI_NO_NETWORK, "the centre asks the hub: set RENKEI_BROKER_URL")
    chain = Path(args.ca_file) if args.ca_file else settings.state_dir / "pki/certs/chain.pem"
    try:
        certs: list[x509.Certificate] = load_pem_bundle(await asyncio.to_thread(chain.read_bytes))
    except OSError as exc:
        raise CommandError(RENKEI_NO_CA, f"{chain}: {exc.strerror}") from None
    api_key = None
    if args.api_key_file:
        api_key = (await asyncio.to_thread(Path(args.api_key_file).read_text)).strip()
    source = RevocationSource(ocsp_url=args.ocsp_url, api_key=api_key)
    state = State.load(settings.state_dir, [CENTRE])
    async with (
        RevocationChecker() as revocation,
        await open_network(settings, state, run=[CENTRE]) as net,
    ):
        centre: IssuanceCentre = net.apps[CENTRE]
        centre.check = PkiCardCheck(PkiLoginCheck(Trust.from_bundle(certs), source, revocation))
        port = args.port or CENTRE_PORT
        async with web_site(create_api(centre), args.host, port):
            print(
                f"issuance centre: http://{args.host}:{port} on {net.bus_name}; Ctrl-C stops it",
                file=sys.stderr,
            )
            await until_stopped(heartbeat=args.heartbeat)
    return 0
