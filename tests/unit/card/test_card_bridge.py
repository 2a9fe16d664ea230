"""The card bridge end to end over HTTP, with an issued card in memory: the portal's forms in,
the bridge's pages out, the card's answers checked with the certificates' keys."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from card_helpers import AUTH_PIN, HIERARCHY, RESIDENT, SIGN_PIN, issued
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from card_service import Card, CardClient, MemoryTransport, NoCard
from card_service.bridge.app import BRIDGE, MAX_BODY, create_bridge_app
from card_service.bridge.forms import b64url
from pki import (
    CaName,
    CertificationAuthority,
    Endpoints,
    RevocationSource,
    Trust,
    parse_signed,
    sign_document_with,
    verify_signed,
)
from pki.cms import check_signature
from pki.relying.verify import load_pem_bundle

PORTAL = "http://127.0.0.1:8470"
LOGIN_DONE = f"{PORTAL}/login/complete"
SIGN_DONE = f"{PORTAL}/applications/42/signed"
DOCUMENT = (
    '<?xml version="1.0" encoding="UTF-8"?><申請 種別="転入届"><氏名>番号 花子</氏名></申請>\n'
)
SUMMARY = "転入届 (moving-in notification)\n新住所: 東京都千代田区霞が関二丁目1番2号"


# -- a browser, as far as these pages need one ----------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str]


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get"), {}))
        elif tag == "input" and self.forms and a.get("type") == "hidden":
            self.forms[-1].fields[a["name"]] = a.get("value", "")


def forms_of(page: str) -> list[Form]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


def form_of(page: str) -> Form:
    forms = forms_of(page)
    assert len(forms) == 1, page
    return forms[0]


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- the bridge on an in-memory card ------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Bridge:
    card: Card
    clock: Clock
    http: TestClient[Any, Any] = field(init=False)
    opened: int = 0
    card_present: bool = True
    busy: int = 0
    most_busy: int = 0
    slow: float = 0.0

    async def post(
        self, path: str, data: dict[str, str] | str | bytes, **kw: Any
    ) -> tuple[int, str]:
        headers = {"Origin": self.origin_for(path), **kw.pop("headers", {})}
        if not isinstance(data, dict):
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        async with self.http.post(path, data=data, headers=headers, **kw) as r:
            return r.status, await r.text()

    def origin_for(self, path: str) -> str:
        """What a browser sends: the portal's origin on the portal's forms, the bridge's own on
        the bridge's."""
        return PORTAL if path in ("/login", "/sign") else str(self.http.make_url("/").origin())

    async def login_page(self, challenge: bytes | None = None, state: str = "s-1") -> Form:
        challenge = challenge or secrets.token_bytes(32)
        data = {"challenge": b64url(challenge), "return_to": LOGIN_DONE, "state": state}
        status, page = await self.post("/login", data)
        assert status == 200, page
        return form_of(page)

    async def sign_page(self, document: bytes = DOCUMENT.encode(), summary: str = SUMMARY) -> Form:
        data = {
            "document": b64url(document),
            "summary": summary,
            "return_to": SIGN_DONE,
            "state": "app-42",
        }
        status, page = await self.post("/sign", data)
        assert status == 200, page
        return form_of(page)

    async def confirm(self, form: Form, **secret: str) -> tuple[int, str]:
        return await self.post(form.action, {**form.fields, **secret})

    @contextlib.contextmanager
    def open(self) -> Iterator[CardClient]:
        """What ``renkei card bridge`` does per operation: open the card, use it, close it (a
        PC/SC close resets the card, so no verified PIN outlives the operation)."""
        if not self.card_present:
            raise NoCard("no reader holds a card")
        self.opened += 1
        self.busy += 1
        self.most_busy = max(self.most_busy, self.busy)
        try:
            time.sleep(self.slow)
            yield CardClient(MemoryTransport(self.card))
        finally:
            self.busy -= 1
            self.card.reset()


@pytest.fixture
async def bridge(card: Card) -> AsyncIterator[Bridge]:
    bridge = Bridge(card, Clock())
    app = create_bridge_app(
        bridge.open,
        portal_origins=[PORTAL, "https://portal.example"],
        sign_cms=sign_document_with,
        clock=bridge.clock,
    )
    bridge.http = TestClient(TestServer(app, host="127.0.0.1"))
    await bridge.http.start_server()
    try:
        yield bridge
    finally:
        await bridge.http.close()


