"""The console's views. Each page says which roles may open it (``allow``); the
``authenticate`` middleware checks that before the view runs. Every view records what the
official asked for (``state.record``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from hub.log import get_logger
from hub.web import client_of
from monitor.console.livemap import edges
from monitor.console.officials import NAME, password_ok, totp_step
from monitor.console.params import MAX_QUERY, TRACE_ID, BadParam, parse_period, parse_search
from monitor.console.present import WIDTH, map_layout, ms, waterfall
from monitor.console.state import (
    SESSION,
    SESSION_COOKIE,
    console_of,
    read_form,
    record,
    render,
    see_other,
)
from monitor.console.stats import access_counts
from monitor.exceptions import CONSOLE_SIGN_IN_REFUSED, CONSOLE_TOO_MANY
from monitor.model import Search

__all__ = ["AUDITOR", "BOTH", "OPERATOR", "TooMany", "allow", "feed"]

log = get_logger("monitor.console")
View = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPERATOR, AUDITOR = frozenset({"operator"}), frozenset({"auditor"})
BOTH = OPERATOR | AUDITOR
MAX_STATS = 100_000  # flows an auditor's period counts at most (the page says when reached)
# a password's check is as slow for a name that does not exist (no telling names apart)
_NOBODY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


class TooMany(Exception):
    def __init__(self, scope: str, seconds: float) -> None:
        super().__init__(scope)
        self.scope, self.seconds = scope, max(1, math.ceil(seconds))


def allow(roles: frozenset[str]) -> Callable[[View], View]:
    def mark(view: View) -> View:
        view.roles = roles  # type: ignore[attr-defined]
        return view

    return mark


def _query(request: web.Request) -> dict[str, str]:
    if len(request.query_string) > MAX_QUERY:
        raise BadParam("query", f"at most {MAX_QUERY} characters")
    return {k: request.query.get(k, "") for k in request.query}


# ---- signing in and out ------------------------------------------------------------------


async def sign_in_page(request: web.Request) -> web.StreamResponse:
    return render(request, "login.html", error="")


async def sign_in(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    form = await read_form(request)
    name, password, code = form.get("name", ""), form.get("password", ""), form.get("code", "")
    valid_name = NAME.fullmatch(name) is not None
    shown = name if valid_name else "?"
    client, now = client_of(request.remote), console.clock()
    t = now.timestamp()
    for scope, buckets, key in (
        ("client", console.by_client, client),
        ("name", console.by_name, name if valid_name else ""),
    ):
        if key and (wait := buckets.wait(key, t)):
            await record(request, "sign_in", f"limit: {scope}", CONSOLE_TOO_MANY, name=shown)
            raise TooMany(scope, wait)
    console.by_client.take(client, t)
    if valid_name:
        console.by_name.take(name, t)
    official = await console.officials.get(name) if valid_name else None
    stored = official.password_hash if official else _NOBODY
    ok = await asyncio.to_thread(password_ok, stored, password) and official is not None
    step = totp_step(official.totp_secret, code, t, official.last_step) if ok and official else None
    if official is None or step is None or not await console.officials.use_step(name, step):
        await record(request, "sign_in", "", CONSOLE_SIGN_IN_REFUSED, name=shown)
        log.info("sign-in refused", client=client)
        return render(
            request,
            "login.html",
            status=401,
            error="the name, the password or the code is wrong (a code works once)",
        )
    session = console.sessions.create(official.name, official.role, now)
    request[SESSION] = session
    await record(request, "sign_in")
    response = see_other("/")
    response.set_cookie(
        SESSION_COOKIE, session.id, path="/", secure=True, httponly=True, samesite="Strict"
    )
    return response


@allow(BOTH)
async def sign_out(request: web.Request) -> web.StreamResponse:
    await record(request, "sign_out")
    console_of(request).sessions.destroy(request[SESSION].id)
    response = see_other("/login")
    response.del_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    return response


@allow(BOTH)
async def home(request: web.Request) -> web.StreamResponse:
    return see_other("/search" if request[SESSION].role == "operator" else "/stats")


# ---- the operator's pages ----------------------------------------------------------------


@allow(OPERATOR)
async def search(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    query = _query(request)
    q = parse_search(query, console.offices) if query else Search(limit=50)
    await record(request, "search", request.query_string)
    found = await console.spans.search(q)
    return render(
        request,
        "search.html",
        query=query,
        offices=console.offices,
        found=found,
        ms=ms,
    )


@allow(OPERATOR)
async def trace(request: web.Request) -> web.StreamResponse:
    trace_id = request.match_info["trace_id"]
    if not TRACE_ID.fullmatch(trace_id):
        raise BadParam("trace_id", "32 lower-case hex digits")
    console = console_of(request)
    await record(request, "view_trace", trace_id)
    spans = await console.spans.trace(trace_id)
    if not spans:
        raise web.HTTPNotFound(reason=f"no trace {trace_id} (or it is past its retention)")
    flows = await console.spans.search(Search(trace_id=trace_id))
    return render(
        request, "trace.html", trace_id=trace_id, bars=waterfall(spans), flows=flows, width=WIDTH
    )


async def _edges(request: web.Request) -> list[dict[str, object]]:
    console = console_of(request)
    now_ns = int(console.clock().timestamp() * 1e9)
    since = now_ns - int(console.map_window * 1e9)
    ops = await console.spans.search(Search(since_ns=since, limit=10_000))
    return [e.as_json() for e in edges(ops, console.map_window)]


@allow(OPERATOR)
async def live_map(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    await record(request, "view_map")
    nodes = map_layout(console.offices)
    links = [(o, "hub") for o in console.offices] + [("hub", o) for o in console.offices]
    links.append(("hub", "token"))
    return render(
        request,
        "map.html",
        nodes=nodes,
        links=links,
        edges=await _edges(request),
        window=console.map_window,
        width=WIDTH,
    )


async def feed(
    request: web.Request, event: str, data: Callable[[], Awaitable[dict[str, object]]]
) -> web.StreamResponse:
    """Server-Sent Events: ``data()`` as ``event`` every ``map_every`` seconds while the
    session lives (signed out, idle or too old: the feed ends)."""
    console, session = console_of(request), request[SESSION]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    try:
        await response.write(b"retry: 3000\n\n")
        while console.sessions.alive(session, console.clock()):
            await response.write(f"event: {event}\ndata: {json.dumps(await data())}\n\n".encode())
            await asyncio.sleep(console.map_every)
    except (ConnectionResetError, ConnectionError):
        log.debug("live feed closed by the browser", feed=event)
    return response


@allow(OPERATOR)
async def map_events(request: web.Request) -> web.StreamResponse:
    """The live map's numbers, as Server-Sent Events."""
    console = console_of(request)

    async def edges_now() -> dict[str, object]:
        return {"at": console.clock().isoformat(), "edges": await _edges(request)}

    return await feed(request, "edges", edges_now)


# ---- the auditor's pages -----------------------------------------------------------------


@allow(AUDITOR)
async def stats(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    query = _query(request)
    period = parse_period(query)
    since = period.since_ns
    if since is None and period.until_ns is None:
        since = int((console.clock() - dt.timedelta(days=1)).timestamp() * 1e9)
    await record(request, "view_stats", request.query_string)
    ops = await console.spans.search(
        Search(since_ns=since, until_ns=period.until_ns, limit=MAX_STATS)
    )
    return render(
        request,
        "stats.html",
        query=query,
        rows=access_counts(ops),
        total=len(ops),
        capped=len(ops) >= MAX_STATS,
    )


@allow(AUDITOR)
async def actions(request: web.Request) -> web.StreamResponse:
    await record(request, "view_actions")
    return render(request, "actions.html", actions=await console_of(request).actions.recent(200))
