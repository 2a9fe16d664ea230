"""The monitor's console, an aiohttp application: ``create_app(spans, officials, actions, …)``.

Routes: ``routes.py`` (the pages, and which role sees each). Middlewares, outermost first:

- ``errors``: every 4xx/5xx an HTML page with its code (``monitor.exceptions``), never a
  traceback; a refused parameter is a 400 naming the field;
- ``authenticate``: a live session for everything but the sign-in page and ``/static``
  (none: a page redirects to ``/login``, the live feed and a POST get 401), and the official's
  role among the route's (else 403, recorded);
- ``csrf``: every POST from the console's own origin (``Origin``, else ``Referer``), and — once
  signed in — with the session's token (else 403, recorded).

Security headers (``hub.web.security_headers``; a CSP without inline script or style) go on
every response; nothing but ``/static`` may be cached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path

import jinja2
from aiohttp import web

from hub.buckets import Buckets, Rate
from hub.log import get_logger
from hub.web import (
    headers_on_prepare,
    origin_allowed,
    origin_of,
    security_headers,
    templates,
    token_matches,
)
from monitor.console import routes
from monitor.console.accounts import ActionLog, Officials
from monitor.console.params import BadParam
from monitor.console.sessions import Sessions
from monitor.console.state import (
    CONSOLE,
    SESSION,
    SESSION_COOKIE,
    Console,
    console_of,
    read_form,
    record,
    render,
    see_other,
)
from monitor.console.views import TooMany
from monitor.deadletters import DeadLetters
from monitor.exceptions import (
    CONSOLE_BAD_REQUEST,
    CONSOLE_CROSS_SITE,
    CONSOLE_FORBIDDEN,
    CONSOLE_NOT_FOUND,
    CONSOLE_TOO_MANY,
    CONSOLE_UNAUTHENTICATED,
    AckRefused,
    AlertError,
    AlreadyAcknowledged,
    DeadLetterError,
    MonitorError,
    NoDeadLetter,
    NotReplayable,
    ReplayFailed,
    UnknownAlert,
)
from monitor.model import iso
from monitor.oversight import Oversight
from monitor.store import SpanStore

__all__ = ["CSP", "DEFAULT_PORT", "MAX_BODY", "SESSION_COOKIE", "create_app", "utcnow"]

log = get_logger("monitor.console")
DEFAULT_PORT = 8480
MAX_BODY = 16 * 1024  # the console's forms are a few fields
STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SAFE = ("GET", "HEAD", "OPTIONS")
_CODES = {
    400: CONSOLE_BAD_REQUEST,
    401: CONSOLE_UNAUTHENTICATED,
    403: CONSOLE_FORBIDDEN,
    404: CONSOLE_NOT_FOUND,
    413: CONSOLE_BAD_REQUEST,
    415: CONSOLE_BAD_REQUEST,
    429: CONSOLE_TOO_MANY,
}
_REFUSAL_STATUS = {
    AckRefused.code: 403,
    UnknownAlert.code: 404,
    AlreadyAcknowledged.code: 409,
    NoDeadLetter.code: 404,
    NotReplayable.code: 409,
    ReplayFailed.code: 502,
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_templates() -> jinja2.Environment:
    env = templates("monitor.console")
    env.filters["iso"] = iso
    env.globals["nav"] = routes.NAV
    return env


def _page(request: web.Request, status: int, message: str, code: str = "") -> web.Response:
    code = code or _CODES.get(status, MonitorError.code)
    return render(
        request, "error.html", status=status, status_code=status, code=code, message=message
    )


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _page(request, exc.status, exc.reason)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except BadParam as exc:
        return _page(request, 400, str(exc))
    except (AlertError, DeadLetterError) as exc:  # refused (the view recorded it)
        return _page(request, _REFUSAL_STATUS.get(exc.code, 400), str(exc), exc.code)
    except TooMany as exc:
        log.warning("too many sign-in attempts", scope=exc.scope)
        response = _page(request, 429, f"too many sign-in attempts: try again in {exc.seconds} s")
        response.headers["Retry-After"] = str(exc.seconds)
        return response
    except Exception as exc:  # the official sees a page, the operator the log line
        log.error("console error", path=request.path, error=type(exc).__name__)  # noqa: TRY400
        log.debug("console error traceback", exc_info=True)
        return _page(request, 500, "internal error")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.http_exception is not None or request.path.startswith("/static/"):
        return await handler(request)
    roles: Collection[str] | None = getattr(request.match_info.route.handler, "roles", None)
    if roles is None:  # the sign-in page
        return await handler(request)
    console = console_of(request)
    session = console.sessions.get(request.cookies.get(SESSION_COOKIE), console.clock())
    if session is None:
        if request.method in _SAFE and not request.path.endswith("/events"):  # not a feed
            return see_other("/login")
        raise web.HTTPUnauthorized(reason="sign in first")
    request[SESSION] = session
    if session.role not in roles:
        await record(request, "refused", request.path, CONSOLE_FORBIDDEN)
        return _page(request, 403, f"an {session.role} may not open {request.path}")
    return await handler(request)


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in _SAFE or request.match_info.http_exception is not None:
        return await handler(request)
    console = console_of(request)
    origin, referer = request.headers.get("Origin"), request.headers.get("Referer")
    session = request.get(SESSION)
    if not origin_allowed(origin, referer, (console.own_origin,)):
        why = "origin"
    elif session is not None and not token_matches(
        session.csrf, (await read_form(request)).get("csrf")
    ):
        why = "csrf token"
    else:
        return await handler(request)
    log.warning("request refused", path=request.path, reason=why)
    await record(request, "refused", f"{request.method} {request.path} ({why})", CONSOLE_CROSS_SITE)
    return _page(
        request,
        403,
        "cross-site request refused: reload the page and try again",
        CONSOLE_CROSS_SITE,
    )


def create_app(
    spans: SpanStore,
    officials: Officials,
    actions: ActionLog,
    *,
    offices: Collection[str],
    public_origin: str,
    clock: Callable[[], dt.datetime] = utcnow,
    idle: dt.timedelta = dt.timedelta(minutes=15),
    longest: dt.timedelta = dt.timedelta(hours=8),
    per_client: Rate = Rate(10, 0.2),  # noqa: B008 - frozen
    per_name: Rate = Rate(5, 1 / 60),  # noqa: B008 - frozen
    map_window: float = 60.0,
    map_every: float = 2.0,
    oversight: Oversight | None = None,
    dead_letters: DeadLetters | None = None,
) -> web.Application:
    """The console. ``public_origin``: how browsers reach it (``https://monitor.example``);
    ``oversight``: the alerts and the record chain (None: their pages say it is not running);
    ``dead_letters``: the dead-letter queue and its replay (None: likewise)."""
    own = origin_of(public_origin)
    if own is None:
        raise ValueError("public_origin must be an http(s) URL")
    app = web.Application(middlewares=[errors, authenticate, csrf], client_max_size=MAX_BODY)
    app[CONSOLE] = Console(
        spans=spans,
        officials=officials,
        actions=actions,
        sessions=Sessions(idle, longest),
        by_client=Buckets(per_client),
        by_name=Buckets(per_name),
        offices=tuple(sorted(offices)),
        own_origin=own,
        clock=clock,
        map_window=map_window,
        map_every=map_every,
        templates=make_templates(),
        oversight=oversight,
        dead_letters=dead_letters,
    )
    app.on_response_prepare.append(
        headers_on_prepare(security_headers(CSP, hsts=own.startswith("https:")))
    )
    routes.add(app.router)
    app.router.add_static("/static", STATIC)
    return app
