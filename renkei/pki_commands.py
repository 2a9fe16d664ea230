"""The PKI's commands: ``renkei pki serve|issue|event|revoke|verifier``, ``renkei sign``,
``renkei verify``.

``pki serve`` runs the certification authority (state under ``<state_dir>/pki``, made on first
start); the other ``pki`` subcommands talk to a running one over HTTP with the operator token
from that state directory. ``sign`` and ``verify`` are a resident's and a verifier's tools.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pki import (
    CertificationAuthority,
    Endpoints,
    Malformed,
    PkiError,
    RevocationSource,
    Trust,
    create_app,
    sign_document,
    verify_signed,
)
from pki.ca.office import PKI_OFFICE, CaListener
from pki.exceptions import PKI_HTTP
from pki.relying.verify import issued_by, load_pem_bundle
from renkei.exceptions import RENKEI_NO_CA, CommandError
from renkei.metrics_http import metrics_arg
from renkei.network import load_rules, open_network, with_juki
from renkei.secrets import State
from renkei.serving import heartbeat_arg, until_stopped, web_site
from renkei.settings import Settings

__all__ = ["PKI_PORT", "add_pki_commands"]

PKI_PORT = 8440  # the CA's HTTP port
DEFAULT_URL = f"http://127.0.0.1:{PKI_PORT}"


def _pki_dir(settings: Settings) -> Path:
    return settings.state_dir / "pki"


def _read(path: str | Path) -> bytes:
    """Small local files: a CLI may block for them."""
    return Path(path).read_bytes()


def _write(path: str | Path, data: bytes) -> None:
    Path(path).write_bytes(data)


async def serve(settings: Settings, args: argparse.Namespace) -> int:
    public = args.public_url or f"http://{args.host}:{args.port}"
    interval = dt.timedelta(seconds=args.crl_interval)
    ca = CertificationAuthority.open(_pki_dir(settings), Endpoints(public), interval)
    network, listener = None, CaListener(ca)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if settings.broker_url:  # on the network as jlis-pki; on 住基ネット, J-LIS's notices
                own = with_juki(load_rules(settings)[1], [PKI_OFFICE])  # and juki-jlis-pki
                state = State.load(settings.state_dir, own)
                network = await open_network(
                    settings, state, run=[PKI_OFFICE], listeners={PKI_OFFICE: listener}
                )
                stack.push_async_callback(network.aclose)
            # the web site inside the network: it answers only while J-LIS's office has its
            # store (a link written before it would be in memory only) and hears of certificates
            app = create_app(ca, linked=listener.linked)
            await stack.enter_async_context(web_site(app, args.host, args.port))
            joined = f"; on {network.bus_name} as {PKI_OFFICE}" if network else ""
            print(
                f"pki: CA serving on http://{args.host}:{args.port} (state {_pki_dir(settings)})"
                f"{joined}; Ctrl-C stops it",
                file=sys.stderr,
            )
            await until_stopped(heartbeat=args.heartbeat)
    finally:
        ca.close()
    return 0


async def _call(settings: Settings, url: str, method: str, path: str, body: Any = None) -> Any:
    token = _read(_pki_dir(settings) / "operator-token").decode().strip()
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, url.rstrip("/") + path, json=body, headers=headers) as r,
    ):
        data = await r.json(content_type=None)
        if r.status >= 400:
            err = PkiError(data.get("message", f"HTTP {r.status}"))
            err.code = data.get("code", PKI_HTTP)
            raise err
        return data


async def issue(settings: Settings, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "kind": args.kind,
        "public_key": _read(args.public_key).decode(),
        "holder": args.holder,
        "prefecture": args.prefecture,
        "municipality": args.municipality,
    }
    if args.facts:
        body["facts"] = json.loads(_read(args.facts))
    out = await _call(settings, args.url, "POST", "/certificates", body)
    _write(args.out, out["certificate"].encode())
    print(f"{out['ca']} certificate {out['serial']} until {out['not_after']} → {args.out}")
    return 0


async def event(settings: Settings, args: argparse.Namespace) -> int:
    at = args.at or dt.datetime.now(dt.UTC).isoformat()
    body = {"kind": args.kind, "holder": args.holder, "at": at}
    out = await _call(settings, args.url, "POST", "/events", body)
    for r in out["revoked"]:
        print(f"revoked {r['ca']} {r['serial']} ({r['reason']})")
    print(f"{len(out['revoked'])} certificate(s) revoked")
    return 0


async def revoke(settings: Settings, args: argparse.Namespace) -> int:
    body = {"ca": args.ca, "serial": args.serial, "reason": args.reason}
    out = await _call(settings, args.url, "POST", "/revocations", body)
    print(f"revoked {out['revoked'][0]['ca']} {out['revoked'][0]['serial']}")
    return 0


async def verifier_add(settings: Settings, args: argparse.Namespace) -> int:
    body = {"name": args.name, "kind": args.kind, "roles": args.role, "licence": args.licence}
    out = await _call(settings, args.url, "POST", "/verifiers", body)
    print(f"verifier {out['id']} registered ({out['kind']}, {', '.join(out['roles'])})")
    print(f"API key (shown once): {out['api_key']}")
    return 0


async def sign(settings: Settings, args: argparse.Namespace) -> int:
    password = _read(args.key_password_file).strip() if args.key_password_file else None
    try:
        key = serialization.load_pem_private_key(_read(args.key), password)
        cert = x509.load_pem_x509_certificate(_read(args.cert))
    except (ValueError, TypeError) as exc:
        raise Malformed(f"cannot load the key or certificate: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise Malformed("the key must be RSA or ECDSA")
    if key.public_key() != cert.public_key():
        raise Malformed("the key does not match the certificate")
    ca_file = Path(args.ca_file) if args.ca_file else _pki_dir(settings) / "certs/chain.pem"
    try:
        bundle = load_pem_bundle(_read(ca_file))
    except FileNotFoundError:
        raise CommandError(
            RENKEI_NO_CA,
            f"{ca_file}: no such file; give --ca-file with the issuing CA's certificate "
            "(the CA serves its chain at /ca/chain.pem)",
        ) from None
    issuing = issued_by(cert, bundle)  # included: a relying party trusting the root finds it
    out = Path(args.out or f"{args.file}.p7s")
    signed = sign_document(_read(args.file), cert, key, chain=[issuing], detached=args.detached)
    _write(out, signed)
    print(f"signed {args.file} → {out} ({'detached' if args.detached else 'attached'})")
    return 0


async def verify(settings: Settings, args: argparse.Namespace) -> int:
    ca_file = Path(args.ca_file) if args.ca_file else _pki_dir(settings) / "certs/chain.pem"
    trust = Trust.from_bundle(load_pem_bundle(_read(ca_file)))
    api_key = _read(args.api_key_file).decode().strip() if args.api_key_file else None
    source = RevocationSource(
        crl=_read(args.crl) if args.crl else None,
        ocsp_url=args.ocsp,
        api_key=api_key,
    )
    document = _read(args.document) if args.document else None
    at = dt.datetime.fromisoformat(args.at) if args.at else None
    v = await verify_signed(_read(args.file), document, trust, source, now=at)
    sex = {"1": "male", "2": "female", "9": "not applicable"}[v.facts.sex.value]
    print("signature OK")
    print(f"name:       {v.facts.name}" + (f" ({v.facts.name_alt})" if v.facts.name_alt else ""))
    print(f"address:    {v.facts.address}")
    print(f"birth date: {v.facts.birth_date.isoformat()}")
    print(f"sex:        {sex}")
    print(f"signed at:  {v.signing_time.isoformat()}")
    print(f"certificate CN={v.subject_id}, serial {v.serial:x}, issued by {v.issuer}")
    for note in v.notes:
        print(f"note: {note}")
    return 0


def add_pki_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the PKI's subcommands on the `renkei` parser."""
    _add_pki(sub)
    _add_sign_verify(sub)


