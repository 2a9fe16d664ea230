"""The kiosk's screens: one handler per button (``kiosk.web`` routes them), and the screens
of a refusal, of closed hours, and of the transaction's current stage.

The order (REGISTER-FACTS 5.3 [V]: the centre sends the certificate, the fee is paid, it is
printed): the menu, the tax certificate's year, the copies and the fee (the centre's quote),
お支払いへ — the order to the centre, the municipality's PDF held, not printed — then the
payment (``kiosk.payment``), and only when it is complete the copies are printed. 中止 before
that gives back what was put in and prints nothing; the certificate fetched is dropped (its
access record stays: the municipality was asked). A print that fails gives back the fee of the
copies not printed."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from aiohttp import web

from card_service.exceptions import CardRemoved, NoCard, PinBlocked, WrongPin
from hub.log import get_logger
from hub.web import token_matches
from kiosk.card import sign_challenge, tries_left
from kiosk.exceptions import KIOSK_CENTRE_ANSWER, CentreRefused, FormRefused
from kiosk.flow import (
    MENU,
    NUMBERED,
    PIN_LENGTH,
    Printed,
    Screen,
    Signed,
    Transaction,
    copies_of,
    locked_screen,
    ordered,
    press,
    print_failed_screen,
    refunded_screen,
    refusal_screen,
    wrong_pin,
)
from kiosk.payment import Payment, pay, refund
from kiosk.state import kiosk_of, message, read_form, render

__all__ = [
    "AGAIN",
    "Current",
    "back",
    "cancel",
    "choose",
    "closed_screen",
    "copies",
    "current_screen",
    "get_idle",
    "number",
    "order",
    "pay_in",
    "pin",
    "printed",
    "refused_screen",
    "start",
    "year",
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


def current_screen(request: web.Request, error: str = "") -> web.Response:
    """The screen of the transaction's stage (or the last screen of the one just ended)."""
    kiosk = kiosk_of(request)
    tx = kiosk.current
    if tx is None:
        assert kiosk.ended is not None  # _transaction raised for it
        return message(request, kiosk.ended[1].title, kiosk.ended[1].text)
    choice = MENU.get(tx.choice)
    numbered = choice is not None and choice.kind in NUMBERED
    return render(
        request, f"{tx.stage}.html", menu=MENU, choice=choice, error=error,
        numbered=numbered, number=tx.number,
    )  # fmt: skip


def refused_screen(request: web.Request, exc: CentreRefused) -> web.Response:
    screen = refusal_screen(exc.refusal, exc.message, kiosk_of(request).refusals)
    kiosk_of(request).end(screen)
    log.info("kiosk refused", code=exc.refusal)
    return message(request, screen.title, screen.text)


def ended_screen(request: web.Request, screen: Screen) -> web.Response:
    kiosk_of(request).end(screen)
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
    return current_screen(request)


async def pin(request: web.Request) -> web.Response:
    kiosk = kiosk_of(request)
    tx, form = await transaction(request, ("pin",), "key")
    key = form.get("key", "")
    if key != "ok":
        tx.digits = press(tx.digits, key)
        return current_screen(request)
    entered, tx.digits = tx.digits, ""
    if len(entered) != PIN_LENGTH:
        return current_screen(request, f"暗証番号（数字{PIN_LENGTH}桁）を入力してください。")
    text = await kiosk.to_centre.challenge()
    challenge = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    try:
        signature, certificate = await kiosk.card.run(
            lambda c: sign_challenge(c, entered, challenge)
        )
    except WrongPin as exc:
        tx.tries = exc.tries_left
        log.info("kiosk pin", outcome=exc.code)
        return current_screen(request, wrong_pin(exc.tries_left))
    except PinBlocked:
        log.info("kiosk pin", outcome=PinBlocked.code)
        return ended_screen(request, locked_screen())
    tx.signed = Signed(text, signature, certificate)
    tx.stage = "choose"
    return current_screen(request)


async def choose(request: web.Request) -> web.Response:
    """A certificate of the menu: its fee for one copy; the tax certificate's year first."""
    tx, form = await transaction(request, ("choose",), "item")
    choice = MENU.get(form.get("item", ""))
    if choice is None:
        raise FormRefused("この証明書は選べません (not on the menu)")
    tx.choice, tx.options, tx.copies = form["item"], dict(choice.options), 1
    tx.number = False  # every choice starts without the number
    tx.quote = await kiosk_of(request).to_centre.quote(choice.kind, tx.options)
    tx.stage = "year" if tx.quote.fiscal_years else "confirm"
    return current_screen(request)


async def year(request: web.Request) -> web.Response:
    """The tax certificate's fiscal year: one the centre offered."""
    tx, form = await transaction(request, ("year",), "year")
    assert tx.quote is not None  # the menu quoted it
    if form.get("year", "") not in {str(y) for y in tx.quote.fiscal_years}:
        raise FormRefused("この年度は選べません (not a fiscal year offered)")
    choice = MENU[tx.choice]
    tx.options = {**choice.options, "fiscal_year": form["year"]}
    tx.quote = await kiosk_of(request).to_centre.quote(choice.kind, tx.options, tx.copies)
    tx.stage = "confirm"
    return current_screen(request)


