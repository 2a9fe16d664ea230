"""The card bridge: a localhost web service that does the card's part of a portal's login and
signing, so the PIN never reaches the portal. Plain HTML forms, no script (README "Bridge").

| route | from | what |
|---|---|---|
| ``POST /login`` | the portal's form | the authentication-PIN page |
| ``POST /login/confirm`` | the bridge's PIN page | sign the challenge; a form back to the portal |
| ``POST /sign`` | the portal's form | the summary and the signature-password page |
| ``POST /sign/confirm`` | the bridge's page | CMS SignedData; a form back to the portal |

``create_bridge_app(open_client, portal_origins=…, sign_cms=…)``: ``open_client`` opens the
card for one operation (a context manager giving a :class:`CardClient`); ``sign_cms`` builds
CMS SignedData around the card's signature (``pki.cms.sign_document_with``, passed in by the
composition root: the card service does not import the PKI). Card I/O runs in a thread, one
operation at a time. The pure parts: :mod:`forms` (fields, origins, nonces) and
:mod:`pages` (HTML, headers).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from aiohttp import web
from cryptography import x509

from card_service.bridge.forms import (
    CHALLENGE_BYTES,
    MAX_DOCUMENT,
    MAX_STATE,
    MAX_SUMMARY,
    Origin,
    Pending,
    PendingForms,
    b64url,
    origin_of,
    parse_b64url,
    parse_form,
    parse_origin,
    parse_return_to,
    parse_text,
)
from card_service.bridge.forms import field as form_field
from card_service.bridge.pages import (
    failure,
    message_page,
    pin_page,
    return_page,
    security_headers,
)
from card_service.card.layout import JPKI_SIGN_CA
from card_service.exceptions import CardError, FormError, PinBlocked, PinFormatError, WrongPin
from card_service.reader import jpki
from card_service.reader.client import CardClient
from card_service.reader.serial import CardOpener, SerialCard
from hub.log import get_logger

__all__ = [
    "BRIDGE",
    "DEFAULT_PORT",
    "LOOPBACK",
    "MAX_BODY",
    "Bridge",
    "CardOpener",
    "CmsBuilder",
    "create_bridge_app",
]

log = get_logger("card_service.bridge.app")
DEFAULT_PORT = 8471
MAX_BODY = 128 * 1024
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")


class CmsBuilder(Protocol):
    """Attached CMS SignedData over ``data`` for ``cert``; ``signer`` signs the DER signed
    attributes (RSA PKCS#1 v1.5, SHA-256) — ``pki.cms.sign_document_with``."""

    def __call__(
        self,
        data: bytes,
        cert: x509.Certificate,
        signer: Callable[[bytes], bytes],
        *,
        chain: Sequence[x509.Certificate] = (),
    ) -> bytes: ...


@dataclass(slots=True)
class Bridge:
    open_client: CardOpener
    sign_cms: CmsBuilder
    portals: tuple[Origin, ...]
    hosts: frozenset[str]
    forms: PendingForms
    headers: dict[str, str]
    card: SerialCard = field(init=False)

    def __post_init__(self) -> None:
        self.card = SerialCard(self.open_client)

    async def on_card(self, work: Callable[[CardClient], T]) -> T:
        """``work`` on a freshly opened card in a thread; one card operation at a time."""
        return await self.card.run(work)


BRIDGE = web.AppKey("bridge", Bridge)
routes = web.RouteTableDef()


# -- the card's work (in the thread) ------------------------------------------------------------


def _login_on_card(client: CardClient, pin: str, challenge: bytes) -> tuple[bytes, bytes]:
    signature = jpki.sign(client, "auth", pin, challenge)
    return signature, jpki.read_certificate(client, "auth", None)


def _sign_on_card(client: CardClient, password: str, document: bytes, cms: CmsBuilder) -> bytes:
    try:
        cert = x509.load_der_x509_certificate(jpki.read_certificate(client, "sign", password))
        ca = x509.load_der_x509_certificate(client.read_ef(JPKI_SIGN_CA, "signature CA"))
    except ValueError:
        raise CardError("the card's signature certificate does not parse") from None
    try:
        return cms(
            document, cert, lambda attrs: jpki.sign(client, "sign", password, attrs), chain=[ca]
        )
    except CardError:
        raise
    except Exception as exc:  # the builder's own refusal, e.g. the key does not match the cert
        raise CardError(f"the signature could not be made: {exc}") from exc


# -- HTTP -----------------------------------------------------------------------------------------


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise FormError("send an HTML form (application/x-www-form-urlencoded)")
    return parse_form(await request.read())


def _check_origin(request: web.Request, allowed: set[str]) -> None:
    """The ``Origin`` must be an expected sender's. Browsers send one on every POST, so none at
    all is not a browser's form; ``null`` (an opaque origin: a page that hides its origin with
    ``Referrer-Policy: no-referrer``, a sandboxed frame, a data: URL) could be any site."""
    origin = request.headers.get("Origin")
    if origin is None or origin.lower() not in allowed:
        why = {None: " (no Origin)", "null": " (Origin: null)"}.get(origin, "")
        raise web.HTTPForbidden(
            reason=f"this page may be posted only by the portal or the bridge{why}"
        )


def _from_portal(request: web.Request) -> None:
    portals = request.app[BRIDGE].portals
    allowed = {str(o) for o in portals} | {
        f"{o.scheme}://{o.host}" for o in portals if o.port == (443 if o.scheme == "https" else 80)
    }
    _check_origin(request, allowed)


def _from_self(request: web.Request) -> None:
    if request.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
        raise web.HTTPForbidden(reason="the PIN form may be posted only from the bridge's own page")
    _check_origin(request, {f"{request.scheme}://{request.host}".lower()})


def _take(request: web.Request, form: dict[str, str], kind: str) -> Pending:
    """The request behind the form's nonce; the echoed fields must be the ones shown."""
    pending = request.app[BRIDGE].forms.take(form_field(form, "nonce"), kind)
    echoed = {"return_to": pending.return_to, "state": pending.state}
    if kind == "login":
        echoed["challenge"] = pending.challenge
    if any(form.get(name) != value for name, value in echoed.items()):
        raise FormError("the form was altered: start again from the portal")
    parse_return_to(pending.return_to, request.app[BRIDGE].portals)
    return pending


def _ask(request: web.Request, pending: Pending, error: str | None = None) -> web.Response:
    bridge = request.app[BRIDGE]
    nonce = bridge.forms.issue(pending)
    origin = str(origin_of(pending.return_to))
    return _html(pin_page(pending, nonce, origin, error=error))


def _again(exc: WrongPin | PinFormatError, kind: str) -> str:
    what = "暗証番号" if kind == "login" else "パスワード"
    if isinstance(exc, WrongPin):
        return f"{what}が違います。残り {exc.tries_left} 回 ({exc.message})"
    return f"{what}の形式が違います。カードには送っていません ({exc.message}; no try was spent)"


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    return _html(
        message_page(
            "カードブリッジ (card bridge)",
            "このサービスはポータルからの要求を待っています。"
            "This service waits for the portal: log in or sign there.",
        )
    )


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    _from_portal(request)
    form = await _form(request)
    challenge = form_field(form, "challenge")
    parse_b64url(challenge, "challenge", size=CHALLENGE_BYTES)
    pending = Pending(
        "login",
        return_to=parse_return_to(form_field(form, "return_to"), request.app[BRIDGE].portals),
        state=parse_text(form_field(form, "state"), "state", MAX_STATE),
        challenge=challenge,
    )
    return _ask(request, pending)


@routes.post("/login/confirm")
async def login_confirm(request: web.Request) -> web.Response:
    _from_self(request)
    form = await _form(request)
    pending = _take(request, form, "login")
    pin = form_field(form, "pin")
    challenge = parse_b64url(pending.challenge, "challenge", size=CHALLENGE_BYTES)
    try:
        signature, cert = await request.app[BRIDGE].on_card(
            lambda c: _login_on_card(c, pin, challenge)
        )
    except (WrongPin, PinFormatError) as exc:
        log.info("bridge login", outcome=exc.code)
        return _ask(request, pending, _again(exc, pending.kind))
    log.info("bridge login", outcome="signed")
    fields = {
        "challenge": pending.challenge,
        "signature": b64url(signature),
        "certificate": b64url(cert),
        "state": pending.state,
    }
    done = "カードでログインの署名をしました。The card signed the login challenge."
    return _html(return_page(pending.return_to, fields, done))


@routes.post("/sign")
async def sign(request: web.Request) -> web.Response:
    _from_portal(request)
    form = await _form(request)
    pending = Pending(
        "sign",
        return_to=parse_return_to(form_field(form, "return_to"), request.app[BRIDGE].portals),
        state=parse_text(form_field(form, "state"), "state", MAX_STATE),
        document=parse_b64url(form_field(form, "document"), "document", limit=MAX_DOCUMENT),
        summary=parse_text(form_field(form, "summary"), "summary", MAX_SUMMARY, lines=True),
    )
    if not pending.summary.strip():
        raise FormError("the field 'summary' is empty: the resident must see what they sign")
    return _ask(request, pending)


@routes.post("/sign/confirm")
async def sign_confirm(request: web.Request) -> web.Response:
    _from_self(request)
    form = await _form(request)
    pending = _take(request, form, "sign")
    password = form_field(form, "password")
    bridge = request.app[BRIDGE]
    try:
        signed = await bridge.on_card(
            lambda c: _sign_on_card(c, password, pending.document, bridge.sign_cms)
        )
    except (WrongPin, PinFormatError) as exc:
        log.info("bridge sign", outcome=exc.code)
        return _ask(request, pending, _again(exc, pending.kind))
    log.info("bridge sign", outcome="signed", size=len(pending.document))
    done = "カードで署名しました。The card signed the document."
    return _html(
        return_page(pending.return_to, {"signed": b64url(signed), "state": pending.state}, done)
    )


# -- every answer -------------------------------------------------------------------------------


def _host_of(request: web.Request) -> str:
    host = request.host.lower()
    if host.startswith("[") and "]" in host:
        return host[: host.index("]") + 1]
    return host.split(":")[0]


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse foreign Host names (DNS rebinding), and answer every error as a page."""
    if _host_of(request) not in request.app[BRIDGE].hosts:
        title = "このアドレスでは応答しません (misdirected request)"
        return _html(message_page(title, "use http://127.0.0.1 or http://localhost"), 421)
    try:
        return await handler(request)
    except CardError as exc:
        status, title, message = failure(exc)
        if status >= 500 or isinstance(exc, PinBlocked):
            log.warning("bridge refused", code=exc.code, status=status)
        return _html(message_page(title, message), status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            text = f"送信データが大きすぎます (the request is over {MAX_BODY // 1024} KiB)"
            return _html(message_page("要求が大きすぎます (too large)", text), 413)
        return _html(message_page(f"HTTP {exc.status}", exc.reason), exc.status)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(request.app[BRIDGE].headers)


def create_bridge_app(
    open_client: CardOpener,
    *,
    portal_origins: Sequence[str],
    sign_cms: CmsBuilder,
    hosts: Sequence[str] = LOOPBACK,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    """The bridge for these portals; it answers only requests addressed to ``hosts``."""
    portals = tuple(dict.fromkeys(parse_origin(o) for o in portal_origins))
    if not portals:
        raise FormError("the bridge needs at least one portal origin")
    app = web.Application(client_max_size=MAX_BODY, middlewares=[guard])
    app[BRIDGE] = Bridge(
        open_client=open_client,
        sign_cms=sign_cms,
        portals=portals,
        hosts=frozenset(h.lower() for h in hosts),
        forms=PendingForms(clock),
        headers=security_headers(portals),
    )
    app.router.add_routes(routes)
    app.on_response_prepare.append(_headers)
    return app
