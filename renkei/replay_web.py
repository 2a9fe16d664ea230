"""The portal's part of a season replay on the real network: the portal process over HTTP.

With ``--portal URL`` (``renkei season replay --broker … --db …``) the portal's streams — pages,
logins, applications — go to the running portal process (`renkei run portal`, `renkei portal
serve`) as a resident's browser and card bridge would send them, and the replayer does not
play ``myna-portal`` itself. Each resident a stream needs gets a card from the deployment's CA
(`renkei run pki`, ``--pki URL``): an authentication and, from 15, a signature certificate,
issued by ``POST /certificates`` with the operator token of the state directory (the card
desk's call), under J-LIS's token for them (``holder_for``), the four facts from their
register's record. One RSA key (2048 bits, as the card's) serves every card of a replay: a
model, a card's keys being its own; one key is enough to sign.

A **login** is ``GET /login`` (the challenge, the pre-login cookie), the challenge signed with
the card's key (RSA PKCS#1 v1.5, SHA-256: what the card bridge posts) and ``POST
/login/complete``; a 303 is a login accepted, then ``GET /`` (the greeting: the name the
register gives the person J-LIS named must be the card's — else the login is misnamed),
``/history`` and ``/notices``. A 403 is a login refused, a 503 one J-LIS or the hub did not
answer, a 429 the portal's login limits: each resident comes from a loopback address of its
own (127.1.x.y) when the portal is on this machine, so the per-client limit is each
resident's, as it would be at home. A **page** is ``GET /history`` or ``/me`` in the
resident's session (logged in first when it has none). An **application** is a login, the
form posted (``POST /applications/new/{kind}``, with the session's CSRF token), the document
of the confirmation signed (CMS, ``sign_document``) and posted back (``POST
/applications/signed``, as the bridge does); the result page says accepted, refused (with the
office's code) or unavailable. The application's id is the document's (``application_id``):
what the loss check looks for in the office's store.

A card reported lost (a ``revoked`` login stream's) has both certificates revoked at the CA
before the replay (``POST /revocations``, ``key_compromise``: the card desk's call on a 紛失届):
its logins must be refused. Whether a 転出 revoked the mover's signature certificate
(J-LIS's notice to the CA over 住基ネット) is read from the CA's CRL
(``signatures_revoked``).

Cookies are kept by hand (the portal's are ``__Host-`` and ``Secure``: a browser keeps them on
``localhost`` only; the replay talks plain HTTP to it).
"""

from __future__ import annotations

import asyncio
import base64
import html
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from loadtest.accounting import ACCEPTED, MISNAMED, REFUSED, UNANSWERED
from loadtest.exceptions import (
    REPLAY_APPLICATION_REFUSED,
    REPLAY_APPLICATION_UNANSWERED,
    REPLAY_LOGIN_LIMITED,
    REPLAY_LOGIN_MISNAMED,
    REPLAY_LOGIN_REFUSED,
    REPLAY_LOGIN_UNANSWERED,
    REPLAY_PAGE_UNAVAILABLE,
    REPLAY_PORTAL_ERROR,
)
from loadtest.stats import Outcome
from pki import sign_document
from pki.ca.office import holder_for

__all__ = ["PortalWeb", "WebCard"]

