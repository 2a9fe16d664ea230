"""Card login and logout: ``GET /login``, ``POST /login/complete`` (the bridge), ``POST /logout``.

The login form posts the challenge to the card bridge (``{bridge_url}/login``), which asks the
PIN, signs, and posts back here. The pre-login is taken out of the store before anything is
checked, so each challenge answers at most one response. A good response opens a brand-new
session; any session the browser had before is destroyed (no fixation). Both login requests
pass the login limits first (``portal.limits``: 429 beyond them).
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from hub.log import get_logger
from portal.challenges import PreLogin, verify_response
from portal.codec import b64url_encode
from portal.exceptions import ChallengeRefused, LoginRefused, TooMany, Unavailable
from portal.limits import client_of
from portal.state import (
    PRE_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    portal_of,
    read_form,
    render,
    see_other,
    session_of,
    set_cookie,
)

__all__ = ["login_complete", "login_page", "logout", "redirect_to_login"]

log = get_logger("portal.login")
NAME_WAIT = 2.0  # seconds a login waits for the register to name the resident (the greeting)


def _login_response(
    request: web.Request, pre: PreLogin, *, status: int = 200, error: str = "", notice: str = ""
) -> web.Response:
    portal = portal_of(request)
    response = render(
        request,
        "login.html",
        status=status,
        action=f"{portal.bridge_url}/login",
        challenge=b64url_encode(pre.challenge),
        state=pre.state,
        return_to=f"{portal.public_origin}/login/complete",
        error=error,
        notice=notice,
    )
    set_cookie(response, PRE_COOKIE, pre.id)
    return response


def _limited(request: web.Request) -> str:
    """The request's client, once it has passed the login limits (or ``TooMany``: a 429)."""
    portal = portal_of(request)
    client = client_of(request.remote)
    portal.limiter.take(client, portal.clock().timestamp())
    return client


async def login_page(request: web.Request) -> web.StreamResponse:
    portal = portal_of(request)
    client = _limited(request)
    old = portal.prelogins.take(request.cookies.get(PRE_COOKIE))  # one pre-login per browser
    pre = portal.prelogins.create(portal.clock(), client)
    return _login_response(request, pre, notice=old.notice if old else "")


def redirect_to_login(request: web.Request, notice: str = "") -> web.Response:
    """303 to /login, the session cookie cleared, ``notice`` shown there (kept server-side,
    unless the client holds too many pre-logins already: then the notice is dropped)."""
    portal = portal_of(request)
    response = see_other("/login")
    if notice:
        with contextlib.suppress(TooMany):
            pre = portal.prelogins.create(portal.clock(), client_of(request.remote), notice)
            set_cookie(response, PRE_COOKIE, pre.id)
    if SESSION_COOKIE in request.cookies:
        clear_cookie(response, SESSION_COOKIE)
    return response


def _refused(request: web.Request, status: int, message: str) -> web.Response:
    portal = portal_of(request)
    client = client_of(request.remote)
    pre = portal.prelogins.create(portal.clock(), client)  # a fresh challenge to try again with
    return _login_response(request, pre, status=status, error=message)


async def login_complete(request: web.Request) -> web.StreamResponse:
    portal = portal_of(request)
    _limited(request)  # before the pre-login is taken: a 429 keeps it for the next try
    now = portal.clock()
    pre = portal.prelogins.take(request.cookies.get(PRE_COOKIE))  # consumed, whatever follows
    form = await read_form(request)
    try:
        der = verify_response(
            pre,
            challenge=form.get("challenge", ""),
            state=form.get("state", ""),
            signature=form.get("signature", ""),
            certificate=form.get("certificate", ""),
            now=now,
        )
        checked = await portal.checker.check(der, now)
        person = await portal.backend.identify(checked)
    except ChallengeRefused as exc:
        log.warning("login refused", reason=exc.code)
        return _refused(request, exc.status, str(exc))
    except LoginRefused as exc:
        log.warning("login refused", reason="certificate", detail=str(exc))
        return _refused(
            request, 403, f"電子証明書が利用できません (the certificate was refused: {exc})"
        )
    except Unavailable as exc:
        log.warning("login unavailable", unavailable=str(exc))
        return _refused(
            request,
            503,
            f"本人確認の仕組みが応答していません。しばらくしてからお試しください "
            f"(unavailable: {exc})",
        )
    try:  # to greet them; a login does not wait long for it, nor fail without it
        async with asyncio.timeout(NAME_WAIT):
            name = await portal.backend.resident_name(person)
    except (Unavailable, TimeoutError):
        name = ""
    portal.sessions.destroy(request.cookies.get(SESSION_COOKIE))  # whatever it was, it ends
    session = portal.sessions.create(person, checked, now)
    session.name = name
    log.info("login", sessions=len(portal.sessions))
    response = see_other("/")
    set_cookie(response, SESSION_COOKIE, session.id)
    clear_cookie(response, PRE_COOKIE)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    portal = portal_of(request)
    portal.sessions.destroy(session_of(request).id)
    log.info("logout", sessions=len(portal.sessions))
    return redirect_to_login(request, "ログアウトしました (you are logged out)")
