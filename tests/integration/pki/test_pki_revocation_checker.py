"""A process's ``RevocationChecker`` against the CA over real HTTP: one connection for every
check, each CRL fetched once until its nextUpdate, each OCSP answer kept ``ocsp_ttl`` — and a
revocation seen no later than either."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
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
    Revoked,
    Sex,
    Trust,
    VerifierKind,
    create_app,
    sign_document,
    verify_login,
    verify_signed,
)
from pki.ca.ledger import CertRecord, RevocationRecord
from pki.relying.client import OCSP_TTL

PLACE = Locality("Tokyo-to", "Chiyoda-ku")
FACTS = ResidentFacts(
    "番号 花子", "東京都千代田区霞が関二丁目1番2号", dt.date(1985, 6, 15), Sex.FEMALE
)
INTERVAL = dt.timedelta(minutes=1)  # the CA's CRLs: nextUpdate two intervals ahead


@dataclass
class Clock:
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Ca:
    ca: CertificationAuthority
    url: str
    clock: Clock
    trust: Trust
    requests: list[tuple[str, int]]  # (path, client port) as the server saw them

    def paths(self) -> Counter[str]:
        return Counter(path for path, _ in self.requests)

    def connections(self) -> int:
        return len({port for _, port in self.requests})


@pytest_asyncio.fixture
async def served() -> AsyncIterator[Ca]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    clock = Clock()
    hierarchy = Hierarchy.generate(clock.now - dt.timedelta(days=1))
    ca = CertificationAuthority(
        hierarchy,
        holder_key=b"h" * 32,
        endpoints=Endpoints(url),
        crl_interval=INTERVAL,
        clock=clock,
    )
    for _ in range(3000):  # a CRL of some size (160 KB): it arrives in many reads
        serial = x509.random_serial_number()
        ca.ledger.add(CertRecord(CaName.SIGNATURE, serial, "h", clock.now, clock.now))
        ca.ledger.revoke(
            RevocationRecord(CaName.SIGNATURE, serial, x509.ReasonFlags.superseded, clock.now, None)
        )
    ca.refresh_crls()
    requests: list[tuple[str, int]] = []

    @web.middleware
    async def seen(request: web.Request, handler: web.Handler) -> web.StreamResponse:
        assert request.transport is not None
        requests.append((request.path, request.transport.get_extra_info("peername")[1]))
        return await handler(request)

    app = create_app(ca)
    app.middlewares.append(seen)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    trust = Trust.from_bundle(x509.load_pem_x509_certificates(hierarchy.chain_pem()))
    yield Ca(ca, url, clock, trust, requests)
    await runner.cleanup()


async def test_an_office_fetches_each_crl_once_until_its_next_update(served: Ca) -> None:
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    certs = [
        served.ca.issue(CertKind.SIGNATURE, k.public_key(), f"card-{i}", PLACE, FACTS).certificate
        for i, k in enumerate(keys)
    ]
    signed = [
        sign_document(b"application %d" % i, c, k)
        for i, (c, k) in enumerate(zip(certs, keys, strict=True))
    ]
    async with RevocationChecker() as checker:

        async def verify(doc: bytes) -> object:
            return await verify_signed(
                doc, None, served.trust, RevocationSource(), now=served.clock.now, checker=checker
            )

        await asyncio.gather(*(verify(doc) for doc in signed * 4))  # twelve at once
        assert served.paths() == {"/crl/signature.crl": 1}
        assert served.connections() == 1
        served.ca.revoke(CaName.SIGNATURE, certs[0].serial_number, x509.ReasonFlags.key_compromise)
        await verify(signed[0])  # the CRL kept is good until its nextUpdate
        assert served.paths() == {"/crl/signature.crl": 1}
        # past the nextUpdate of the CRL kept: a new one, which has the revocation
        served.clock.now += 2 * INTERVAL + dt.timedelta(seconds=1)
        served.ca.refresh_crls()
        with pytest.raises(Revoked, match="keyCompromise"):
            await verify(signed[0])
        await verify(signed[1])
        assert served.paths() == {"/crl/signature.crl": 2}
        assert served.connections() == 1


async def test_the_portal_keeps_an_ocsp_answer_for_its_ttl_and_no_longer(served: Ca) -> None:
    now = served.clock.now
    _, key = served.ca.verifiers.register(
        "マイナポータル", VerifierKind.PUBLIC, frozenset({CertKind.AUTHENTICATION}), None, now
    )
    source = RevocationSource(ocsp_url=f"{served.url}/ocsp", api_key=key)
    certs = [
        served.ca.issue(
            CertKind.AUTHENTICATION, ec.generate_private_key(ec.SECP256R1()).public_key(), h, PLACE
        ).certificate
        for h in ("card-a", "card-b")
    ]
    der = [c.public_bytes(serialization.Encoding.DER) for c in certs]
    async with RevocationChecker() as checker:

        async def login(i: int, at: dt.datetime) -> x509.Certificate:
            return await verify_login(der[i], served.trust, source, now=at, checker=checker)

        await login(0, now)
        await login(0, now + OCSP_TTL / 2)  # kept
        await login(1, now)  # another certificate: asked
        assert served.paths() == {"/ocsp": 2}
        served.ca.revoke(CaName.AUTHENTICATION, certs[0].serial_number, x509.ReasonFlags.superseded)
        await login(0, now + OCSP_TTL / 2)  # still the answer kept, within its TTL
        assert served.paths() == {"/ocsp": 2}
        with pytest.raises(Revoked, match="superseded"):
            await login(0, now + OCSP_TTL)  # the TTL is over: asked again
        assert served.paths() == {"/ocsp": 3}
        assert served.connections() == 1
