"""The console's HTTP face: signing in (password + TOTP, once per code, rate-limited), roles,
CSRF and origins, every page, the live feed, and bad input — each refused with a clear status,
never a 500 — and every action recorded."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from console_fakes import PUBLIC, Env, start

from monitor.exceptions import (
    CONSOLE_BAD_REQUEST,
    CONSOLE_CROSS_SITE,
    CONSOLE_FORBIDDEN,
    CONSOLE_SIGN_IN_REFUSED,
    CONSOLE_TOO_MANY,
)

TRACE = f"{3:032x}"


async def test_sign_in_with_password_and_code(env: Env) -> None:
    page = await env.client.get("/search", allow_redirects=False)
    assert (page.status, page.headers["Location"]) == (303, "/login")
    response = await env.sign_in("op")
    assert (response.status, response.headers["Location"]) == (303, "/")
    cookie = response.cookies["__Host-renkei-console"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    home = await env.client.get("/", allow_redirects=False)
    assert home.headers["Location"] == "/search"
    actions = await env.actions.recent(10)
    assert (actions[-1].official, actions[-1].action, actions[-1].outcome) == (
        "op",
        "sign_in",
        "ok",
    )


@pytest.mark.parametrize(
    "change",
    [
        {"password": "wrong"},
        {"code": "000000"},
        {"name": "nobody"},
        {"name": "'; DROP TABLE x"},
        {"code": ""},
        {"password": "p" * 200},
    ],
)
async def test_sign_in_refused(env: Env, change: dict[str, str]) -> None:
    form = {"name": "op", "password": env.secrets["op"][0], "code": env.code("op"), **change}
    response = await env.client.post("/login", data=form, headers={"Origin": PUBLIC})
    assert response.status == 401
    assert "wrong" in await response.text()
    assert "__Host-renkei-console" not in response.cookies
    last = (await env.actions.recent(1))[0]
    assert (last.action, last.outcome) == ("sign_in", CONSOLE_SIGN_IN_REFUSED)
    assert last.official in ("op", "nobody", "?")  # a name that is no name is not written down


async def test_a_code_works_once(env: Env) -> None:
    code = env.code("op")
    assert (await env.sign_in("op", code=code)).status == 303
    assert (await env.sign_in("op", code=code)).status == 401
    assert (await env.sign_in("op", code=env.code("op", offset=-1))).status == 401  # older too
    env.clock.now += dt.timedelta(seconds=30)
    assert (await env.sign_in("op")).status == 303


async def test_sign_in_rate_limited() -> None:
    from hub.buckets import Rate

    async for env in start(per_client=Rate(3, 0.01)):
        for _ in range(3):
            assert (await env.sign_in("op", code="000000")).status == 401
        response = await env.sign_in("op")  # right this time, but too many tries
        assert response.status == 429
        assert int(response.headers["Retry-After"]) >= 1
        assert CONSOLE_TOO_MANY in await response.text()
    async for env in start():  # per name: 5, from any number of clients
        for _ in range(5):
            assert (await env.sign_in("aud", code="000000")).status == 401
        assert (await env.sign_in("aud")).status == 429


async def test_cross_site_posts_refused(env: Env) -> None:
    form = {"name": "op", "password": env.secrets["op"][0], "code": env.code("op")}
    for headers in ({}, {"Origin": "https://evil.example"}, {"Origin": "null"}):
        response = await env.client.post("/login", data=form, headers=headers)
        assert response.status == 403
        assert CONSOLE_CROSS_SITE in await response.text()
    assert (await env.sign_in("op")).status == 303
    out = await env.client.post(
        "/logout", data={"csrf": "forged"}, headers={"Origin": PUBLIC}, allow_redirects=False
    )
    assert out.status == 403
    out = await env.client.post(
        "/logout", data={"csrf": env.csrf()}, headers={"Origin": "https://evil.example"}
    )
    assert out.status == 403
    refused = [a for a in await env.actions.recent(20) if a.outcome == CONSOLE_CROSS_SITE]
    assert len(refused) == 5
    out = await env.client.post(
        "/logout", data={"csrf": env.csrf()}, headers={"Origin": PUBLIC}, allow_redirects=False
    )
    assert (out.status, out.headers["Location"]) == (303, "/login")
    assert (await env.client.get("/search", allow_redirects=False)).status == 303


async def test_roles(env: Env) -> None:
    assert (await env.sign_in("aud")).status == 303
    for path in ("/search", f"/trace/{TRACE}", "/map", "/map/events"):
        response = await env.client.get(path)
        assert response.status == 403, path
        assert CONSOLE_FORBIDDEN in await response.text()
    stats = await env.client.get("/stats?since=2026-06-01T00:00")
    text = await stats.text()
    assert stats.status == 200
    assert "chiyoda-resident" in text and TRACE not in text and "q-" not in text
    actions = await env.client.get("/actions")
    assert "view_stats" in await actions.text()
    nav = await (await env.client.get("/stats")).text()
    assert 'href="/search"' not in nav and 'href="/actions"' in nav


async def test_operator_pages(env: Env) -> None:
    assert (await env.sign_in("op")).status == 303
    found = await env.client.get("/search?office=chiyoda-welfare&since=2026-06-01T08:00")
    text = await found.text()
    assert found.status == 200
    assert f"/trace/{99:032x}" in text and f"/trace/{TRACE}" not in text
    assert "refused" in text
    trace = await env.client.get(f"/trace/{TRACE}")
    text = await trace.text()
    assert trace.status == 200
    for name in ("query", "process hub.requests", "process office.in", "translate"):
        assert name in text
    assert "<rect" in text and "<script" not in text
    assert (await env.client.get("/stats")).status == 403
    actions = [a.action for a in await env.actions.recent(10)]
    assert "search" in actions and "view_trace" in actions and "refused" in actions


async def test_security_headers(env: Env) -> None:
    for path in ("/login", "/static/console.css", "/nothing-here"):
        response = await env.client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert (await env.client.get("/login")).headers["Cache-Control"] == "no-store"


async def test_live_map_feed(env: Env) -> None:
    assert (await env.sign_in("op")).status == 303
    page = await env.client.get("/map")
    text = await page.text()
    assert '<script src="/static/map.js"' in text and 'data-key="chiyoda-child>hub"' in text
    async with env.client.get("/map/events") as feed:
        assert feed.headers["Content-Type"].startswith("text/event-stream")
        lines = []
        while not any(line.startswith(b"data: ") for line in lines):
            lines.append(await feed.content.readline())
        data = json.loads(next(x for x in lines if x.startswith(b"data: "))[6:])
    keys = {e["key"]: e for e in data["edges"]}
    assert keys["chiyoda-child>hub"]["count"] == 7
    assert keys["hub>chiyoda-resident"]["count"] == 6


async def test_the_live_feed_ends_with_the_session() -> None:
    async for env in start(map_every=0.01):
        assert (await env.sign_in("op")).status == 303
        async with env.client.get("/map/events") as feed:
            assert (await feed.content.readline()).startswith(b"retry:")
            env.clock.now += dt.timedelta(minutes=16)  # idle past 15 minutes: the feed ends
            rest = await feed.content.read()
        assert rest.count(b"event: edges") <= 2
        assert (await env.client.get("/map/events")).status == 401


async def test_unauthenticated(env: Env) -> None:
    assert (await env.client.get("/map/events")).status == 401
    for path in ("/", "/search", "/stats", "/actions", f"/trace/{TRACE}", "/map"):
        response = await env.client.get(path, allow_redirects=False)
        assert (response.status, response.headers["Location"]) == (303, "/login"), path
    response = await env.client.post("/logout", data={"csrf": "x"}, headers={"Origin": PUBLIC})
    assert response.status == 401
    forged = await env.client.get("/search", cookies={"__Host-renkei-console": "guessed"})
    assert forged.history and forged.url.path == "/login"


@pytest.mark.parametrize(
    "path",
    [
        "/search?trace_id=nothex",
        "/search?office=elsewhere",
        "/search?limit=100000",
        "/search?since=2026-13-01T00:00",
        "/search?affair=" + "a" * 100,
        "/search?outcome=%00",
        "/search?" + "x=1&" * 400,
        "/trace/NOTATRACE",
        "/trace/" + "a" * 33,
        "/stats?since=tomorrow",
    ],
)
async def test_bad_parameters(env: Env, path: str) -> None:
    assert (await env.sign_in("aud" if path.startswith("/stats") else "op")).status == 303
    response = await env.client.get(path)
    assert response.status in (400, 404), path
    text = await response.text()
    assert CONSOLE_BAD_REQUEST in text or "monitor.console.not_found" in text
    assert "Traceback" not in text


async def test_bad_forms(env: Env) -> None:
    headers = {"Origin": PUBLIC}
    big = await env.client.post("/login", data={"name": "x" * 100_000}, headers=headers)
    assert big.status == 413
    json_body = await env.client.post(
        "/login", data=b'{"name": "op"}', headers={**headers, "Content-Type": "application/json"}
    )
    assert json_body.status == 415
    long = await env.client.post("/login", data={"name": "x" * 300}, headers=headers)
    assert long.status == 400
    odd = await env.client.post(
        "/login",
        data=b"name=%ff%fe&password=%00&code=\xff",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert odd.status in (400, 401)
    missing = await env.client.get(f"/trace/{'e' * 32}", allow_redirects=False)
    assert missing.status == 303  # signed out: to the sign-in page first
    assert (await env.sign_in("op")).status == 303
    assert (await env.client.get(f"/trace/{'e' * 32}")).status == 404
    assert (await env.client.put("/search")).status == 405