SESSION, PRE = "__Host-renkei-session", "__Host-renkei-pre"  # the portal's cookies
TIMEOUT = aiohttp.ClientTimeout(total=60)  # an answer later than this: not answered
WHERE = {"prefecture": "Tokyo-to", "municipality": "Chiyoda-ku"}  # the card's locality
ISSUING = 8  # certificate requests to the CA at once
KEEPALIVE = 5.0  # seconds a resident's idle connection stays open (thousands file once each)
_INPUT = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')
_NAME = re.compile(r'<span class="name">([^<]*)</span>')
_STATUS = re.compile(r'<dd class="status-(\w+)">')
_DETAIL = re.compile(r"<dt>詳細 .*?</dt><dd>([^<]*)</dd>", re.S)
_PENDING = re.compile(r'<p class="pending" data-status-id="([0-9a-f-]{36})"')
_ROW = r'data-status-id="{}" data-status="(\w+)">.*?class="detail">([^<]*)<'  # /applications
SETTLE_POLLS, SETTLE_POLL = 120, 5.0  # a 確認中 application's row read every 5 s, 10 min at most
# a login's answer by HTTP status, but a 303 with a session (accepted): 403 the certificate or
# no holder, 400 the challenge, 503 J-LIS or the hub did not answer, 429 the login limits
_LOGIN_REFUSALS = {
    503: (UNANSWERED, Outcome("timed_out", REPLAY_LOGIN_UNANSWERED)),
    429: (REFUSED, Outcome("refused", REPLAY_LOGIN_LIMITED)),
    500: (REFUSED, Outcome("error", REPLAY_PORTAL_ERROR)),
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _inputs(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in _INPUT.findall(page)}


@dataclass
class WebCard:
    """A resident's card and browser: certificates, where they come from, their cookies."""

    person: str  # the portal's token for them (the replay's name for the resident)
    name: str  # the register's name for them (what the portal must greet)
    auth: bytes  # the authentication certificate, DER
    sign: x509.Certificate | None  # None: under 15, none issued
    client: aiohttp.ClientSession
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""  # the session's token, from its pages
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one visit at a time


class PortalWeb:
    """The portal process at ``url`` and the CA at ``pki_url``, for the replay's residents."""

    def __init__(self, url: str, pki_url: str, operator_token: str) -> None:
        self.url, self.pki_url = url.rstrip("/"), pki_url.rstrip("/")
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.url))
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        self._pem = self.key.public_key().public_bytes(serialization.Encoding.PEM, spki).decode()
        self._operator = {"Authorization": f"Bearer {operator_token}"}
        self._ca = aiohttp.ClientSession(timeout=TIMEOUT)
        self._issuing = asyncio.Semaphore(ISSUING)
        self._local = _is_loopback(urlsplit(self.url).hostname or "")
        self.cards: dict[str, WebCard] = {}

    async def close(self) -> None:
        await self._ca.close()
        for card in self.cards.values():
            await card.client.close()

    # ---- cards -----------------------------------------------------------------------------

    async def issue(self, person: str, pki_token: str, record: Mapping[str, Any]) -> WebCard:
        """The card of ``person`` (the portal's token), known to J-LIS by ``pki_token``, with
        the four facts of ``record`` (the register's); once per resident."""
        if person in self.cards:
            return self.cards[person]
        facts = {
            "name": str(record["name"]),
            "address": str(record["address"]),
            "birth_date": str(record["birth_date"]),
            "sex": str(record["sex"]),
        }
        holder, code = holder_for(pki_token), record.get("rrc")
        code = code if isinstance(code, str) else None  # the 住民票コード, for the CA
        auth = await self._certificate("authentication", holder, None, code)
        sign = await self._certificate("signature", holder, facts, code)
        assert auth is not None, "an authentication certificate has no age limit"
        n = len(self.cards)
        local = ("127.1.{}.{}".format(*divmod(n, 250)), 0) if self._local else None
        client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=local, keepalive_timeout=KEEPALIVE),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=TIMEOUT,
        )
        card = WebCard(
            person,
            facts["name"],
            x509.load_pem_x509_certificate(auth.encode()).public_bytes(serialization.Encoding.DER),
            x509.load_pem_x509_certificate(sign.encode()) if sign else None,
            client,
        )
        self.cards[person] = card
        return card

    async def _certificate(
        self, kind: str, holder: str, facts: Any, code: str | None = None
    ) -> str | None:
        """A certificate's PEM, or None when the CA refuses it by policy (a signature
        certificate for a resident under 15)."""
        body = {"kind": kind, "public_key": self._pem, "holder": holder, **WHERE}
        if facts is not None:
            body["facts"] = facts
        if code is not None:
            body["code"] = code
        async with (
            self._issuing,
            self._ca.post(f"{self.pki_url}/certificates", json=body, headers=self._operator) as r,
        ):
            data = await r.json(content_type=None)
        if r.status == 422 and kind == "signature":
            return None
        if r.status not in (200, 201):
            raise RuntimeError(f"the CA refused a {kind} certificate: {r.status} {data}")
        return str(data["certificate"])

    async def revoke(self, card: WebCard) -> None:
        """Both certificates of ``card`` revoked, as for a card reported lost (紛失届)."""
        certs = [("authentication", x509.load_der_x509_certificate(card.auth))]
        if card.sign is not None:
            certs.append(("signature", card.sign))
        for ca, cert in certs:
            body = {"ca": ca, "serial": f"{cert.serial_number:x}", "reason": "key_compromise"}
            async with self._ca.post(
                f"{self.pki_url}/revocations", json=body, headers=self._operator
            ) as r:
                if r.status != 200:
                    raise RuntimeError(f"the CA did not revoke a {ca} certificate: {r.status}")

    async def signatures_revoked(self, people: Iterable[str]) -> set[str]:
        """Of ``people`` (the portal's tokens), those whose signature certificate the CA's
        CRL lists."""
        async with self._ca.get(f"{self.pki_url}/crl/signature.pem") as r:
            if r.status != 200:
                raise RuntimeError(f"the CA gave no signature CRL: {r.status}")
            crl = x509.load_pem_x509_crl(await r.read())
        out = set()
        for person in people:
            sign = self.cards[person].sign
            if sign and crl.get_revoked_certificate_by_serial_number(sign.serial_number):
                out.add(person)
        return out

    # ---- visits ----------------------------------------------------------------------------

    async def log_in(self, card: WebCard) -> tuple[str, Outcome]:
        """A login, then the greeting, やりとり履歴 and お知らせ (as ``replay_portal.log_in``)."""
        async with card.lock:
            try:
                status, outcome = await self._log_in(card)
                if status != ACCEPTED:
                    return status, outcome
                for path in ("/history", "/notices"):
                    got, _ = await self._get(card, path)
                    if got != 200:
                        return ACCEPTED, Outcome("error", REPLAY_PAGE_UNAVAILABLE)
            except (aiohttp.ClientError, TimeoutError):
                return UNANSWERED, Outcome("timed_out", REPLAY_LOGIN_UNANSWERED)
        return ACCEPTED, Outcome("ok")

    async def page(self, card: WebCard, page: str) -> Outcome:
        """やりとり履歴 (``history``) or わたしの情報 (``my_info``) in the resident's session."""
        path = "/history" if page == "history" else "/me"
        async with card.lock:
            try:
                if SESSION not in card.cookies:
                    status, outcome = await self._log_in(card)
                    if status != ACCEPTED:
                        return outcome
                got, body = await self._get(card, path)
                if got == 303:  # the session ended (idle, or the certificate re-checked)
                    status, outcome = await self._log_in(card)
                    if status != ACCEPTED:
                        return outcome
                    got, body = await self._get(card, path)
            except (aiohttp.ClientError, TimeoutError):
                return Outcome("timed_out", REPLAY_PAGE_UNAVAILABLE)
        if got == 200 and 'class="unavailable"' not in body:
            return Outcome("ok")
        code = REPLAY_PAGE_UNAVAILABLE if got in (200, 503) else REPLAY_PORTAL_ERROR
        return Outcome("error", code)

    async def apply(
        self, card: WebCard, kind: str, form: Mapping[str, str]
    ) -> tuple[str | None, str, Outcome]:
        """A login and a signed application filed: (the application's id, or None when it
        never got one; accepted, refused or unanswered; its outcome)."""
        assert card.sign is not None, "a resident with no signature certificate files nothing"
        async with card.lock:
            try:
                status, outcome = await self._log_in(card)
                if status != ACCEPTED:
                    return None, status, outcome
                return await self._file(card, kind, form)
            except (aiohttp.ClientError, TimeoutError):
                return None, UNANSWERED, Outcome("timed_out", REPLAY_APPLICATION_UNANSWERED)

    async def _file(
        self, card: WebCard, kind: str, form: Mapping[str, str]
    ) -> tuple[str | None, str, Outcome]:
        got, page = await self._post(card, f"/applications/new/{kind}", {**form, "csrf": card.csrf})
        if got != 200:
            return None, REFUSED, Outcome("refused", REPLAY_APPLICATION_REFUSED)
        fields = _inputs(page)
        document = _unb64(fields["document"])
        app_id = str(json.loads(document)["application_id"])
        assert card.sign is not None
        signed = sign_document(document, card.sign, self.key)
        sent = {"signed": _b64(signed), "state": fields["state"]}
        try:
            got, page = await self._post(card, "/applications/signed", sent)
        except (aiohttp.ClientError, TimeoutError):  # sent: it may have been filed
            return app_id, UNANSWERED, Outcome("timed_out", REPLAY_APPLICATION_UNANSWERED)
        found = _STATUS.search(page)
        if got == 200 and found and found[1] == "pending":  # the portal sends it again itself
            found = _STATUS.search(page := await self._settled(card, page))
        if got == 503 or (found and found[1] in ("unavailable", "pending")):
            return app_id, UNANSWERED, Outcome("timed_out", REPLAY_APPLICATION_UNANSWERED)
        if got == 200 and found and found[1] == "accepted":
            return app_id, ACCEPTED, Outcome("ok")
        detail = _DETAIL.search(page)
        text = html.unescape(detail[1]) if detail else ""
        code = text.split(":", 1)[0] if ":" in text else REPLAY_APPLICATION_REFUSED
        return app_id, REFUSED, Outcome("refused", code)

    async def _settled(self, card: WebCard, page: str) -> str:
        """A result 確認中 (its first send timed out; the portal sends it again by itself and
        gives up within about nine minutes): its row in ``/applications`` once settled, read
        as a result."""
        sent = _PENDING.search(page)
        for _ in range(SETTLE_POLLS if sent else 0):
            await asyncio.sleep(SETTLE_POLL)
            got, listing = await self._get(card, "/applications")
            row = re.search(_ROW.format(re.escape(sent[1] if sent else "")), listing, re.S)
            if got == 200 and row and row[1] != "pending":
                return f'<dd class="status-{row[1]}"><dt>詳細 </dt><dd>{row[2]}</dd>'
        return page

    async def _log_in(self, card: WebCard) -> tuple[str, Outcome]:
        card.cookies.clear()
        got = await self._answer_challenge(card)
        if got != 303 or SESSION not in card.cookies:
            return _LOGIN_REFUSALS.get(got, (REFUSED, Outcome("refused", REPLAY_LOGIN_REFUSED)))
        got, home = await self._get(card, "/")
        if got != 200:
            return REFUSED, Outcome("error", REPLAY_PORTAL_ERROR)
        card.csrf = _inputs(home).get("csrf", "")
        greeted = _NAME.search(home)
        if greeted and html.unescape(greeted[1]) != card.name:
            return MISNAMED, Outcome("error", REPLAY_LOGIN_MISNAMED)
        return ACCEPTED, Outcome("ok")

    async def _answer_challenge(self, card: WebCard) -> int:
        """``GET /login``, the challenge signed as the card bridge does, ``POST
        /login/complete``: the HTTP status of the answer (or of ``/login`` when it gave no
        challenge)."""
        got, page = await self._get(card, "/login")
        fields = _inputs(page)
        if got != 200 or "challenge" not in fields:
            return got if got != 200 else 500
        challenge = _unb64(fields["challenge"])
        signature = self.key.sign(challenge, padding.PKCS1v15(), hashes.SHA256())
        answer = {
            "challenge": fields["challenge"],
            "state": fields["state"],
            "signature": _b64(signature),
            "certificate": _b64(card.auth),
        }
        got, _ = await self._post(card, "/login/complete", answer)
        return got

    async def _get(self, card: WebCard, path: str) -> tuple[int, str]:
        async with card.client.get(
            self.url + path, headers=self._cookie(card), allow_redirects=False
        ) as r:
            self._keep(card, r)
            return r.status, await r.text()

    async def _post(self, card: WebCard, path: str, data: Mapping[str, str]) -> tuple[int, str]:
        headers = {**self._cookie(card), "Origin": self.origin}
        async with card.client.post(
            self.url + path, data=dict(data), headers=headers, allow_redirects=False
        ) as r:
            self._keep(card, r)
            return r.status, await r.text()

    @staticmethod
    def _cookie(card: WebCard) -> dict[str, str]:
        jar = [f"{k}={v}" for k, v in card.cookies.items()]
        return {"Cookie": "; ".join(jar)} if jar else {}

    @staticmethod
    def _keep(card: WebCard, r: aiohttp.ClientResponse) -> None:
        for name, morsel in r.cookies.items():
            if morsel.value:
                card.cookies[name] = morsel.value
            else:
                card.cookies.pop(name, None)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
