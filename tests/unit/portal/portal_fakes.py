"""Fakes of the portal's two protocols, real card keys and certificates, and a test browser.

``FakeBackend`` and ``FakeChecker`` implement ``portal.model.Backend`` and
``CertificateChecker`` in memory; ``Card`` is an RSA key with a self-signed authentication
certificate (the checker is a fake, so no CA is needed); ``Env.login`` plays the card bridge.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from portal.codec import b64url_decode, b64url_encode
from portal.exceptions import LoginRefused, Unavailable
from portal.model import (
    NEWEST,
    AccessEntry,
    ApplicationKind,
    ApplicationStatus,
    CheckedCertificate,
    HistoryPage,
    HistoryQuery,
    NoticeEntry,
    OfficeData,
)
from portal.sessions import SessionStore
from portal.state import JST, PORTAL
from portal.web import create_app

PUBLIC = "https://portal.example"
BRIDGE = "http://127.0.0.1:8471"
T0 = dt.datetime(2025, 6, 10, 3, 0, tzinfo=dt.UTC)  # 12:00 in Tokyo


@dataclass
class Card:
    name: str
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def serial(self) -> int:
        return self.cert.serial_number

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def make_card(name: str) -> Card:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - dt.timedelta(days=1))
        .not_valid_after(T0 + dt.timedelta(days=365 * 5))
        .sign(key, hashes.SHA256())
    )
    return Card(name, key, cert)


TARO = make_card("taro-auth")
HANAKO = make_card("hanako-auth")
STRANGER = make_card("stranger-auth")
PERSONS = {TARO.serial: "tok-taro", HANAKO.serial: "tok-hanako"}


@dataclass
class Clock:
    now: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def shift(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class FakeChecker:
    refused: dict[int, str] = field(default_factory=dict)  # serial → reason
    unavailable: bool = False
    calls: int = 0

    async def check(self, der: bytes, at: dt.datetime) -> CheckedCertificate:
        self.calls += 1
        if self.unavailable:
            raise Unavailable("OCSP responder")
        cert = x509.load_der_x509_certificate(der)
        if cert.serial_number in self.refused:
            raise LoginRefused(self.refused[cert.serial_number])
        if cert.serial_number not in PERSONS:
            raise LoginRefused("not issued by the JPKI authentication CA")
        return CheckedCertificate(der, cert.serial_number, cert.not_valid_after_utc)


def access(person: str, minutes: int = 0, **kw: object) -> AccessEntry:
    values: dict[str, object] = {
        "record_id": uuid.uuid4(),
        "at": T0 - dt.timedelta(minutes=minutes),
        "requester": "131016-welfare",
        "requester_name": "千代田区 福祉課",
        "provider": "131016-tax",
        "provider_name": "千代田区 税務課",
        "affair": "child_allowance",
        "items": ("local_tax",),
        "outcome": "ok",
        "record_hash": "ab" * 32,
        "affair_name": "児童手当の支給",  # as the portal's office names them (legal table)
        "item_names": ("地方税関係情報",),
    }
    if "affair" in kw:  # another affair: its name only if given
        values["affair_name"] = ""
    if "items" in kw:
        values["item_names"] = ()
    values.update(kw)
    return AccessEntry(**values)  # type: ignore[arg-type]


def _kept(e: AccessEntry, want: HistoryQuery) -> bool:
    """The hub's filters (``hub.routing.desks.portal``): an office either side, days in Japan."""
    day = e.at.astimezone(JST).date()
    return (
        (not want.office or want.office in (e.requester, e.provider))
        and (want.start is None or day >= want.start)
        and (want.end is None or day <= want.end)
    )


