"""The monitor's console over a running network, on the embedded defaults and on RabbitMQ +
PostgreSQL (`renkei run monitor`'s composition: ``served_console``): real queries flow, the
operator signs in (password + TOTP) and finds them, opens one's waterfall and reads the live
map's numbers; the auditor counts them; on PostgreSQL the officials and every action are in
the schema ``monitor``."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import time

import aiohttp
import asyncpg
from e2e_env import Env
from proc_env import free_port

from agencies.municipality.child_allowance import ChildAllowance
from agencies.population.households import generate
from monitor import Search
from monitor.console import MemoryOfficials, Officials, PgOfficials, new_official, totp
from renkei.console_commands import served_console
from renkei.population.enroll import load_population

CHILD = "chiyoda-child"


async def _sign_in(
    http: aiohttp.ClientSession, url: str, name: str, password: str, secret: str
) -> None:
    form = {"name": name, "password": password, "code": totp(secret, int(time.time() // 30))}
    async with http.post(
        f"{url}/login", data=form, headers={"Origin": url}, allow_redirects=False
    ) as response:
        assert response.status == 303, await response.text()


async def test_the_console_over_a_running_network(env: Env) -> None:
    net = await env.network(run=None)
    loaded = await load_population(net, generate(8, seed=5), fiscal_year=2024)
    assert loaded.enrolled
    child: ChildAllowance = net.apps[CHILD]
    began = time.time_ns()
    applicants = await child.store.keys("applicants")
    await asyncio.gather(*(child.check(a, dt.date(2024, 6, 1)) for a in applicants))
    token = await child.store.token("applicants", applicants[0])
    assert token is not None
    refused = await child.node.ask(
        "child_allowance", "chiyoda-welfare", ("public_assistance",), token
    )
    assert refused.status == "refused"
    assert net.monitor is not None
    for tracing in net.tracing.values():
        await tracing.flush()
    store = net.monitor.store
    for _ in range(1500):  # the spans reach the monitor over the bus
        found = await store.search(Search(office="chiyoda-welfare", since_ns=began))
        if found and found[0].hub_out is not None:
            break
        await asyncio.sleep(0.02)
    assert found

    pool = None
    officials: Officials
    if env.settings.db_url:
        pool = await asyncpg.create_pool(env.settings.db_url, min_size=1, max_size=2)
        officials = PgOfficials(pool)
    else:
        officials = MemoryOfficials()
    made = {}
    for name, role in (("e2e-op", "operator"), ("e2e-aud", "auditor")):
        official, password = new_official(name, role)  # type: ignore[arg-type]
        await officials.add(official)
        made[name] = (password, official.totp_secret)
    port = free_port()
    args = argparse.Namespace(host="127.0.0.1", port=port, public_url=None)
    try:
        async with served_console(env.settings, net, args, officials) as url:
            jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[url])
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                await _sign_in(http, url, "e2e-op", *made["e2e-op"])
                async with http.get(f"{url}/search", params={"office": "chiyoda-welfare"}) as r:
                    page = await r.text()
                    assert r.status == 200 and "refused" in page
                trace_id = found[0].trace_id
                assert f"/trace/{trace_id}" in page
                async with http.get(f"{url}/trace/{trace_id}") as r:
                    page = await r.text()
                    assert r.status == 200 and "process hub.requests" in page
                async with http.get(f"{url}/map/events") as r:
                    while not (line := await r.content.readline()).startswith(b"data: "):
                        pass
                    edges = {e["key"]: e for e in json.loads(line[6:])["edges"]}
                assert edges[f"{CHILD}>hub"]["count"] >= len(applicants) + 1
                assert edges[f"{CHILD}>hub"]["errors"] >= 1  # the refused one
            async with aiohttp.ClientSession(
                cookie_jar=aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[url])
            ) as http:
                await _sign_in(http, url, "e2e-aud", *made["e2e-aud"])
                async with http.get(f"{url}/stats") as r:
                    page = await r.text()
                    assert r.status == 200 and "chiyoda-welfare" in page and trace_id not in page
                async with http.get(f"{url}/search") as r:
                    assert r.status == 403
        if pool is not None:
            async with pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT official, action, outcome FROM monitor.console_action"
                    " WHERE official LIKE 'e2e-%' ORDER BY seq"
                )
            done = [(r["official"], r["action"], r["outcome"]) for r in rows]
            assert ("e2e-op", "view_trace", "ok") in done
            assert ("e2e-aud", "refused", "monitor.console.forbidden") in done
    finally:
        if pool is not None:
            await pool.close()