def _add_pki(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    pki = sub.add_parser("pki", help="the JPKI certification authority")
    psub = pki.add_subparsers(dest="action", required=True)
    p = psub.add_parser("serve", help="run the CA: CRLs, OCSP, issuance, revocation")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=PKI_PORT)
    p.add_argument("--public-url", help="base URL written into certificates")
    p.add_argument("--crl-interval", type=float, default=3600.0, help="seconds between CRLs")
    heartbeat_arg(p)
    metrics_arg(p)
    p.set_defaults(run=serve)

    def client(name: str, help_: str) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = psub.add_parser(name, help=help_)
        c.add_argument("--url", default=DEFAULT_URL, help=f"the CA (default {DEFAULT_URL})")
        return c

    p = client("issue", "issue a certificate for a public key")
    p.add_argument("--kind", choices=["signature", "authentication"], required=True)
    p.add_argument("--public-key", required=True, help="PEM public key file")
    p.add_argument("--holder", required=True, help="the desk's opaque id of the resident")
    p.add_argument("--prefecture", required=True)
    p.add_argument("--municipality", required=True)
    p.add_argument("--facts", help="JSON file of the four facts (signature only)")
    p.add_argument("--out", required=True, help="where to write the certificate (PEM)")
    p.set_defaults(run=issue)
    p = client("event", "apply a resident-register change")
    p.add_argument("--kind", choices=["moved", "died", "card_lost", "name_changed"], required=True)
    p.add_argument("--holder", required=True)
    p.add_argument("--at", help="when it took effect, ISO 8601 with offset (default now)")
    p.set_defaults(run=event)
    p = client("revoke", "revoke one certificate at the resident's request")
    p.add_argument("--ca", choices=["signature", "authentication"], required=True)
    p.add_argument("--serial", required=True, help="hex")
    p.add_argument("--reason", choices=["key_compromise", "cessation_of_operation", "superseded"])
    p.set_defaults(run=revoke, reason="cessation_of_operation")
    verifier = psub.add_parser("verifier", help="the verifier registry")
    p = verifier.add_subparsers(dest="verb", required=True).add_parser("add", help="register")
    p.add_argument("--url", default=DEFAULT_URL)
    p.add_argument("--name", required=True)
    p.add_argument("--kind", choices=["public", "private"], required=True)
    p.add_argument("--role", action="append", choices=["signature", "authentication"])
    p.add_argument("--licence", help="licence number (private verifiers)")
    p.set_defaults(run=verifier_add, role=None)


