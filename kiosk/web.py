"""The kiosk's screen as a web page: ``create_app(open_client, centre_url=…, own_origin=…)``.

| route | screen |
|---|---|
| ``GET /`` | 「マイナンバーカードを置いてください」; closed (the centre's hours); out of service |
| ``POST /start`` | the card read (its PIN's tries left): the keypad, or the lock-out |
| ``POST /pin`` | a key of the keypad; 確定: the card signs the centre's challenge after the PIN |
| ``POST /choose`` | a certificate of the menu: the centre's quote, the fee screen (or the year's) |
| ``POST /year`` | the tax certificate's fiscal year: the fee screen |
| ``POST /copies`` | 部数 on the fee screen: the fee quoted again |
| ``POST /back`` | from the year or the fee screen back to the menu |
| ``POST /order`` | お支払いへ: the order to the centre, the municipality's PDF held; the payment |
| ``POST /pay`` | a coin, a note or e-money; complete: each copy printed (saved) and shown |
| ``POST /cancel`` | 中止 / 終了: the transaction ends (中止 in the payment gives the money back) |
| ``GET /printed/{token}.pdf`` | the PDF just printed (this transaction's only) |
| ``GET /static/…`` | the stylesheet |

Plain HTML forms, no script: the CSP allows no script at all, styles only from /static. A POST
must carry the kiosk's own ``Origin`` (or ``Referer``) and the current transaction's token; a
request to another host name is 421 (DNS rebinding). One transaction at a time: the screen is
one machine's.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import aiohttp
from aiohttp import web

from card_service.exceptions import CardError, CardRemoved, NoCard
from card_service.reader.serial import CardOpener, SerialCard
from hub.log import get_logger
from hub.web import headers_on_prepare, origin_allowed, origin_of, security_headers
from kiosk.centre import Centre
from kiosk.exceptions import KIOSK_CROSS_SITE, CentreRefused, FormRefused, KioskError
from kiosk.screens import (
    AGAIN,
    Current,
    back,
    cancel,
    choose,
    copies,
    current_screen,
    get_idle,
    number,
    order,
    pay_in,
    pin,
    printed,
    refused_screen,
    start,
    year,
)
from kiosk.state import KIOSK, Kiosk, kiosk_of, make_templates, message

__all__ = ["CSP", "DEFAULT_PORT", "KIOSK", "MAX_BODY", "Kiosk", "create_app"]

log = get_logger("kiosk.web")
DEFAULT_PORT = 8491
MAX_BODY = 4 * 1024  # a form of the kiosk's screens is a few dozen bytes
STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- every answer ----------------------------------------------------------------------------


@web.middleware
async def boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Foreign host names (421: DNS rebinding) and posts from another site (403)."""
    own = kiosk_of(request).own
    if origin_of(f"{request.scheme}://{request.host}") != own:
        return message(request, "このアドレスでは応答しません", "misdirected request", 421)
    if request.method == "POST" and not origin_allowed(
        request.headers.get("Origin"), request.headers.get("Referer"), {own}
    ):
        log.warning("kiosk refused", code=KIOSK_CROSS_SITE, path=request.path)
        return message(request, "この操作は受け付けられません", "cross-site request refused", 403)
    return await handler(request)


_HTTP = {413: "送信が大きすぎます", 415: "送信の形式が正しくありません"}


@web.middleware
async def screens(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as a screen that says what to do; a card error ends the transaction."""
    try:
        return await handler(request)
    except CentreRefused as exc:
        return refused_screen(request, exc)
    except FormRefused as exc:
        return message(request, "最初からやり直してください", exc.message, 400)
    except CardError as exc:
        kiosk_of(request).end()
        gone = isinstance(exc, NoCard | CardRemoved)  # put down again; else the card is odd
        if not gone:
            log.warning("kiosk card error", code=exc.code)
        return message(
            request, "カードが読み取れません", f"{AGAIN}({exc.message})", 200 if gone else 502
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        text = _HTTP.get(exc.status, exc.reason)
        return message(request, f"HTTP {exc.status}", text, exc.status)
    except KioskError as exc:
        return message(request, "エラーが発生しました", exc.message, 500)


@web.middleware
async def one_at_a_time(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One screen: one touch at a time, in order; a second touch of a button whose screen has
    gone (a double tap on お支払いへ, a coin after the payment is complete) shows the screen
    on show and does nothing again."""
    if request.method == "GET" and request.path != "/":
        return await handler(request)
    async with kiosk_of(request).lock:
        try:
            return await handler(request)
        except Current:
            return current_screen(request)


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
        templates=make_templates(),
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
    app.router.add_post("/year", year)
    app.router.add_post("/copies", copies)
    app.router.add_post("/back", back)
    app.router.add_post("/order", order)
    app.router.add_post("/pay", pay_in)
    app.router.add_post("/number", number)
    app.router.add_post("/cancel", cancel)
    app.router.add_get("/printed/{t}.pdf", printed)
    app.router.add_static("/static", STATIC)
    return app