# -- login --------------------------------------------------------------------------------------


async def test_login_round_trip_signs_the_challenge_with_the_auth_key(bridge: Bridge) -> None:
    challenge = secrets.token_bytes(32)
    pin_form = await bridge.login_page(challenge, state="opaque/state=1&x")
    assert pin_form.action == "/login/confirm" and pin_form.method == "post"
    assert set(pin_form.fields) == {"challenge", "return_to", "state", "nonce"}
    assert bridge.opened == 0  # nothing touches the card before the PIN
    status, page = await bridge.confirm(pin_form, pin=AUTH_PIN)
    assert status == 200, page
    assert f'"{AUTH_PIN}"' not in page  # the PIN goes nowhere
    back = form_of(page)
    assert (back.action, back.method) == (LOGIN_DONE, "post")
    assert set(back.fields) == {"challenge", "signature", "certificate", "state"}
    assert back.fields["challenge"] == b64url(challenge)
    assert back.fields["state"] == "opaque/state=1&x"
    assert "ポータルへ戻る (Continue to the portal)" in page
    cert = x509.load_der_x509_certificate(b64d(back.fields["certificate"]))
    assert cert.serial_number == issued().auth_serial
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(b64d(back.fields["signature"]), challenge, padding.PKCS1v15(), hashes.SHA256())
    assert bridge.opened == 1


async def test_a_wrong_pin_asks_again_with_the_tries_left(bridge: Bridge) -> None:
    pin_form = await bridge.login_page()
    status, page = await bridge.confirm(pin_form, pin="9999")
    assert status == 200
    assert "残り 2 回" in page and "wrong authentication PIN: 2 tries left" in page
    again = form_of(page)
    assert again.action == "/login/confirm"
    assert again.fields["nonce"] != pin_form.fields["nonce"]
    assert {k: v for k, v in again.fields.items() if k != "nonce"} == {
        k: v for k, v in pin_form.fields.items() if k != "nonce"
    }
    status, page = await bridge.confirm(again, pin=AUTH_PIN)
    assert status == 200 and form_of(page).action == LOGIN_DONE


async def test_a_pin_that_cannot_be_right_spends_no_try(bridge: Bridge) -> None:
    status, page = await bridge.confirm(await bridge.login_page(), pin="12a4")
    assert status == 200 and "no try was spent" in page
    status, page = await bridge.confirm(await bridge.login_page(), pin="0000")
    assert "2 tries left" in page  # still the first real try


async def test_a_blocked_pin_says_so_and_gives_no_form(bridge: Bridge) -> None:
    form = await bridge.login_page()
    for left in (2, 1):
        status, page = await bridge.confirm(form, pin="0000")
        assert f"{left} {'try' if left == 1 else 'tries'} left" in page
        form = form_of(page)
    status, page = await bridge.confirm(form, pin="0000")
    assert status == 403
    assert "暗証番号がロックされています (PIN blocked)" in page and "municipality" in page
    assert forms_of(page) == []
    status, page = await bridge.confirm(await bridge.login_page(), pin=AUTH_PIN)
    assert status == 403 and forms_of(page) == []


@pytest.mark.parametrize(
    "return_to",
    [
        "http://evil.example/login/complete",
        "https://127.0.0.1:8470/login/complete",  # another scheme is another origin
        "http://127.0.0.1:8471/login/complete",  # another port too
        "http://127.0.0.1:8470@evil.example/",
        "http://user@127.0.0.1:8470/",
        "/login/complete",
        "javascript:alert(1)",
        "http://127.0.0.1:8470/x#frag",
        "http://127.0.0.1:8470/\u3042",
        "",
    ],
)
async def test_a_foreign_return_to_is_refused(bridge: Bridge, return_to: str) -> None:
    data = {"challenge": b64url(secrets.token_bytes(32)), "return_to": return_to, "state": ""}
    status, page = await bridge.post("/login", data)
    assert status == 400
    assert "return_to" in page and forms_of(page) == []


async def test_return_to_with_a_default_port_matches_the_configured_origin(bridge: Bridge) -> None:
    data = {
        "challenge": b64url(secrets.token_bytes(32)),
        "return_to": "https://PORTAL.example/done?x=1",
        "state": "",
    }
    status, _ = await bridge.post("/login", data)
    assert status == 200


