"""The portal's aiohttp application: ``create_app(backend, checker, bridge_url=…, …)``.

| route | what |
|---|---|
| ``GET /`` | home (redirect to /login without a session) |
| ``GET /login`` | the card login form, posting to ``{bridge_url}/login`` |
| ``POST /login/complete`` | from the bridge: ``challenge signature certificate state`` |
| ``POST /logout`` | end the session |
| ``GET /history``, ``POST /history/{record_id}/verify`` | やりとり履歴 and the chain check |
| ``GET /events`` | the live feed (Server-Sent Events) |
| ``GET /me`` | わたしの情報 |
| ``GET /notices``, ``POST /notices/{notice_id}/read`` | お知らせ |
| ``GET /applications``, ``GET``/``POST /applications/new/{kind}`` | applications |
| ``POST /applications/signed`` | from the bridge: ``signed``, ``state`` |
| ``POST /applications/{application_id}/retry`` | send again what an office could not take |
| ``POST /applications/{application_id}/resend`` | send again one sent and never answered |
| ``GET /static/…`` | CSS and the live-update script |

Middlewares, outermost first: errors (an HTML page for every 4xx/5xx, never a traceback; the
backend's ``Unavailable`` becomes a 503 page), authentication (a session for everything but
/login, /login/complete and /static; the certificate re-checked at most every ``recheck``),
and CSRF (origin and per-session token on every POST). Security headers go on every response.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from hub.log import get_logger
from hub.web import headers_on_prepare
from portal import applications, live, login, views
from portal.challenges import PreLoginStore
from portal.csrf import origin_allowed, origin_of, token_matches
from portal.exceptions import LoginRefused, TooMany, Unavailable
from portal.limits import LOGIN_LIMITS, LoginLimiter, LoginLimits
from portal.model import Backend, CertificateChecker
from portal.security import content_security_policy, security_headers
from portal.sessions import SessionStore
from portal.state import (
    PORTAL,
    SESSION,
    SESSION_COOKIE,
    Portal,
    make_templates,
    portal_of,
    read_form,
    render,
)

__all__ = ["DEFAULT_PORT", "MAX_BODY", "create_app", "utcnow"]

log = get_logger("portal.web")
DEFAULT_PORT = 8470
MAX_BODY = 256 * 1024
STATIC = Path(__file__).parent / "static"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_PUBLIC = ("/login", "/login/complete")
_SIGNED = "/applications/signed"  # the bridge's page posts the signature back here
_FROM_BRIDGE = ("/login/complete", _SIGNED)
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _public(path: str) -> bool:
    return path in _PUBLIC or path.startswith("/static/")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = {
            404: "ページが見つかりません (page not found)",
            405: "この操作はできません (method not allowed)",
            413: "送信された内容が大きすぎます (the request is too large)",
            415: "送信の形式が正しくありません (send the page's form as it is: URL-encoded)",
        }.get(exc.status, f"{exc.reason}")
        response = render(
            request, "error.html", status=exc.status, status_code=exc.status, message=message
        )
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except TooMany as exc:
        log.warning("too many login requests", path=request.path, limit=exc.scope)
        seconds = exc.retry_after
        response = render(
            request,
            "error.html",
            status=429,
            status_code=429,
            message=f"ログインの要求が多すぎます。{seconds} 秒後にもう一度お試しください "
            f"(too many login requests: try again in {seconds} s)",
        )
        response.headers["Retry-After"] = str(seconds)
        return response
    except Unavailable as exc:
        log.warning("backend unavailable", path=request.path, unavailable=str(exc))
        return render(
            request,
            "error.html",
            status=503,
            status_code=503,
            message=f"現在ご利用いただけません (unavailable: {exc})",
        )
    except Exception as exc:  # the resident sees a page, the operator the log line
        log.error("portal error", path=request.path, error=type(exc).__name__)  # noqa: TRY400
        log.debug("portal error traceback", exc_info=True)
        return render(
            request,
            "error.html",
            status=500,
            status_code=500,
            message="エラーが発生しました (internal error)",
        )


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.http_exception is not None or _public(request.path):
        return await handler(request)
    portal = portal_of(request)
    now = portal.clock()
    found = portal.sessions.get(request.cookies.get(SESSION_COOKIE), now)
    if isinstance(found, str) and request.path == _SIGNED and request.method == "POST":
        found = portal.sessions.by_pending((await read_form(request)).get("state", ""), now)
    if isinstance(found, str):  # "unknown" or "expired"
        if request.path == "/events":
            raise web.HTTPUnauthorized
        notice = "一定時間操作がなかったためログアウトしました (session expired)"
        return login.redirect_to_login(request, notice if found == "expired" else "")
    if now - found.checked_at >= portal.recheck:
        try:
            await portal.checker.check(found.der, now)
        except LoginRefused as exc:
            portal.sessions.destroy(found.id)
            log.info("session ended", reason="certificate refused", detail=str(exc))
            return login.redirect_to_login(
                request,
                f"電子証明書が利用できなくなったためログアウトしました "
                f"(the certificate is no longer valid: {exc})",
            )
        found.checked_at = now
    request[SESSION] = found
    return await handler(request)


def _forbidden(request: web.Request, why: str) -> web.Response:
    log.warning("request refused", path=request.path, reason=why)
    return render(
        request,
        "error.html",
        status=403,
        status_code=403,
        message="不正な要求のため処理できません。画面を開き直してください "
        "(cross-site request refused: reload the page and try again)",
    )


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in _SAFE_METHODS or request.match_info.http_exception is not None:
        return await handler(request)
    portal = portal_of(request)
    from_bridge = request.path in _FROM_BRIDGE
    allowed = portal.bridge_origins if from_bridge else portal.allowed_origins
    origin, referer = request.headers.get("Origin"), request.headers.get("Referer")
    if not origin_allowed(origin, referer, allowed):
        return _forbidden(request, "origin")
    if not from_bridge:  # the bridge's posts carry a one-time value bound to the session
        form = await read_form(request)
        if not token_matches(request[SESSION].csrf, form.get("csrf")):
            return _forbidden(request, "csrf token")
    return await handler(request)


def create_app(
    backend: Backend,
    checker: CertificateChecker,
    *,
    bridge_url: str,
    public_origin: str,
    clock: Callable[[], dt.datetime] = utcnow,
    session_ttl: dt.timedelta = dt.timedelta(minutes=30),
    challenge_ttl: dt.timedelta = dt.timedelta(minutes=2),
    recheck: dt.timedelta = dt.timedelta(seconds=5),
    heartbeat: float = 15.0,
    max_sessions: int = 100_000,
    login_limits: LoginLimits = LOGIN_LIMITS,
) -> web.Application:
    """The portal. ``public_origin`` is how browsers reach it (``https://portal.example``);
    ``bridge_url`` where the card bridge listens (``http://127.0.0.1:8471``)."""
    own, bridge = origin_of(public_origin), origin_of(bridge_url)
    if own is None or bridge is None:
        raise ValueError("public_origin and bridge_url must be http(s) URLs")
    app = web.Application(middlewares=[errors, authenticate, csrf], client_max_size=MAX_BODY)
    app[PORTAL] = Portal(
        backend=backend,
        checker=checker,
        sessions=SessionStore(session_ttl, max_sessions),
        prelogins=PreLoginStore(challenge_ttl, max_sessions, login_limits.pending_per_client),
        limiter=LoginLimiter(login_limits),
        bridge_url=bridge_url.rstrip("/"),
        public_origin=public_origin.rstrip("/"),
        allowed_origins=frozenset({own}),
        bridge_origins=frozenset({own, bridge}),
        clock=clock,
        recheck=recheck,
        heartbeat=heartbeat,
        templates=make_templates(),
    )
    headers = security_headers(content_security_policy(bridge), hsts=own.startswith("https:"))
    app.on_response_prepare.append(headers_on_prepare(headers))
    app.router.add_get("/", views.home)
    app.router.add_get("/login", login.login_page)
    app.router.add_post("/login/complete", login.login_complete)
    app.router.add_post("/logout", login.logout)
    app.router.add_get("/history", views.history)
    app.router.add_post("/history/{record_id}/verify", views.verify_record)
    app.router.add_get("/events", live.events)
    app.router.add_get("/me", views.my_info)
    app.router.add_get("/notices", views.notices)
    app.router.add_post("/notices/{notice_id}/read", views.mark_read)
    app.router.add_get("/applications", applications.applications)
    app.router.add_get("/applications/new/{kind}", applications.application_form)
    app.router.add_post("/applications/new/{kind}", applications.submit_form)
    app.router.add_post("/applications/signed", applications.signed)
    app.router.add_post("/applications/{application_id}/retry", applications.retry)
    app.router.add_post("/applications/{application_id}/resend", applications.resend)
    app.router.add_static("/static", STATIC)
    return app