def _add_sign_verify(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("sign", help="sign a document (CMS SignedData, .p7s)")
    s.add_argument("--key", required=True, help="PEM private key")
    s.add_argument("--key-password-file")
    s.add_argument("--cert", required=True, help="PEM signature certificate")
    s.add_argument(
        "--ca-file", help="PEM bundle holding its issuing CA (default <state>/pki/certs/chain.pem)"
    )
    s.add_argument("--detached", action="store_true", help="leave the document out")
    s.add_argument("-o", "--out", help="default FILE.p7s")
    s.add_argument("file")
    s.set_defaults(run=sign)

    v = sub.add_parser("verify", help="verify a signed application and show who signed it")
    v.add_argument("file", help="the .p7s")
    v.add_argument("--document", help="the signed document, for a detached signature")
    v.add_argument("--ca-file", help="PEM roots and CAs (default <state>/pki/certs/chain.pem)")
    v.add_argument("--crl", help="a CRL file (default: fetch the certificate's CRL)")
    v.add_argument("--ocsp", help="ask this OCSP responder instead (registered verifiers)")
    v.add_argument("--api-key-file", help="the verifier's API key, for --ocsp")
    v.add_argument("--at", help="verify as of this time (ISO 8601 with offset)")
    v.set_defaults(run=verify)
