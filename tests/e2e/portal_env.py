"""The portal's e2e helpers: a CA served over HTTP, residents with certificates, login."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from e2e_env import IDS, Env

from agencies.jlis.registry import Jlis
from hub.numbers import resident_record_code
from hub.wire import Facts
from pki import (
    CertificationAuthority,
    CertKind,
    Endpoints,
    Hierarchy,
    Locality,
    ResidentFacts,
    RevocationSource,
    Sex,
    Trust,
    VerifierKind,
    create_app,
    sign_document,
)
from pki.ca.office import PKI_OFFICE, CaListener, holder_for
from portal.model import AccessEntry, NoticeEntry
from portal.office import PortalOffice
from renkei.network import Network
from renkei.pki_checks import PkiLoginCheck, PkiSignatureCheck

PORTAL, REGISTER, CHILD = "myna-portal", "chiyoda-resident", "chiyoda-child"
FACTS = ResidentFacts(
    name="番号 花子",
    address="東京都千代田区麹町一丁目1番1号",
    birth_date=dt.date(1980, 5, 5),
    sex=Sex.FEMALE,
)
WHERE = Locality("Tokyo-to", "Chiyoda-ku")


@dataclass
class Pki:
    ca: CertificationAuthority
    trust: Trust
    source: RevocationSource  # offices: the public CRLs
    login_source: RevocationSource  # the portal: OCSP, as a registered verifier


async def serve_pki() -> AsyncIterator[Pki]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    now = dt.datetime.now(dt.UTC)
    hierarchy = Hierarchy.generate(now - dt.timedelta(days=2))
    ca = CertificationAuthority(hierarchy, holder_key=b"h" * 32, endpoints=Endpoints(url))
    runner = web.AppRunner(create_app(ca), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    certs = [hierarchy.root.cert, *(i.cert for i in hierarchy.cas.values())]
    _, key = ca.verifiers.register(
        "マイナポータル", VerifierKind.PUBLIC, frozenset({CertKind.AUTHENTICATION}), None, now
    )
    ocsp = RevocationSource(ocsp_url=f"{url}/ocsp", api_key=key)
    yield Pki(ca, Trust.from_bundle(certs), RevocationSource(), ocsp)
    await runner.cleanup()


@dataclass
class Resident:
    net: Network
    portal: PortalOffice  # (None when driven by hand: those tests do not touch it)
    register_token: str
    child_token: str
    auth: x509.Certificate
    sign: x509.Certificate
    sign_key: ec.EllipticCurvePrivateKey


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


async def network(env: Env, pki: Pki, *, without: str = "") -> Network:
    """Every service; ``without`` an office the test drives by hand (``env.raw``)."""
    return await env.network(
        run=[i for i in IDS if i != without],
        listeners={PKI_OFFICE: CaListener(pki.ca)},
        signatures=PkiSignatureCheck(pki.trust, pki.source),
    )


async def resident(
    net: Network, pki: Pki, facts: ResidentFacts = FACTS, also: tuple[str, ...] = ()
) -> Resident:
    """Numbered, registered at 千代田区 with the facts, carded by J-LIS; enrolled ``also`` at
    those offices."""
    jlis: Jlis = net.apps["jlis"]
    rrc = resident_record_code(f"{uuid.uuid4().int % 10**10:010d}")
    record = {
        "name": facts.name,
        "birth_date": facts.birth_date.isoformat(),
        "sex": "2",
        "address": facts.address,
        "household": "h-" + rrc,
        "relationship": "世帯主",
    }
    four = Facts.of(record)  # J-LIS's 本人確認情報, and what every enrolling office holds
    number = (await jlis.register({rrc: four}, municipality="131016"))[rrc]
    register = await net.offices[REGISTER].enroll(number, four)
    child = await net.offices[CHILD].enroll(number, four) if CHILD in net.offices else ""
    kept = {**record, "rrc": rrc}  # the register writes the 住民票コード (住基法 第7条第13号)
    await net.stores[REGISTER].put_many("residents", [(f"r-{rrc}", register, kept)])
    for office in also:
        await net.offices[office].enroll(number, four)
    holder = holder_for(await net.offices[PKI_OFFICE].enroll(number, four))
    key = ec.generate_private_key(ec.SECP256R1())
    # the 市町村長's issuance application gives the 住民票コード: J-LIS's notices revoke by it
    auth = pki.ca.issue(CertKind.AUTHENTICATION, key.public_key(), holder, WHERE, code=rrc)
    sign = pki.ca.issue(CertKind.SIGNATURE, key.public_key(), holder, WHERE, facts, code=rrc)
    portal = net.apps.get(PORTAL)  # None when the test drives the portal by hand
    return Resident(net, portal, register, child, auth.certificate, sign.certificate, key)


async def login(r: Resident, pki: Pki) -> str:
    checked = await PkiLoginCheck(pki.trust, pki.login_source).check(
        der(r.auth), dt.datetime.now(dt.UTC)
    )
    return await r.portal.identify(checked)


def application(r: Resident, kind: str, form: dict[str, str]) -> bytes:
    doc = {"kind": kind, "application_id": str(uuid.uuid4()), "form": form}
    return sign_document(orjson.dumps(doc), r.sign, r.sign_key)


async def next_entry(feed: asyncio.Queue[AccessEntry | NoticeEntry]) -> AccessEntry | NoticeEntry:
    async with asyncio.timeout(2):  # "within a second", with slack for a loaded CI machine
        return await feed.get()
