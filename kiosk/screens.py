"""The kiosk's screens: one handler per button (``kiosk.web`` routes them), and the screens
of a refusal, of closed hours, and of the transaction's current stage."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from aiohttp import web

from card_service.exceptions import CardRemoved, NoCard, PinBlocked, WrongPin
from hub.log import get_logger
from hub.web import token_matches
from kiosk.card import sign_challenge, tries_left
from kiosk.exceptions import CentreRefused, FormRefused
from kiosk.flow import (
    MENU,
    NUMBERED,
    PIN_LENGTH,
    Printed,
    Signed,
    Transaction,
    locked_screen,
    ordered,
    press,
    refusal_screen,
    wrong_pin,
)
from kiosk.state import kiosk_of, message, read_form, render

__all__ = [
    "AGAIN",
    "Current",
    "back",
    "cancel",
    "choose",
    "closed_screen",
    "current_screen",
    "get_idle",
    "number",
    "pin",
    "print_",
    "printed",
    "refused_screen",
    "start",
]

log = get_logger("kiosk.screens")
AGAIN = "カードを置き直して、最初からやり直してください。"


async def transaction(
    request: web.Request, stages: tuple[str, ...], *names: str
) -> tuple[Transaction, dict[str, str]]:
    """The current transaction, when the form carries its token and its screen is one of
    ``stages``; the form's other fields are ``names``."""
    kiosk = kiosk_of(request)
    form = await read_form(request, frozenset({"t", *names}))
    tx, now = kiosk.current, kiosk.clock()
    if tx is not None and tx.expired(now):
        kiosk.end()
        tx = None
    if tx is None and kiosk.ended and token_matches(kiosk.ended[0], form.get("t")):
        raise Current  # a second touch of the button that ended it
    if tx is None or not token_matches(tx.token, form.get("t")):
        raise FormRefused("この画面は終了しています。最初からやり直してください (stale screen)")
    tx.at = now
    if tx.stage not in stages:  # a second touch of a button whose screen has gone
        raise Current
    return tx, form


class Current(Exception):
    """A post of this transaction's earlier screen (a double touch): nothing is done again,
    the screen on show is shown."""


def current_screen(request: web.Request) -> web.Response:
    kiosk = kiosk_of(request)
    tx = kiosk.current
    if tx is None:
        assert kiosk.ended is not None  # _transaction raised for it
        return message(request, kiosk.ended[1].title, kiosk.ended[1].text)
    if tx.stage == "pin":
        return render(request, "pin.html", error="")
    if tx.stage == "choose":
        return render(request, "choose.html", menu=MENU)
    if tx.stage == "confirm":
        return _confirm(request, tx)
    return render(request, f"{tx.stage}.html", choice=MENU[tx.choice])


def refused_screen(request: web.Request, exc: CentreRefused) -> web.Response:
    screen = refusal_screen(exc.refusal, exc.message, kiosk_of(request).refusals)
    kiosk_of(request).end(screen)
    log.info("kiosk refused", code=exc.refusal)
    return message(request, screen.title, screen.text)


def closed_screen(request: web.Request, why: str) -> web.Response:
    """Closed: the screen says the hours and asks nothing (the centre's words go to the log)."""
    log.info("kiosk closed", why=why[:200])
    return render(request, "closed.html")


# -- the screens -----------------------------------------------------------------------------


async def idle(request: web.Request, notice: str = "", status: int = 200) -> web.Response:
    kiosk = kiosk_of(request)
    kiosk.end()
    closed = await kiosk.to_centre.status()
    if closed is not None:
        return closed_screen(request, closed)
    return render(request, "idle.html", status, notice=notice)


async def start(request: web.Request) -> web.Response:
    kiosk = kiosk_of(request)
    await read_form(request, frozenset())
    kiosk.end()
    if (closed := await kiosk.to_centre.status()) is not None:
        return closed_screen(request, closed)
    try:
        tries = await kiosk.card.run(tries_left)
    except (NoCard, CardRemoved):
        return await idle(request, f"カードが読み取れません。{AGAIN}")
    if tries == 0:
        screen = locked_screen()
        return message(request, screen.title, screen.text)
    kiosk.current = Transaction(tries=tries, at=kiosk.clock())
    return render(request, "pin.html", error="")


