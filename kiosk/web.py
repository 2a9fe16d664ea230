"""The kiosk's screen as a web page: ``create_app(open_client, centre_url=…, own_origin=…)``.

| route | screen |
|---|---|
| ``GET /`` | 「マイナンバーカードを置いてください」; closed (the centre's hours); out of service |
| ``POST /start`` | the card read (its PIN's tries left): the keypad, or the lock-out |
| ``POST /pin`` | a key of the keypad; 確定: the card signs the centre's challenge after the PIN |
| ``POST /choose`` | a certificate of the menu: the centre's quote, the fee screen |
| ``POST /back`` | from the fee screen back to the menu |
| ``POST /print`` | the order to the centre: the municipality's signed PDF, saved and shown |
| ``POST /cancel`` | 中止 / 終了: the transaction ends |
| ``GET /printed/{token}.pdf`` | the PDF just printed (this transaction's only) |
| ``GET /static/…`` | the stylesheet |

Plain HTML forms, no script: the CSP allows no script at all, styles only from /static. A POST
must carry the kiosk's own ``Origin`` (or ``Referer``) and the current transaction's token; a
request to another host name is 421 (DNS rebinding). One transaction at a time: the screen is
one machine's.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import jinja2
from aiohttp import web

from card_service.exceptions import CardError, CardRemoved, NoCard, PinBlocked, WrongPin
from card_service.reader.serial import CardOpener, SerialCard
from hub.log import get_logger
from hub.web import (
    headers_on_prepare,
    origin_allowed,
    origin_of,
    security_headers,
    templates,
    token_matches,
)
from kiosk.card import sign_challenge, tries_left
from kiosk.centre import Centre
from kiosk.exceptions import (
    KIOSK_CROSS_SITE,
    CentreRefused,
    FormRefused,
    KioskError,
)
from kiosk.flow import (
    MENU,
    PIN_LENGTH,
    Printed,
    Screen,
    Signed,
    Transaction,
    locked_screen,
    press,
    refusal_screen,
    wrong_pin,
)

__all__ = ["CSP", "DEFAULT_PORT", "KIOSK", "MAX_BODY", "Kiosk", "create_app"]

log = get_logger("kiosk.web")
DEFAULT_PORT = 8491
MAX_BODY = 4 * 1024  # a form of the kiosk's screens is a few dozen bytes
MAX_FIELD = 64
STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
FORM_TYPE = "application/x-www-form-urlencoded"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class Kiosk:
    card: SerialCard
    centre_url: str
    own: str  # the kiosk's origin, as its browser reaches it
    printed_dir: Path | None
    templates: jinja2.Environment
    clock: Callable[[], float]
    refusals: Mapping[str, str]  # a refusal's code → the name of its screen (flow.SCREENS)
    centre: Centre | None = None
    current: Transaction | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ended: tuple[str, Screen] | None = None  # the last transaction's token and last screen

    @property
    def to_centre(self) -> Centre:
        assert self.centre is not None, "the kiosk's client session starts with the app"
        return self.centre

    def end(self, screen: Screen | None = None) -> None:
        """The transaction ends; ``screen``, its last (a refusal, the lock-out), is kept for
        a second touch of the button that led to it."""
        self.ended = (self.current.token, screen) if self.current and screen else None
        self.current = None


KIOSK = web.AppKey("kiosk", Kiosk)


def _kiosk(request: web.Request) -> Kiosk:
    return request.app[KIOSK]


def _render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    kiosk = _kiosk(request)
    text = kiosk.templates.get_template(name).render(tx=kiosk.current, **context)
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _message(request: web.Request, title: str, text: str, status: int = 200) -> web.Response:
    return _render(request, "message.html", status, title=title, text=text)


async def _form(request: web.Request, allowed: frozenset[str]) -> dict[str, str]:
    """The posted form: URL-encoded, UTF-8, only ``allowed`` names, each once and short."""
    if request.content_type != FORM_TYPE:
        raise web.HTTPUnsupportedMediaType(reason=f"only {FORM_TYPE} is accepted")
    try:
        text = (await request.read()).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        raise FormRefused("送信の形式が正しくありません (not a form)") from None
    form = dict(pairs)
    if len(form) != len(pairs) or not set(form) <= allowed:
        raise FormRefused("この画面の送信ではありません (unexpected fields)")
    if any(len(v) > MAX_FIELD for v in form.values()):
        raise FormRefused("送信の内容が長すぎます (a field is too long)")
    return form


async def _transaction(
    request: web.Request, stages: tuple[str, ...], *names: str
) -> tuple[Transaction, dict[str, str]]:
    """The current transaction, when the form carries its token and its screen is one of
    ``stages``; the form's other fields are ``names``."""
    kiosk = _kiosk(request)
    form = await _form(request, frozenset({"t", *names}))
    tx, now = kiosk.current, kiosk.clock()
    if tx is not None and tx.expired(now):
        kiosk.end()
        tx = None
    if tx is None and kiosk.ended and token_matches(kiosk.ended[0], form.get("t")):
        raise _Current  # a second touch of the button that ended it
    if tx is None or not token_matches(tx.token, form.get("t")):
        raise FormRefused("この画面は終了しています。最初からやり直してください (stale screen)")
    tx.at = now
    if tx.stage not in stages:  # a second touch of a button whose screen has gone
        raise _Current
    return tx, form


