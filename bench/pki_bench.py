#!/usr/bin/env python3
"""PKI throughput, each figure beside a baseline measured in the same run.

    .venv/bin/python bench/pki_bench.py            # about a minute
    .venv/bin/python bench/pki_bench.py --quick    # smoke run

1. Issuance in-process: ``CertificationAuthority.issue`` (signature certificates with the four
   facts, and authentication certificates; RSA-2048 CA, in-memory ledger — the ledger on disk,
   SQLite with a synchronous commit per record, is reported separately) against the bare
   RSA-2048 PKCS#1 v1.5 signature that every certificate costs.
2. OCSP over HTTP: the CA's app in its own process (``create_app``, plus two routes on the
   same server: a static file of the size of an OCSP response, ``web.FileResponse``, and the
   same bytes from memory), one aiohttp client in this process, the same concurrency for all:
   OCSP POSTs (distinct nonces, a registered verifier's key, signed per request) against GETs
   of the static file and of the in-memory bytes.
3. Verification in-process: ``verify_signed`` of an attached CMS signature (parse, digest,
   signature, path to the root, profile, CRL in hand) against the bare signature check of the
   signer's key on the same bytes.

Best of ``--repeat`` interleaved runs for each (the machines are shared and noisy).
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
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp
import structlog
import uvloop
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

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
    Trust,
    VerifierKind,
    create_app,
    sign_document,
    verify_signed,
)
from pki.cms import parse_signed
from pki.relying.status import ocsp_request
from pki.relying.verify import load_pem_bundle

FACTS = ResidentFacts("番号 太郎", "東京都千代田区永田町1-7-1", dt.date(1975, 4, 1), Sex.MALE)
PLACE = Locality("Tokyo-to", "Chiyoda-ku")


def quiet() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def rate(fn: Callable[[int], None], n: int) -> float:
    t0 = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - t0)


def bench_issue(n: int, repeat: int) -> None:
    h = Hierarchy.generate(dt.datetime.now(dt.UTC))
    ca = CertificationAuthority(h, holder_key=os.urandom(32), endpoints=Endpoints("http://x"))
    keys = [ec.generate_private_key(ec.SECP256R1()).public_key() for _ in range(50)]
    ca_key = h.cas[CaName.SIGNATURE].key
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    tbs = os.urandom(700)  # about the size of a tbsCertificate

    def raw(k: int) -> None:
        for _ in range(k):
            ca_key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())

    def sig(k: int) -> None:
        for i in range(k):
            ca.issue(CertKind.SIGNATURE, keys[i % 50], f"card-{i}", PLACE, FACTS)

    def auth(k: int) -> None:
        for i in range(k):
            ca.issue(CertKind.AUTHENTICATION, keys[i % 50], f"card-{i}", PLACE)

    runs: dict[str, list[float]] = {"raw": [], "sig": [], "auth": []}
    for _ in range(repeat):
        runs["raw"].append(rate(raw, n))
        runs["sig"].append(rate(sig, n))
        runs["auth"].append(rate(auth, n))
    base = max(runs["raw"])
    print("1. issuance, in-process")
    print(f"   baseline RSA-2048 sign             : {base:>9,.0f} /s")
    for name, label in (("sig", "signature certificates"), ("auth", "authentication certificates")):
        best = max(runs[name])
        print(f"   {label:<35}: {best:>9,.0f} /s   ratio {best / base:.2f}")
    with tempfile.TemporaryDirectory() as d:
        disk = CertificationAuthority.open(Path(d) / "pki", Endpoints("http://x"))
        k = max(50, n // 10)
        t0 = time.perf_counter()
        for i in range(k):
            disk.issue(CertKind.AUTHENTICATION, keys[i % 50], f"card-{i}", PLACE)
        print(f"   with the ledger on disk (SQLite)   : {k / (time.perf_counter() - t0):>9,.0f} /s")
        disk.close()


def _serve(state: str, port_out: Connection, size: int) -> None:
    quiet()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    ca = CertificationAuthority.open(Path(state) / "pki", Endpoints(url))
    app = create_app(ca)
    static = Path(state) / "static.der"
    static.write_bytes(os.urandom(size))

    async def file(_: web.Request) -> web.FileResponse:
        return web.FileResponse(static)

    app.router.add_get("/static.der", file)
    body = static.read_bytes()

    async def fixed(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/octet-stream")

    app.router.add_get("/fixed.der", fixed)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        port_out.send(url)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(main())


async def _load(
    send: Callable[[aiohttp.ClientSession, int], Awaitable[None]], n: int, concurrency: int
) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        for i in range(min(200, n)):  # warm up connections
            await send(s, i)
        counter = iter(range(n))

        async def worker() -> None:
            for i in counter:
                await send(s, i)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - t0)


def bench_ocsp(n: int, repeat: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as state:
        # issue certificates and register a verifier before the server process reads the state
        ca = CertificationAuthority.open(Path(state) / "pki", Endpoints("http://127.0.0.1:9"))
        certs = [
            ca.issue(
                CertKind.AUTHENTICATION,
                ec.generate_private_key(ec.SECP256R1()).public_key(),
                f"card-{i}",
                PLACE,
            ).certificate
            for i in range(100)
        ]
        _, api_key = ca.verifiers.register(
            "Bench City", VerifierKind.PUBLIC, frozenset(CertKind), None, ca.now()
        )
        issuer = ca.hierarchy.cas[CaName.AUTHENTICATION].cert
        requests = [ocsp_request(certs[i % 100], issuer)[0] for i in range(2000)]
        sample = ca.ocsp(requests[0], verifier=ca.verifiers.authenticate(f"Bearer {api_key}"))
        ca.close()
        parent, child = mp.Pipe()
        proc = mp.get_context("fork").Process(target=_serve, args=(state, child, len(sample)))
        proc.start()
        url = parent.recv()
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/ocsp-request"}

        async def ocsp(s: aiohttp.ClientSession, i: int) -> None:
            async with s.post(f"{url}/ocsp", data=requests[i % 2000], headers=headers) as r:
                body = await r.read()
                assert r.status == 200
                assert body[:1] == b"\x30"
                assert len(body) > 100

        async def static(s: aiohttp.ClientSession, i: int) -> None:
            async with s.get(f"{url}/static.der") as r:
                assert r.status == 200
                assert len(await r.read()) == len(sample)

        async def fixed(s: aiohttp.ClientSession, i: int) -> None:
            async with s.get(f"{url}/fixed.der") as r:
                assert r.status == 200
                assert len(await r.read()) == len(sample)

        runs: dict[str, list[float]] = {"static": [], "fixed": [], "ocsp": []}
        try:
            for _ in range(repeat):
                runs["static"].append(asyncio.run(_load(static, n, concurrency)))
                runs["fixed"].append(asyncio.run(_load(fixed, n, concurrency)))
                runs["ocsp"].append(asyncio.run(_load(ocsp, n, concurrency)))
        finally:
            proc.kill()
            proc.join()
    base, mem, best = max(runs["static"]), max(runs["fixed"]), max(runs["ocsp"])
    print(f"2. OCSP over HTTP, {concurrency} in flight, server in its own process")
    print(f"   baseline static file ({len(sample)} bytes)   : {base:>9,.0f} /s")
    print(f"   same bytes from memory (no file)   : {mem:>9,.0f} /s")
    print(
        f"   OCSP POST, signed per request      : {best:>9,.0f} /s   ratio {best / base:.2f}"
        f" (static file), {best / mem:.2f} (from memory)"
    )


def bench_verify(n: int, repeat: int) -> None:
    h = Hierarchy.generate(dt.datetime.now(dt.UTC))
    ca = CertificationAuthority(h, holder_key=os.urandom(32), endpoints=Endpoints("http://x"))
    trust = Trust.from_bundle(load_pem_bundle(h.chain_pem()))
    source = RevocationSource(crl=ca.crl_bytes(CaName.SIGNATURE, serialization.Encoding.DER))
    doc = "電子申請書\n".encode() * 50
    print("3. signature verification, in-process (CRL in hand)")
    for label, key in (
        ("ECDSA P-256 signer", ec.generate_private_key(ec.SECP256R1())),
        ("RSA-2048 signer (as on the card)", rsa.generate_private_key(65537, 2048)),
    ):
        cert = ca.issue(CertKind.SIGNATURE, key.public_key(), "card-v", PLACE, FACTS).certificate
        signed = sign_document(doc, cert, key)
        parsed = parse_signed(signed)
        pub = cert.public_key()

        def raw(k: int, pub: object = pub, parsed: object = parsed) -> None:
            p = parsed
            for _ in range(k):
                if isinstance(pub, rsa.RSAPublicKey):
                    pub.verify(p.signature, p.signed_attrs, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[attr-defined]
                elif isinstance(pub, ec.EllipticCurvePublicKey):
                    pub.verify(p.signature, p.signed_attrs, ec.ECDSA(hashes.SHA256()))  # type: ignore[attr-defined]

        async def full(k: int, signed: bytes = signed) -> None:
            async with RevocationChecker() as checker:
                for _ in range(k):
                    await verify_signed(signed, None, trust, source, checker=checker)

        base_runs, full_runs = [], []
        for _ in range(repeat):
            base_runs.append(rate(raw, n))
            t0 = time.perf_counter()
            asyncio.run(full(n))
            full_runs.append(n / (time.perf_counter() - t0))
        base, best = max(base_runs), max(full_runs)
        print(f"   {label}")
        print(f"     baseline bare signature check    : {base:>9,.0f} /s")
        print(f"     verify_signed, every check       : {best:>9,.0f} /s   ratio {best / base:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=32)
    a = p.parse_args()
    scale = 0.1 if a.quick else 1.0
    repeat = 1 if a.quick else a.repeat
    quiet()
    print(f"pki_bench: {os.cpu_count()} CPUs, best of {repeat}")
    bench_issue(int(2000 * scale), repeat)
    bench_ocsp(int(10000 * scale), repeat, a.concurrency)
    bench_verify(int(2000 * scale), repeat)


if __name__ == "__main__":
    main()