async def pin(request: web.Request) -> web.Response:
    kiosk = kiosk_of(request)
    tx, form = await transaction(request, ("pin",), "key")
    key = form.get("key", "")
    if key != "ok":
        tx.digits = press(tx.digits, key)
        return render(request, "pin.html", error="")
    entered, tx.digits = tx.digits, ""
    if len(entered) != PIN_LENGTH:
        error = f"暗証番号（数字{PIN_LENGTH}桁）を入力してください。"
        return render(request, "pin.html", error=error)
    text = await kiosk.to_centre.challenge()
    challenge = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    try:
        signature, certificate = await kiosk.card.run(
            lambda c: sign_challenge(c, entered, challenge)
        )
    except WrongPin as exc:
        tx.tries = exc.tries_left
        log.info("kiosk pin", outcome=exc.code)
        return render(request, "pin.html", error=wrong_pin(exc.tries_left))
    except PinBlocked:
        screen = locked_screen()
        kiosk.end(screen)
        log.info("kiosk pin", outcome=PinBlocked.code)
        return message(request, screen.title, screen.text)
    tx.signed = Signed(text, signature, certificate)
    tx.stage = "choose"
    return render(request, "choose.html", menu=MENU)


async def choose(request: web.Request) -> web.Response:
    tx, form = await transaction(request, ("choose",), "item")
    choice = MENU.get(form.get("item", ""))
    if choice is None:
        raise FormRefused("この証明書は選べません (not on the menu)")
    tx.number = False  # every choice starts without the number
    tx.quote = await kiosk_of(request).to_centre.quote(choice.kind, choice.options)
    tx.choice = form["item"]
    tx.stage = "confirm"
    return _confirm(request, tx)


def _confirm(request: web.Request, tx: Transaction) -> web.Response:
    choice = MENU[tx.choice]
    return render(
        request, "confirm.html", choice=choice, numbered=choice.kind in NUMBERED, number=tx.number
    )


async def number(request: web.Request) -> web.Response:
    """記載する / 記載しない: the resident's explicit choice of the number on a 住民票の写し."""
    tx, form = await transaction(request, ("confirm",), "number")
    choice = MENU[tx.choice]
    if choice.kind not in NUMBERED or form.get("number") not in ("0", "1"):
        raise FormRefused("この証明書に個人番号は記載できません (no number on this certificate)")
    tx.number = form["number"] == "1"
    tx.quote = await kiosk_of(request).to_centre.quote(choice.kind, ordered(choice, tx.number))
    return _confirm(request, tx)


async def back(request: web.Request) -> web.Response:
    tx, _ = await transaction(request, ("confirm",))
    tx.stage, tx.quote, tx.number = "choose", None, False
    return render(request, "choose.html", menu=MENU)


async def print_(request: web.Request) -> web.Response:
    kiosk = kiosk_of(request)
    tx, _ = await transaction(request, ("confirm",))
    choice = MENU[tx.choice]
    assert tx.signed is not None  # the PIN screen put it there before the menu
    issued = await kiosk.to_centre.issue(tx.signed, choice.kind, ordered(choice, tx.number))
    name = f"{issued.record_id}.pdf"
    if kiosk.printed_dir is not None:
        await _save(kiosk.printed_dir / name, issued.pdf)
    tx.printed = Printed(issued.pdf, issued.fee, issued.record_id, name)
    tx.stage, tx.signed = "done", None
    log.info("kiosk printed", kind=choice.kind, fee=issued.fee, record_id=issued.record_id)
    return render(request, "done.html", choice=choice)


async def _save(path: Path, pdf: bytes) -> None:
    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pdf)

    await asyncio.to_thread(write)


async def cancel(request: web.Request) -> web.Response:
    """中止 / 終了: the transaction ends, back to the first screen — always, a second touch
    too (the first screen ends any transaction anyway: there is one screen)."""
    await read_form(request, frozenset({"t"}))
    kiosk_of(request).end()
    return web.Response(status=303, headers={"Location": "/"})


async def printed(request: web.Request) -> web.Response:
    tx = kiosk_of(request).current
    if tx is None or tx.printed is None or not token_matches(tx.token, request.match_info["t"]):
        raise web.HTTPNotFound
    return web.Response(
        body=tx.printed.pdf,
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{tx.printed.name}"'},
    )


async def get_idle(request: web.Request) -> web.Response:
    return await idle(request)