async def test_a_nonce_works_once(bridge: Bridge) -> None:
    form = await bridge.login_page()
    assert (await bridge.confirm(form, pin=AUTH_PIN))[0] == 200
    status, page = await bridge.confirm(form, pin=AUTH_PIN)
    assert status == 400 and "already used" in page
    assert bridge.opened == 1


async def test_an_expired_or_unknown_nonce_is_refused(bridge: Bridge) -> None:
    form = await bridge.login_page()
    bridge.clock.now += 301
    status, page = await bridge.confirm(form, pin=AUTH_PIN)
    assert status == 400 and "expired" in page
    status, page = await bridge.confirm(
        Form("/login/confirm", "post", {**form.fields, "nonce": "guess"}), pin=AUTH_PIN
    )
    assert status == 400 and "unknown" in page
    assert bridge.opened == 0


async def test_a_nonce_from_one_step_does_not_open_another(bridge: Bridge) -> None:
    login = await bridge.login_page()
    status, page = await bridge.post(
        "/sign/confirm", {**login.fields, "password": SIGN_PIN, "state": "s-1"}
    )
    assert status == 400 and "another step" in page


async def test_altered_hidden_fields_are_refused(bridge: Bridge) -> None:
    form = await bridge.login_page()
    form.fields["challenge"] = b64url(secrets.token_bytes(32))
    status, page = await bridge.confirm(form, pin=AUTH_PIN)
    assert status == 400 and "altered" in page
    assert bridge.opened == 0


async def test_a_pin_form_posted_from_another_site_is_refused(bridge: Bridge) -> None:
    form = await bridge.login_page()
    status, _ = await bridge.post(
        form.action, {**form.fields, "pin": AUTH_PIN}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert status == 403
    for origin in ("http://evil.example", "null", PORTAL):
        status, _ = await bridge.post(
            form.action, {**form.fields, "pin": AUTH_PIN}, headers={"Origin": origin}
        )
        assert status == 403, origin
    async with bridge.http.post(form.action, data={**form.fields, "pin": AUTH_PIN}) as r:
        assert r.status == 403  # no Origin at all
    assert bridge.opened == 0


async def test_the_start_may_come_only_from_a_portal(bridge: Bridge) -> None:
    data = {"challenge": b64url(secrets.token_bytes(32)), "return_to": LOGIN_DONE, "state": ""}
    assert (await bridge.post("/login", data, headers={"Origin": "http://evil.example"}))[0] == 403
    assert (await bridge.post("/login", data, headers={"Origin": PORTAL}))[0] == 200
    ok = {"Origin": "https://portal.example"}
    assert (await bridge.post("/login", data, headers=ok))[0] == 200


@pytest.mark.parametrize("path", ["/login", "/sign"])
async def test_a_start_with_a_null_or_no_origin_is_refused(bridge: Bridge, path: str) -> None:
    """Any site can send ``Origin: null`` (its page under ``Referrer-Policy: no-referrer``) and
    open the PIN page with its own summary; a browser always sends an Origin on a POST."""
    if path == "/login":
        data = {"challenge": b64url(secrets.token_bytes(32)), "return_to": LOGIN_DONE}
    else:
        data = {"document": b64url(b"x"), "summary": "another site's text", "return_to": SIGN_DONE}
    data["state"] = ""
    assert (await bridge.post(path, data))[0] == 200  # the portal's origin
    status, page = await bridge.post(path, data, headers={"Origin": "null"})
    assert status == 403 and "Origin: null" in page and 'type="password"' not in page
    async with bridge.http.post(
        path, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"}
    ) as r:
        assert r.status == 403 and "no Origin" in await r.text()
    assert len(bridge.http.app[BRIDGE].forms) == 1  # the good start's PIN form only


async def test_a_foreign_host_name_is_refused(bridge: Bridge) -> None:
    """DNS rebinding: a page at rebind.example resolved to 127.0.0.1 gets nothing."""
    async with bridge.http.get("/", headers={"Host": "rebind.example:8471"}) as r:
        assert r.status == 421
    async with bridge.http.get("/", headers={"Host": "localhost:8471"}) as r:
        assert r.status == 200


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("challenge", "why"),
    [
        ("not base64!", "not base64url"),
        ("AAAA+/AA", "not base64url"),  # standard alphabet
        (b64url(b"x" * 31), "must hold 32 bytes"),
        (b64url(b"x" * 33), "must hold 32 bytes"),
        (b64url(b"x" * 32)[:-1] + "B", "not canonical"),
        ("A", "not base64url"),
    ],
)
async def test_malformed_base64_is_refused(bridge: Bridge, challenge: str, why: str) -> None:
    status, page = await bridge.post(
        "/login", {"challenge": challenge, "return_to": LOGIN_DONE, "state": ""}
    )
    assert status == 400 and why in page


