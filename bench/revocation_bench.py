#!/usr/bin/env python3
"""Revocation checks per second: before and after the shared ``RevocationChecker``, side by side.

    .venv/bin/python bench/revocation_bench.py              # about a minute
    .venv/bin/python bench/revocation_bench.py --quick      # smoke run

The CA's app serves in its own process (uvloop), its signature CRL holding ``--revoked``
entries (10,000 by default, about 0.5 MB). This process checks ``--concurrency`` certificates
at a time, for ``--seconds`` per variant, the variants interleaved, best of ``--repeat``:

1. An office checking signed applications by CRL.
   before: what ``revocation_status`` did until issue 20 — a new HTTP session (a new TCP
   connection) for each check, the whole CRL downloaded, parsed, its signature checked and
   searched; after: one ``RevocationChecker`` for the process — the CRL fetched, checked and
   read once, kept until its nextUpdate.
2. The portal re-checking logins by OCSP (a registered verifier), each check about another
   certificate, so no answer is ever reused: before, a new connection for each; after, the
   shared session's kept-alive connections. Then the same certificate again and again within
   ``OCSP_TTL``: the answers kept (an upper bound; the portal re-checks a session only every
   5 s, past the 2 s TTL).

Every check's answer is verified (status good). Ratios only: the machines are shared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import multiprocessing as mp
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

import aiohttp
import structlog
import uvloop
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pki import (
    CaName,
    CertificationAuthority,
    CertKind,
    Endpoints,
    Hierarchy,
    Locality,
    ResidentFacts,
    RevocationChecker,
    RevocationSource,
    Sex,
    VerifierKind,
    create_app,
)
from pki.ca.crl import RevocationStatus, load_crl
from pki.ca.ledger import CertRecord, RevocationRecord
from pki.relying.client import OCSP_TTL, crl_url_of, fetch
from pki.relying.status import check_ocsp_response, ocsp_request

PLACE = Locality("Tokyo-to", "Chiyoda-ku")
FACTS = ResidentFacts("番号 太郎", "東京都千代田区永田町1-7-1", dt.date(1975, 4, 1), Sex.MALE)
Check = Callable[[int], Awaitable[RevocationStatus]]


def quiet() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _serve(ca: CertificationAuthority, sock: socket.socket, ready: Connection) -> None:
    quiet()

    async def serve() -> None:
        runner = web.AppRunner(create_app(ca), access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        ready.send(True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve())


async def _before(
    cert: x509.Certificate, issuer: x509.Certificate, source: RevocationSource, now: dt.datetime
) -> RevocationStatus:
    """The relying party's look-up as it was before issue 20: ``revocation_status`` in the
    session of its own that ``verify_signed`` opened and closed around each check, and
    ``check_crl`` as it was (issuer, signature, nextUpdate, a search of the entries)."""
    async with aiohttp.ClientSession() as session:
        if source.ocsp_url is not None:
            der, nonce = ocsp_request(cert, issuer)
            headers = {
                "Content-Type": "application/ocsp-request",
                "Authorization": f"Bearer {source.api_key}",
            }
            body = await fetch(session, source.ocsp_url, data=der, headers=headers)
            return check_ocsp_response(body, cert, issuer, nonce, now)
        crl = load_crl(await fetch(session, crl_url_of(cert)))
    assert crl.issuer == issuer.subject
    assert crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    assert crl.next_update_utc is not None
    assert crl.next_update_utc > now
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    return RevocationStatus(None if entry is None else entry.revocation_date_utc)


async def _rate(check: Check, seconds: float, concurrency: int) -> float:
    done = 0
    end = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        nonlocal done
        i = w
        while time.perf_counter() < end:
            status = await check(i)
            assert status.revoked_at is None
            done += 1
            i += concurrency

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return done / (time.perf_counter() - t0)


@dataclass(frozen=True)
class Setup:
    """What the checks need, made before the server process forks off with the CA."""

    url: str
    now: dt.datetime
    sig_ca: x509.Certificate
    auth_ca: x509.Certificate
    signers: list[x509.Certificate]  # signature certificates: an office checks by CRL
    logins: list[x509.Certificate]  # authentication certificates: the portal checks by OCSP
    api_key: str


def _ca(revoked: int) -> tuple[CertificationAuthority, socket.socket, Setup]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    now = dt.datetime.now(dt.UTC)
    hierarchy = Hierarchy.generate(now - dt.timedelta(days=1))
    ca = CertificationAuthority(hierarchy, holder_key=os.urandom(32), endpoints=Endpoints(url))
    for _ in range(revoked):  # straight into the ledger: one CRL built at the end
        serial = x509.random_serial_number()
        ca.ledger.add(CertRecord(CaName.SIGNATURE, serial, "h", now, now))
        ca.ledger.revoke(
            RevocationRecord(CaName.SIGNATURE, serial, x509.ReasonFlags.superseded, now, None)
        )
    ca.refresh_crls()
    keys = [ec.generate_private_key(ec.SECP256R1()).public_key() for _ in range(200)]
    _, api_key = ca.verifiers.register(
        "マイナポータル", VerifierKind.PUBLIC, frozenset({CertKind.AUTHENTICATION}), None, now
    )
    setup = Setup(
        url,
        now,
        hierarchy.cas[CaName.SIGNATURE].cert,
        hierarchy.cas[CaName.AUTHENTICATION].cert,
        [
            ca.issue(CertKind.SIGNATURE, k, f"card-{i}", PLACE, FACTS).certificate
            for i, k in enumerate(keys[:50])
        ],
        [
            ca.issue(CertKind.AUTHENTICATION, k, f"card-{i}", PLACE).certificate
            for i, k in enumerate(keys)
        ],
        api_key,
    )
    return ca, sock, setup


async def _measure(
    s: Setup, repeat: int, seconds: float, concurrency: int
) -> dict[str, list[float]]:
    crl = RevocationSource()
    ocsp = RevocationSource(ocsp_url=f"{s.url}/ocsp", api_key=s.api_key)
    n = len(s.logins)
    runs: dict[str, list[float]] = {}
    async with RevocationChecker() as shared:
        variants: dict[str, Check] = {
            "crl before": lambda i: _before(s.signers[i % 50], s.sig_ca, crl, s.now),
            "crl after": lambda i: shared.status(s.signers[i % 50], s.sig_ca, crl, s.now),
            "ocsp before": lambda i: _before(s.logins[i % n], s.auth_ca, ocsp, s.now),
            # each round over the certificates a TTL later: no answer kept from the one before
            "ocsp after": lambda i: shared.status(
                s.logins[i % n], s.auth_ca, ocsp, s.now + (i // n + 1) * OCSP_TTL
            ),
            "ocsp kept": lambda i: shared.status(s.logins[0], s.auth_ca, ocsp, s.now),
        }
        for _ in range(repeat):
            for name, check in variants.items():
                runs.setdefault(name, []).append(await _rate(check, seconds, concurrency))
    return runs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--revoked", type=int, default=10_000)
    a = p.parse_args()
    repeat, seconds = (1, 1.0) if a.quick else (a.repeat, a.seconds)
    revoked = 1000 if a.quick else a.revoked
    quiet()
    ca, sock, setup = _ca(revoked)
    crl_size = len(ca.crl_bytes(CaName.SIGNATURE, serialization.Encoding.DER))
    parent, child = mp.Pipe()
    server = mp.get_context("fork").Process(target=_serve, args=(ca, sock, child))
    server.start()
    parent.recv()
    try:
        runs = asyncio.run(_measure(setup, repeat, seconds, a.concurrency))
    finally:
        server.kill()
        server.join()
    best = {name: max(rates) for name, rates in runs.items()}
    print(f"revocation_bench: {os.cpu_count()} CPUs, {a.concurrency} in flight, best of {repeat}")
    print(f"1. an office, by CRL ({revoked:,} entries, {crl_size:,} bytes)")
    print(f"   before: a connection and the whole CRL each: {best['crl before']:>9,.0f} /s")
    print(
        f"   after:  shared session, CRL kept          : {best['crl after']:>9,.0f} /s"
        f"   ratio {best['crl after'] / best['crl before']:,.0f}"
    )
    print("2. the portal, by OCSP")
    print(f"   before: a connection for each check        : {best['ocsp before']:>9,.0f} /s")
    print(
        f"   after:  shared session, no answer reused   : {best['ocsp after']:>9,.0f} /s"
        f"   ratio {best['ocsp after'] / best['ocsp before']:.2f}"
    )
    print(
        f"   after:  the same answer, within OCSP_TTL   : {best['ocsp kept']:>9,.0f} /s"
        f"   ratio {best['ocsp kept'] / best['ocsp before']:,.0f}"
    )


if __name__ == "__main__":
    main()