class _Current(Exception):
    """A post of this transaction's earlier screen (a double touch): nothing is done again,
    the screen on show is shown."""


def _current(request: web.Request) -> web.Response:
    kiosk = _kiosk(request)
    tx = kiosk.current
    if tx is None:
        assert kiosk.ended is not None  # _transaction raised for it
        return _message(request, kiosk.ended[1].title, kiosk.ended[1].text)
    if tx.stage == "pin":
        return _render(request, "pin.html", error="")
    if tx.stage == "choose":
        return _render(request, "choose.html", menu=MENU)
    return _render(request, f"{tx.stage}.html", choice=MENU[tx.choice])


def _refused(request: web.Request, exc: CentreRefused) -> web.Response:
    screen = refusal_screen(exc.refusal, exc.message, _kiosk(request).refusals)
    _kiosk(request).end(screen)
    log.info("kiosk refused", code=exc.refusal)
    return _message(request, screen.title, screen.text)


def _closed(request: web.Request, why: str) -> web.Response:
    """Closed: the screen says the hours and asks nothing (the centre's words go to the log)."""
    log.info("kiosk closed", why=why[:200])
    return _render(request, "closed.html")


# -- the screens -----------------------------------------------------------------------------


async def idle(request: web.Request, notice: str = "", status: int = 200) -> web.Response:
    kiosk = _kiosk(request)
    kiosk.end()
    closed = await kiosk.to_centre.status()
    if closed is not None:
        return _closed(request, closed)
    return _render(request, "idle.html", status, notice=notice)


async def start(request: web.Request) -> web.Response:
    kiosk = _kiosk(request)
    await _form(request, frozenset())
    kiosk.end()
    if (closed := await kiosk.to_centre.status()) is not None:
        return _closed(request, closed)
    try:
        tries = await kiosk.card.run(tries_left)
    except (NoCard, CardRemoved):
        return await idle(request, f"カードが読み取れません。{_AGAIN}")
    if tries == 0:
        screen = locked_screen()
        return _message(request, screen.title, screen.text)
    kiosk.current = Transaction(tries=tries, at=kiosk.clock())
    return _render(request, "pin.html", error="")


async def pin(request: web.Request) -> web.Response:
    kiosk = _kiosk(request)
    tx, form = await _transaction(request, ("pin",), "key")
    key = form.get("key", "")
    if key != "ok":
        tx.digits = press(tx.digits, key)
        return _render(request, "pin.html", error="")
    entered, tx.digits = tx.digits, ""
    if len(entered) != PIN_LENGTH:
        error = f"暗証番号（数字{PIN_LENGTH}桁）を入力してください。"
        return _render(request, "pin.html", error=error)
    text = await kiosk.to_centre.challenge()
    challenge = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    try:
        signature, certificate = await kiosk.card.run(
            lambda c: sign_challenge(c, entered, challenge)
        )
    except WrongPin as exc:
        tx.tries = exc.tries_left
        log.info("kiosk pin", outcome=exc.code)
        return _render(request, "pin.html", error=wrong_pin(exc.tries_left))
    except PinBlocked:
        screen = locked_screen()
        kiosk.end(screen)
        log.info("kiosk pin", outcome=PinBlocked.code)
        return _message(request, screen.title, screen.text)
    tx.signed = Signed(text, signature, certificate)
    tx.stage = "choose"
    return _render(request, "choose.html", menu=MENU)


async def choose(request: web.Request) -> web.Response:
    tx, form = await _transaction(request, ("choose",), "item")
    choice = MENU.get(form.get("item", ""))
    if choice is None:
        raise FormRefused("この証明書は選べません (not on the menu)")
    tx.quote = await _kiosk(request).to_centre.quote(choice.kind, choice.options)
    tx.choice = form["item"]
    tx.stage = "confirm"
    return _render(request, "confirm.html", choice=choice)


async def back(request: web.Request) -> web.Response:
    tx, _ = await _transaction(request, ("confirm",))
    tx.stage, tx.quote = "choose", None
    return _render(request, "choose.html", menu=MENU)


async def print_(request: web.Request) -> web.Response:
    kiosk = _kiosk(request)
    tx, _ = await _transaction(request, ("confirm",))
    choice = MENU[tx.choice]
    assert tx.signed is not None  # the PIN screen put it there before the menu
    issued = await kiosk.to_centre.issue(tx.signed, choice.kind, choice.options)
    name = f"{issued.record_id}.pdf"
    if kiosk.printed_dir is not None:
        await _save(kiosk.printed_dir / name, issued.pdf)
    tx.printed = Printed(issued.pdf, issued.fee, issued.record_id, name)
    tx.stage, tx.signed = "done", None
    log.info("kiosk printed", kind=choice.kind, fee=issued.fee, record_id=issued.record_id)
    return _render(request, "done.html", choice=choice)


