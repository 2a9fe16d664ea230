"""What every view shares: the console's state on the app, the session, rendering, recording
an action, reading a form."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from aiohttp import web

from hub.buckets import Buckets
from hub.web import client_of
from monitor.console.accounts import Action, ActionLog, Officials
from monitor.console.sessions import Session, Sessions
from monitor.deadletters import DeadLetters
from monitor.oversight import Oversight
from monitor.store import SpanStore

__all__ = [
    "CONSOLE",
    "SESSION",
    "SESSION_COOKIE",
    "Console",
    "console_of",
    "read_form",
    "record",
    "render",
    "see_other",
]

SESSION_COOKIE = "__Host-renkei-console"
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELD = 256


@dataclass(slots=True)
class Console:
    spans: SpanStore
    officials: Officials
    actions: ActionLog
    sessions: Sessions
    by_client: Buckets  # sign-in attempts per client
    by_name: Buckets  # sign-in attempts per official's name
    offices: tuple[str, ...]
    own_origin: str
    clock: Callable[[], dt.datetime]
    map_window: float  # seconds of flows the live map counts
    map_every: float  # seconds between the live map's updates
    templates: jinja2.Environment
    oversight: Oversight | None = None  # the alerts and the chain (None: not running here)
    dead_letters: DeadLetters | None = None  # renkei.dead as the replayer (None: not here)


CONSOLE = web.AppKey("console", Console)
SESSION = web.RequestKey("session", Session)
FORM = web.RequestKey("form", dict[str, str])


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    session = request.get(SESSION)
    text = (
        console_of(request)
        .templates.get_template(name)
        .render(session=session, csrf=session.csrf if session else "", **context)
    )
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


async def record(
    request: web.Request, action: str, detail: str = "", outcome: str = "ok", name: str = ""
) -> None:
    """Append what the official did (or tried) to the action log."""
    console = console_of(request)
    session = request.get(SESSION)
    await console.actions.append(
        Action(
            at=console.clock(),
            official=session.name if session else (name or "-"),
            role=session.role if session else "-",
            action=action,
            detail=detail[:512],
            outcome=outcome,
            client=client_of(request.remote),
        )
    )


async def read_form(request: web.Request) -> dict[str, str]:
    """The posted form, read once: URL-encoded only (415 otherwise), fields of at most
    ``MAX_FIELD`` characters (400 otherwise); the app's ``client_max_size`` bounds the body
    (413). Bytes that are not UTF-8 survive as surrogates, which every field's check refuses
    (never a decoding error); the last value of a repeated name wins."""
    if FORM in request:
        return request[FORM]
    if request.body_exists and request.content_type != FORM_TYPE:
        raise web.HTTPUnsupportedMediaType(reason=f"only {FORM_TYPE} is accepted")
    text = (await request.read()).decode("utf-8", errors="surrogateescape")
    form = dict(parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="surrogateescape"))
    for key, value in form.items():
        if len(value) > MAX_FIELD:
            raise web.HTTPBadRequest(reason=f"{key[:32]!r}: at most {MAX_FIELD} characters")
    request[FORM] = form
    return form