async def copies(request: web.Request) -> web.Response:
    """部数: 1 to the centre's limit; the fee quoted again."""
    tx, form = await transaction(request, ("confirm",), "copies")
    assert tx.quote is not None
    wanted = copies_of(form.get("copies", ""), tx.quote.max_copies)
    kind = MENU[tx.choice].kind
    asked = ordered(kind, tx.options, tx.number)
    tx.quote = await kiosk_of(request).to_centre.quote(kind, asked, wanted)
    tx.copies = wanted
    return current_screen(request)


async def number(request: web.Request) -> web.Response:
    """記載する / 記載しない: the resident's explicit choice of the number on a 住民票の写し."""
    tx, form = await transaction(request, ("confirm",), "number")
    kind = MENU[tx.choice].kind
    if kind not in NUMBERED or form.get("number") not in ("0", "1"):
        raise FormRefused("この証明書に個人番号は記載できません (no number on this certificate)")
    tx.number = form["number"] == "1"
    asked = ordered(kind, tx.options, tx.number)
    tx.quote = await kiosk_of(request).to_centre.quote(kind, asked, tx.copies)
    return current_screen(request)


async def back(request: web.Request) -> web.Response:
    tx, _ = await transaction(request, ("year", "confirm"))
    tx.stage, tx.quote, tx.options, tx.copies, tx.number = "choose", None, {}, 1, False
    return current_screen(request)


async def order(request: web.Request) -> web.Response:
    """お支払いへ: the order to the centre (the card's answer, the copies, the year); the
    municipality's PDF is held until the payment is complete. The fee charged must be the
    one shown."""
    kiosk = kiosk_of(request)
    tx, _ = await transaction(request, ("confirm",))
    choice = MENU[tx.choice]
    assert tx.signed is not None  # the PIN screen put it there
    assert tx.quote is not None  # the fee screen's
    asked = ordered(choice.kind, tx.options, tx.number)
    issued = await kiosk.to_centre.issue(tx.signed, choice.kind, asked, tx.copies)
    tx.signed = None
    if issued.fee != tx.quote.fee:
        log.warning("kiosk fee mismatch", quoted=tx.quote.fee, charged=issued.fee)
        why = f"手数料が表示と異なります (charged {issued.fee}, quoted {tx.quote.fee})"
        raise CentreRefused(KIOSK_CENTRE_ANSWER, why)
    tx.issued, tx.payment, tx.stage = issued, Payment(issued.fee), "pay"
    log.info("kiosk ordered", kind=choice.kind, copies=tx.copies, record_id=issued.record_id)
    if tx.payment.complete:  # nothing to pay
        return await _print(request, tx)
    return current_screen(request)


async def pay_in(request: web.Request) -> web.Response:
    """A coin, a note or the e-money card; the payment complete, the copies are printed."""
    tx, form = await transaction(request, ("pay",), "insert")
    assert tx.payment is not None
    tx.payment = pay(tx.payment, form.get("insert", ""))
    if not tx.payment.complete:
        return current_screen(request)
    return await _print(request, tx)


async def _print(request: web.Request, tx: Transaction) -> web.Response:
    """Each copy printed (saved, one file each) once; a print that fails gives back the fee
    of the copies not printed and the change, and ends the transaction."""
    kiosk = kiosk_of(request)
    assert tx.issued is not None
    assert tx.payment is not None
    issued, payment = tx.issued, tx.payment
    tx.stage = "done"  # whatever happens now, this payment prints no more
    names: list[str] = []
    try:
        for n in range(1, tx.copies + 1):
            name = f"{issued.record_id}-{n}.pdf"
            if kiosk.printed_dir is not None:
                await _save(kiosk.printed_dir / name, issued.pdf)
            names.append(name)
    except OSError as exc:
        back = refund(payment, issued.fee // tx.copies * len(names))
        log.warning(
            "kiosk print failed", record_id=issued.record_id, printed=len(names),
            copies=tx.copies, refund=back, error=type(exc).__name__,
        )  # fmt: skip
        return ended_screen(request, print_failed_screen(len(names), tx.copies, back))
    tx.printed = Printed(len(names), tuple(names))
    log.info(
        "kiosk printed", record_id=issued.record_id, copies=tx.copies, fee=issued.fee,
        paid=payment.paid, change=payment.change,
    )  # fmt: skip
    return current_screen(request)


async def _save(path: Path, pdf: bytes) -> None:
    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pdf)

    await asyncio.to_thread(write)


async def cancel(request: web.Request) -> web.Response:
    """中止 / 終了: the transaction ends, back to the first screen — always, a second touch
    too (the first screen ends any transaction anyway: there is one screen). 中止 during the
    payment gives back what was put in, on a screen that says so."""
    form = await read_form(request, frozenset({"t"}))
    kiosk = kiosk_of(request)
    tx = kiosk.current
    if (
        tx is not None
        and tx.stage == "pay"
        and tx.payment is not None
        and tx.payment.paid
        and token_matches(tx.token, form.get("t"))
    ):
        return ended_screen(request, refunded_screen(tx.payment.paid, tx.payment.emoney))
    kiosk.end()
    return web.Response(status=303, headers={"Location": "/"})


async def printed(request: web.Request) -> web.Response:
    tx = kiosk_of(request).current
    if tx is None or tx.printed is None or not token_matches(tx.token, request.match_info["t"]):
        raise web.HTTPNotFound
    assert tx.issued is not None
    return web.Response(
        body=tx.issued.pdf,
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{tx.printed.names[0]}"'},
    )


async def get_idle(request: web.Request) -> web.Response:
    return await idle(request)