@dataclass
class FakeBackend:
    history_by: dict[str, list[AccessEntry]] = field(default_factory=dict)
    notices_by: dict[str, list[NoticeEntry]] = field(default_factory=dict)
    info_by: dict[str, list[OfficeData]] = field(default_factory=dict)
    apps_by: dict[str, list[ApplicationStatus]] = field(default_factory=dict)
    submitted: list[tuple[str, ApplicationKind, dict[str, str], bytes]] = field(
        default_factory=list
    )
    queues: dict[str, list[asyncio.Queue[AccessEntry | NoticeEntry]]] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)  # names of methods that raise Unavailable
    tampered: set[UUID] = field(default_factory=set)
    page_size: int = 1000  # records a history page holds
    names: dict[str, str] = field(default_factory=dict)  # person → name on the register
    outcome: str = "accepted"  # what ``submit`` says: accepted, or pending (a first time-out)

    def _maybe_down(self, what: str) -> None:
        if what in self.down:
            raise Unavailable(f"the hub ({what})")

    async def identify(self, certificate: CheckedCertificate) -> str:
        self._maybe_down("identify")
        return PERSONS[certificate.serial]

    async def resident_name(self, person: str) -> str:
        self._maybe_down("resident_name")
        return self.names.get(person, "")

    async def history(self, person: str, want: HistoryQuery = NEWEST) -> HistoryPage:
        """The hub's filters and pages, ``page_size`` records a page (``older``: an index)."""
        self._maybe_down("history")
        every = sorted(self.history_by.get(person, []), key=lambda e: e.at, reverse=True)
        kept = [e for e in every if _kept(e, want)]
        start = want.before or 0
        older = start + self.page_size if start + self.page_size < len(kept) else None
        return HistoryPage(kept[start : start + self.page_size], older)

    async def verify_record(self, person: str, record_id: UUID) -> bool | None:
        if all(e.record_id != record_id for e in self.history_by.get(person, [])):
            return None
        return record_id not in self.tampered

    async def my_info(self, person: str) -> list[OfficeData]:
        self._maybe_down("my_info")
        return self.info_by.get(person, [])

    async def notices(self, person: str) -> list[NoticeEntry]:
        self._maybe_down("notices")
        return self.notices_by.get(person, [])

    async def mark_read(self, person: str, notice_id: UUID) -> bool:
        for n in self.notices_by.get(person, []):
            if n.notice_id == notice_id:
                n.read = True
                return True
        return False

    async def submit(
        self, person: str, kind: ApplicationKind, form: dict[str, str], signed: bytes
    ) -> ApplicationStatus:
        self._maybe_down("submit")
        self.submitted.append((person, kind, form, signed))
        detail = "R-1" if self.outcome == "accepted" else "確認中"
        status = ApplicationStatus(uuid.uuid4(), kind, T0, "131041-register", self.outcome, detail)  # type: ignore[arg-type]
        self.apps_by.setdefault(person, []).append(status)
        return status

    async def applications(self, person: str) -> list[ApplicationStatus]:
        self._maybe_down("applications")
        return self.apps_by.get(person, [])

    async def send_again(self, person: str, status_id: UUID) -> ApplicationStatus | None:
        kept = self.apps_by.get(person, [])
        for i, s in enumerate(kept):
            if s.application_id == status_id and s.status == "unavailable":
                kept[i] = dataclasses.replace(s, status="pending", detail="確認中")
                return kept[i]
        return None

    def subscribe(self, person: str) -> asyncio.Queue[AccessEntry | NoticeEntry]:
        queue: asyncio.Queue[AccessEntry | NoticeEntry] = asyncio.Queue()
        self.queues.setdefault(person, []).append(queue)
        return queue

    def unsubscribe(self, person: str, queue: asyncio.Queue[AccessEntry | NoticeEntry]) -> None:
        self.queues[person].remove(queue)

    def push(self, person: str, item: AccessEntry | NoticeEntry) -> None:
        for queue in self.queues.get(person, []):
            queue.put_nowait(item)


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name}"
    return found.group(1)


async def new_client(app: web.Application) -> TestClient[web.Request, web.Application]:
    """A started client whose jar keeps and sends Secure cookies over the test's plain http."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    origin = str(server.make_url("/").origin())
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[origin])
    client = TestClient(server, cookie_jar=jar)
    await client.start_server()
    return client


@dataclass
class Env:
    client: TestClient[web.Request, web.Application]
    backend: FakeBackend
    checker: FakeChecker
    clock: Clock
    app: web.Application

    @property
    def sessions(self) -> SessionStore:
        return self.app[PORTAL].sessions

    def cookie(self, name: str) -> str | None:
        for morsel in self.client.session.cookie_jar:
            if morsel.key == name:
                return morsel.value
        return None

    async def bridge_login(
        self, card: Card, *, signer: Card | None = None, tamper: dict[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        """What the bridge does: read the login form, sign the challenge, post back."""
        page = await self.client.get("/login")
        assert page.status == 200
        return await self.respond(await page.text(), card, signer=signer, tamper=tamper)

    async def respond(
        self,
        html: str,
        card: Card,
        *,
        signer: Card | None = None,
        tamper: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """The bridge's post back for the login page ``html``."""
        form = {
            "challenge": hidden(html, "challenge"),
            "state": hidden(html, "state"),
        }
        signature = (signer or card).sign(b64url_decode(form["challenge"]))
        form |= {"signature": b64url_encode(signature), "certificate": b64url_encode(card.der)}
        form |= tamper or {}
        return await self.client.post(
            "/login/complete", data=form, headers={"Origin": BRIDGE}, allow_redirects=False
        )

    async def login(self, card: Card = TARO) -> str:
        response = await self.bridge_login(card)
        assert response.status == 303, await response.text()
        session = self.cookie("__Host-renkei-session")
        assert session
        return session

    async def csrf(self, path: str = "/") -> str:
        return hidden(await (await self.client.get(path)).text(), "csrf")

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, origin: str | None = PUBLIC
    ) -> aiohttp.ClientResponse:
        headers = {"Origin": origin} if origin else {}
        form = {"csrf": await self.csrf()} | (data or {})
        return await self.client.post(path, data=form, headers=headers, allow_redirects=False)


async def start(*, backend: Any = None, **kw: object) -> AsyncIterator[Env]:
    """The portal's app on a started test client; ``backend``: another than a `FakeBackend`
    (the real `PortalOffice` on a fake node), which ``Env.backend`` then is."""
    backend, checker, clock = backend or FakeBackend(), FakeChecker(), Clock()
    app = create_app(
        backend,
        checker,
        bridge_url=BRIDGE,
        public_origin=PUBLIC,
        clock=clock,
        **kw,  # type: ignore[arg-type]
    )
    client = await new_client(app)
    try:
        yield Env(client, backend, checker, clock, app)
    finally:
        await client.close()