async def test_padded_base64_is_accepted_and_echoed_unchanged(bridge: Bridge) -> None:
    challenge = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    assert challenge.endswith("=")
    status, page = await bridge.post(
        "/login", {"challenge": challenge, "return_to": LOGIN_DONE, "state": ""}
    )
    assert status == 200
    status, page = await bridge.confirm(form_of(page), pin=AUTH_PIN)
    assert status == 200 and form_of(page).fields["challenge"] == challenge


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("return_to=x&state=", "'challenge' is missing"),
        ("challenge=a&challenge=b&return_to=x&state=", "appears twice"),
        ("challenge=%FF%FE&return_to=x&state=", "not valid UTF-8"),
        ("&".join(f"f{i}=1" for i in range(40)), "more than"),
    ],
)
async def test_broken_forms_are_refused(bridge: Bridge, body: str, why: str) -> None:
    status, page = await bridge.post("/login", body)
    assert status == 400 and why in unescape(page)


async def test_a_body_that_is_not_a_form_is_refused(bridge: Bridge) -> None:
    status, page = await bridge.post(
        "/login", b'{"challenge": "x"}', headers={"Content-Type": "application/json"}
    )
    assert status == 400 and "HTML form" in page
    status, page = await bridge.post("/login", b"challenge=\xff\xfe")
    assert status == 400 and "UTF-8" in page


async def test_an_oversized_body_gets_413(bridge: Bridge) -> None:
    status, page = await bridge.post("/sign", "summary=" + "A" * (MAX_BODY + 1))
    assert status == 413 and "128 KiB" in page
    assert bridge.opened == 0


async def test_an_oversized_document_is_refused(bridge: Bridge) -> None:
    data = {
        "document": b64url(b"x" * (64 * 1024 + 1)),
        "summary": "s",
        "return_to": SIGN_DONE,
        "state": "",
    }
    status, page = await bridge.post("/sign", data)
    assert status == 400 and "1 to 65536 bytes" in page


async def test_odd_unicode_in_the_summary_is_shown_escaped(bridge: Bridge) -> None:
    summary = (
        "<script>alert(\"x\")</script> & <b>太字</b>\n𠮷野家 e\u0301 ＡＢＣ 👨\u200d👩\u200d👧 'q'"
    )
    status, page = await bridge.post(
        "/sign",
        {"document": b64url(b"d"), "summary": summary, "return_to": SIGN_DONE, "state": ""},
    )
    assert status == 200
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;太字&lt;/b&gt;" in page
    assert "𠮷野家 e\u0301 ＡＢＣ 👨\u200d👩\u200d👧 &#x27;q&#x27;" in page


@pytest.mark.parametrize(
    ("summary", "code"),
    [
        ("pay \u202eTNEMYAP", "U+202E"),  # right-to-left override
        ("isolate \u2067x\u2069", "U+2067"),
        ("nul \x00", "U+0000"),
        ("escape \x1b[31m", "U+001B"),
        ("c1 \x85", "U+0085"),
        ("unassigned \U000e0fff", "U+E0FFF"),
        ("nonchar \ufffe", "U+FFFE"),
    ],
)
async def test_text_that_cannot_be_shown_safely_is_refused(
    bridge: Bridge, summary: str, code: str
) -> None:
    status, page = await bridge.post(
        "/sign",
        {"document": b64url(b"d"), "summary": summary, "return_to": SIGN_DONE, "state": ""},
    )
    assert status == 400 and code in page


