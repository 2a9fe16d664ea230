"""The login limits over real HTTP: clients on other loopback addresses (127.0.0.2, …), the
portal's clock moved by hand (no waiting)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from portal_fakes import BRIDGE, TARO, Env, start

from hub.buckets import Rate
from portal.limits import LoginLimits

GARBAGE = {"challenge": "x", "state": "x", "signature": "x", "certificate": "x"}


@pytest.fixture
async def generous() -> AsyncIterator[Env]:
    """Rates out of the way, a small store: what the pre-login store does on its own."""
    limits = LoginLimits(per_client=Rate(10_000, 100), overall=Rate(10_000, 100))
    async for e in start(login_limits=limits, max_sessions=40):
        yield e


async def from_address(env: Env, address: str) -> aiohttp.ClientSession:
    """A browser on ``address`` that keeps no cookies (so every GET /login is a new challenge)."""
    return aiohttp.ClientSession(
        base_url=str(env.client.make_url("/")),
        connector=aiohttp.TCPConnector(local_addr=(address, 0)),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def test_failed_logins_from_one_client_get_429_with_retry_after(env: Env) -> None:
    statuses = []
    for _ in range(60):
        response = await env.client.post(
            "/login/complete", data=GARBAGE, headers={"Origin": BRIDGE}, allow_redirects=False
        )
        statuses.append(response.status)
        if response.status == 429:
            retry_after = response.headers["Retry-After"]
            page = await response.text()
            csp = response.headers["Content-Security-Policy"]
    assert statuses == [400] * 30 + [429] * 30  # 30 at once, then one every 2 s
    assert retry_after == "2"
    assert "try again in 2 s" in page and "object-src 'none'" in csp
    async with await from_address(env, "127.0.0.2") as other:
        assert (await other.get("/login")).status == 200  # another client is not held back
    env.clock.shift(seconds=4)  # two tokens again: a login (GET /login, POST) goes through
    await env.login(TARO)
    assert (await env.client.get("/login")).status == 429  # and that spent them


async def test_the_portal_as_a_whole_is_limited_too() -> None:
    limits = LoginLimits(per_client=Rate(100, 1), overall=Rate(5, 0.25))
    async for env in start(login_limits=limits):
        async with await from_address(env, "127.0.0.2") as one:
            assert [(await one.get("/login")).status for _ in range(3)] == [200] * 3
        async with await from_address(env, "127.0.0.3") as two:
            assert [(await two.get("/login")).status for _ in range(2)] == [200] * 2
            refused = await two.get("/login")  # 5 at once, for everyone together
            assert (refused.status, refused.headers["Retry-After"]) == (429, "4")
        env.clock.shift(seconds=4)
        assert (await env.client.get("/login")).status == 200


async def test_a_flood_of_challenges_pushes_no_one_elses_out(generous: Env) -> None:
    env = generous
    page = await (await env.client.get("/login")).text()  # a resident's challenge, first
    async with await from_address(env, "127.0.0.2") as flood:
        statuses = [(await flood.get("/login")).status for _ in range(100)]
        assert statuses == [200] * 30 + [429] * 70  # 30 pending per client
        refused = await flood.get("/login")
        assert refused.headers["Retry-After"] == "120"  # when its oldest expires
    async with await from_address(env, "127.0.0.3") as more:
        statuses = [(await more.get("/login")).status for _ in range(30)]
        assert statuses == [200] * 9 + [429] * 21  # the store (40) is full: refused too
    response = await env.respond(page, TARO)  # the resident's challenge is still there
    assert response.status == 303
    env.clock.shift(minutes=2)  # the flood's challenges expire; new ones may be made
    async with await from_address(env, "127.0.0.2") as flood:
        assert (await flood.get("/login")).status == 200
