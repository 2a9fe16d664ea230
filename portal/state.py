"""What every view shares: the portal's state on the app, the session, rendering, form reading."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

import jinja2
from aiohttp import web

from hub.web import templates
from portal.challenges import PreLoginStore
from portal.limits import LoginLimiter
from portal.model import Backend, CertificateChecker
from portal.sessions import Session, SessionStore

__all__ = [
    "FORM",
    "JST",
    "PORTAL",
    "PRE_COOKIE",
    "SESSION",
    "SESSION_COOKIE",
    "Portal",
    "clear_cookie",
    "figure",
    "jst",
    "make_templates",
    "portal_of",
    "read_form",
    "render",
    "see_other",
    "session_of",
    "set_cookie",
    "uuid_or_404",
]

JST = dt.timezone(dt.timedelta(hours=9), "JST")  # Japan keeps no summer time
FORM_TYPE = "application/x-www-form-urlencoded"  # what an HTML form sends by default
SESSION_COOKIE = "__Host-renkei-session"
PRE_COOKIE = "__Host-renkei-pre"


@dataclass(slots=True)
class Portal:
    backend: Backend
    checker: CertificateChecker
    sessions: SessionStore
    prelogins: PreLoginStore
    limiter: LoginLimiter
    bridge_url: str
    public_origin: str
    allowed_origins: frozenset[str]  # the portal's own origin
    bridge_origins: frozenset[str]  # the portal's and the bridge's: for the two posts back
    clock: Callable[[], dt.datetime]
    recheck: dt.timedelta
    heartbeat: float
    templates: jinja2.Environment


PORTAL = web.AppKey("portal", Portal)
SESSION = web.RequestKey("session", Session)
FORM = web.RequestKey("form", dict[str, str])


def portal_of(request: web.Request) -> Portal:
    return request.app[PORTAL]


def session_of(request: web.Request) -> Session:
    """The authenticated session (the auth middleware put it there)."""
    return request[SESSION]


def jst(at: dt.datetime) -> str:
    return at.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S")


def figure(n: float) -> str:
    """A number with thousands separators, as the resident reads figures: 1,234,567."""
    return f"{n:,}" if isinstance(n, int) else f"{n:,.2f}".rstrip("0").rstrip(".")


def make_templates() -> jinja2.Environment:
    env = templates("portal")
    env.filters["jst"] = jst
    env.filters["figure"] = figure
    return env


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    portal = portal_of(request)
    session = request.get(SESSION)
    text = portal.templates.get_template(name).render(
        session=session, csrf=session.csrf if session else "", **context
    )
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def uuid_or_404(text: str) -> UUID:
    """An id from the path: not one (malformed, forged) is no such thing, a 404."""
    try:
        return UUID(text)
    except ValueError:
        raise web.HTTPNotFound from None


def see_other(location: str) -> web.Response:
    """303 See Other: after a POST, and to send a browser to another page."""
    return web.Response(status=303, headers={"Location": location})


# The card bridge runs on the resident's own machine (127.0.0.1), the portal elsewhere: the
# bridge's page posts back across sites. So the one-time pre-login cookie is SameSite=None (it
# must ride on that POST; it only binds this browser to its own challenge) and the session
# cookie Lax (the 303 after that POST must carry it); every state change is guarded by the
# CSRF token and the Origin check, not by SameSite alone.
SAME_SITE = {PRE_COOKIE: "None", SESSION_COOKIE: "Lax"}


def set_cookie(response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", secure=True, httponly=True, samesite=SAME_SITE[name])


def clear_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path="/", secure=True, httponly=True, samesite=SAME_SITE[name])


async def read_form(request: web.Request) -> dict[str, str]:
    """The posted form, read once and kept on the request.

    Only what the portal's forms and the card bridge send is read: an URL-encoded body (any
    other content type, multipart, JSON or text/plain among them, is 415; no body at all is an
    empty form). It is decoded with
    ``surrogateescape``, so bytes that are not UTF-8 (a lone surrogate among them) survive as
    surrogates that validation refuses by field, rather than turning silently into U+FFFD. The
    last value of a repeated name wins. Bodies over the app's ``client_max_size`` raise 413 here.
    """
    if FORM in request:
        return request[FORM]
    if request.body_exists and request.content_type != FORM_TYPE:
        raise web.HTTPUnsupportedMediaType(reason=f"only {FORM_TYPE} is accepted")
    body = await request.read()
    text = body.decode("utf-8", errors="surrogateescape")
    form = dict(parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="surrogateescape"))
    request[FORM] = form
    return form