async def _save(path: Path, pdf: bytes) -> None:
    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pdf)

    await asyncio.to_thread(write)


async def cancel(request: web.Request) -> web.Response:
    await _transaction(request, ("pin", "choose", "confirm", "done"))
    _kiosk(request).end()
    return web.Response(status=303, headers={"Location": "/"})


async def printed(request: web.Request) -> web.Response:
    tx = _kiosk(request).current
    if tx is None or tx.printed is None or not token_matches(tx.token, request.match_info["t"]):
        raise web.HTTPNotFound
    return web.Response(
        body=tx.printed.pdf,
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{tx.printed.name}"'},
    )


async def get_idle(request: web.Request) -> web.Response:
    return await idle(request)


# -- every answer ----------------------------------------------------------------------------


@web.middleware
async def boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Foreign host names (421: DNS rebinding) and posts from another site (403)."""
    own = _kiosk(request).own
    if origin_of(f"{request.scheme}://{request.host}") != own:
        return _message(request, "このアドレスでは応答しません", "misdirected request", 421)
    if request.method == "POST" and not origin_allowed(
        request.headers.get("Origin"), request.headers.get("Referer"), {own}
    ):
        log.warning("kiosk refused", code=KIOSK_CROSS_SITE, path=request.path)
        return _message(request, "この操作は受け付けられません", "cross-site request refused", 403)
    return await handler(request)


_AGAIN = "カードを置き直して、最初からやり直してください。"
_HTTP = {413: "送信が大きすぎます", 415: "送信の形式が正しくありません"}


@web.middleware
async def screens(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as a screen that says what to do; a card error ends the transaction."""
    try:
        return await handler(request)
    except CentreRefused as exc:
        return _refused(request, exc)
    except FormRefused as exc:
        return _message(request, "最初からやり直してください", exc.message, 400)
    except CardError as exc:
        _kiosk(request).end()
        gone = isinstance(exc, NoCard | CardRemoved)  # put down again; else the card is odd
        if not gone:
            log.warning("kiosk card error", code=exc.code)
        return _message(
            request, "カードが読み取れません", f"{_AGAIN}({exc.message})", 200 if gone else 502
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        text = _HTTP.get(exc.status, exc.reason)
        return _message(request, f"HTTP {exc.status}", text, exc.status)
    except KioskError as exc:
        return _message(request, "エラーが発生しました", exc.message, 500)


@web.middleware
async def one_at_a_time(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One screen: one touch at a time, in order; a second touch of a button whose screen has
    gone (a double tap on 印刷) shows the screen on show and does nothing again."""
    if request.method == "GET" and request.path != "/":
        return await handler(request)
    async with _kiosk(request).lock:
        try:
            return await handler(request)
        except _Current:
            return _current(request)


def create_app(
    open_client: CardOpener,
    *,
    centre_url: str,
    own_origin: str,
    refusals: Mapping[str, str],
    printed_dir: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    """The kiosk: its card (``open_client()`` opens it for one operation), the centre at
    ``centre_url``, reached by its browser at ``own_origin``; printed PDFs saved in
    ``printed_dir``; ``refusals`` names the screen (``kiosk.flow.SCREENS``) of each refusal
    code the centre may answer, the kiosk's own ``kiosk.centre_unavailable`` included."""
    own = origin_of(own_origin)
    if own is None or origin_of(centre_url) is None:
        raise ValueError("own_origin and centre_url must be http(s) URLs")
    app = web.Application(client_max_size=MAX_BODY, middlewares=[boundary, screens, one_at_a_time])
    app[KIOSK] = Kiosk(
        card=SerialCard(open_client),
        centre_url=centre_url,
        own=own,
        printed_dir=printed_dir,
        templates=_templates(),
        clock=clock,
        refusals=refusals,
    )

    async def session(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as http:
            app[KIOSK].centre = Centre(http, centre_url)
            yield

    app.cleanup_ctx.append(session)
    headers = security_headers(CSP, hsts=own.startswith("https:"))
    app.on_response_prepare.append(headers_on_prepare(headers))
    app.router.add_get("/", get_idle)
    app.router.add_post("/start", start)
    app.router.add_post("/pin", pin)
    app.router.add_post("/choose", choose)
    app.router.add_post("/back", back)
    app.router.add_post("/print", print_)
    app.router.add_post("/cancel", cancel)
    app.router.add_get("/printed/{t}.pdf", printed)
    app.router.add_static("/static", STATIC)
    return app


def _yen(n: int) -> str:
    return f"{n:,}"


def _templates() -> jinja2.Environment:
    env = templates("kiosk")
    env.filters["yen"] = _yen
    env.globals["PIN_LENGTH"] = PIN_LENGTH
    return env