async def test_state_and_summary_lengths_are_limited(bridge: Bridge) -> None:
    base = {"document": b64url(b"d"), "return_to": SIGN_DONE}
    status, page = await bridge.post("/sign", {**base, "summary": "s", "state": "x" * 201})
    assert status == 400 and "'state' is longer than 200" in unescape(page)
    status, page = await bridge.post("/sign", {**base, "summary": "s" * 2001, "state": ""})
    assert status == 400 and "'summary' is longer than 2000" in unescape(page)
    status, page = await bridge.post("/sign", {**base, "summary": " \n", "state": ""})
    assert status == 400 and "empty" in page
    status, page = await bridge.post("/sign", {**base, "summary": "s", "state": "a\nb"})
    assert status == 400 and "'state'" in unescape(page)


# -- signing -------------------------------------------------------------------------------------


async def test_sign_round_trip_makes_a_cms_the_relying_party_accepts(bridge: Bridge) -> None:
    document = DOCUMENT.encode()
    pin_form = await bridge.sign_page(document)
    assert pin_form.action == "/sign/confirm"
    assert set(pin_form.fields) == {"return_to", "state", "nonce"}
    status, page = await bridge.confirm(pin_form, password=SIGN_PIN)
    assert status == 200, page
    back = form_of(page)
    assert (back.action, set(back.fields)) == (SIGN_DONE, {"signed", "state"})
    assert back.fields["state"] == "app-42"
    signed = b64d(back.fields["signed"])
    doc = parse_signed(signed)
    assert doc.content == document
    check_signature(doc, document)
    assert doc.signer.serial_number == issued().sign_serial
    assert HIERARCHY.issuer(CaName.SIGNATURE).cert in doc.certificates
    ca = CertificationAuthority(HIERARCHY, holder_key=b"k" * 32, endpoints=Endpoints("http://x"))
    crl = RevocationSource(crl=ca.crl_bytes(CaName.SIGNATURE, serialization.Encoding.DER))
    trust = Trust.from_bundle(load_pem_bundle(HIERARCHY.chain_pem()))
    verified = await verify_signed(signed, None, trust, crl)
    assert verified.facts.name == RESIDENT.name


async def test_the_sign_page_shows_what_is_signed(bridge: Bridge) -> None:
    data = {
        "document": b64url(DOCUMENT.encode()),
        "summary": SUMMARY,
        "return_to": SIGN_DONE,
        "state": "",
    }
    status, page = await bridge.post("/sign", data)
    assert status == 200
    assert "転入届 (moving-in notification)\n新住所" in page
    assert f"{len(DOCUMENT.encode())} bytes" in page
    assert "署名用電子証明書のパスワード (signature password, 6–16 characters)" in page
    assert "http://127.0.0.1:8470" in page


async def test_a_wrong_signature_password_asks_again(bridge: Bridge) -> None:
    status, page = await bridge.confirm(await bridge.sign_page(), password="WRONG1")
    assert status == 200 and "wrong signature PIN: 4 tries left" in page
    status, page = await bridge.confirm(form_of(page), password=SIGN_PIN)
    assert status == 200 and form_of(page).action == SIGN_DONE


async def test_no_card_gives_503(bridge: Bridge) -> None:
    bridge.card_present = False
    status, page = await bridge.confirm(await bridge.login_page(), pin=AUTH_PIN)
    assert status == 503 and "カードが見つかりません (no card in the reader)" in page
    status, page = await bridge.confirm(await bridge.sign_page(), password=SIGN_PIN)
    assert status == 503 and "カードが見つかりません" in page


async def test_one_card_operation_at_a_time(bridge: Bridge) -> None:
    bridge.slow = 0.05
    forms = [await bridge.login_page() for _ in range(3)]
    results = await asyncio.gather(*(bridge.confirm(f, pin=AUTH_PIN) for f in forms))
    assert [status for status, _ in results] == [200, 200, 200]
    assert bridge.most_busy == 1 and bridge.opened == 3


# -- every answer ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/", 200), ("GET", "/login", 405), ("POST", "/nowhere", 404)],
)
async def test_every_answer_carries_the_security_headers(
    bridge: Bridge, method: str, path: str, status: int
) -> None:
    async with bridge.http.request(method, path) as r:
        assert r.status == status
        h = r.headers
        assert h["Content-Type"].startswith("text/html")
    csp = h["Content-Security-Policy"]
    for part in (
        "default-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
        "form-action 'self' http://127.0.0.1:8470 https://portal.example:443",
    ):
        assert part in csp
    assert "script-src" not in csp and "unsafe" not in csp
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "strict-origin"
    assert h["Cache-Control"] == "no-store"
