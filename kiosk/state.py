"""What every screen shares: the kiosk's state on the app, rendering, reading a form."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from aiohttp import web

from card_service.reader.serial import SerialCard
from hub.log import get_logger
from hub.web import templates
from kiosk.centre import Centre
from kiosk.exceptions import FormRefused
from kiosk.flow import PIN_LENGTH, Screen, Transaction, nendo

__all__ = [
    "FORM_TYPE",
    "KIOSK",
    "MAX_FIELD",
    "Kiosk",
    "kiosk_of",
    "make_templates",
    "message",
    "read_form",
    "render",
]

log = get_logger("kiosk.state")
MAX_FIELD = 64
FORM_TYPE = "application/x-www-form-urlencoded"


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
        a second touch of the button that led to it. Money put in for a print not made goes
        back (中止, a new start, the first screen, the idle time): the till's refund."""
        tx = self.current
        if tx is not None and tx.stage == "pay" and tx.payment is not None and tx.payment.paid:
            log.info("kiosk refund", amount=tx.payment.paid, emoney=tx.payment.emoney)
        self.ended = (tx.token, screen) if tx and screen else None
        self.current = None


KIOSK = web.AppKey("kiosk", Kiosk)


def kiosk_of(request: web.Request) -> Kiosk:
    return request.app[KIOSK]


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    kiosk = kiosk_of(request)
    text = kiosk.templates.get_template(name).render(tx=kiosk.current, **context)
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def message(request: web.Request, title: str, text: str, status: int = 200) -> web.Response:
    return render(request, "message.html", status, title=title, text=text)


async def read_form(request: web.Request, allowed: frozenset[str]) -> dict[str, str]:
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


def _yen(n: int) -> str:
    return f"{n:,}"


def make_templates() -> jinja2.Environment:
    env = templates("kiosk")
    env.filters["yen"] = _yen
    env.filters["nendo"] = nendo
    env.globals["PIN_LENGTH"] = PIN_LENGTH
    return env
