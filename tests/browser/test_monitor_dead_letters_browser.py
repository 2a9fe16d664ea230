"""The console's dead-letter queue and replay in a real Chromium, on RabbitMQ and PostgreSQL:
the network runs in this process without its hub, so chiyoda-child's query expires in
``hub.requests`` and the broker dead-letters it; the operator sees it in the console (beside
a message the office put on ``renkei.dlx`` itself, shown as not replayable), the hub comes
back, the operator confirms the replay, the query reaches the hub as chiyoda-child's and is
answered and recorded; the auditor finds the replay in the console's action log.
Screenshots go to build/screenshots/monitor/ (13–16)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import random
import re
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from browser_env import CHROMIUM, SCREENSHOTS, require_chromium
from playwright.async_api import Page, async_playwright, expect
from proc_env import free_port

from agencies.jlis.numbers import generate_rrc
from hub.bus import DLX_EXCHANGE, OutMessage
from hub.routing.finish import record_key
from hub.wire import SIGNATURE_HEADER, Query, encode, sign
from monitor.console import MemoryOfficials, new_official, totp
from renkei.console_commands import served_console
from tests.e2e.e2e_env import envelope, real_env

pytestmark = [pytest.mark.chromium, pytest.mark.rabbitmq, pytest.mark.postgres]
SHOTS = SCREENSHOTS / "monitor"
CHILD, TAX = "chiyoda-child", "chiyoda-tax"
NO_HUB = ("token", "jlis", "chiyoda-resident", "chiyoda-tax", "monitor")


async def _sign_in(page: Page, url: str, name: str, password: str, secret: str) -> None:
    await page.goto(f"{url}/login")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Password").fill(password)
    await page.get_by_label("Code").fill(totp(secret, int(time.time() // 30)))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("header .who")).to_contain_text(name)


async def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@contextlib.asynccontextmanager
async def _browser() -> AsyncIterator[Page]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield await (await browser.new_context()).new_page()
        finally:
            await browser.close()


async def test_a_dead_letter_is_replayed_from_the_console() -> None:
    require_chromium()
    async with contextlib.aclosing(real_env()) as envs:
        env = await anext(envs)
        try:
            net = await env.network(run=NO_HUB)
            assert net.dead_letters is not None  # the monitor runs the replayer
            office = await env.raw(net, CHILD)
            q = Query(
                envelope=envelope(CHILD, TAX, "child_allowance"),
                person=env.token(generate_rrc(random.Random(5)), CHILD),
                items=("local_tax",),
                params={"fiscal_year": 2024},
            )
            deadline = q.envelope.issued_at + dt.timedelta(seconds=110)
            q = q.model_copy(
                update={"envelope": q.envelope.model_copy(update={"deadline": deadline})}
            )
            body, qid = encode(q), str(q.envelope.message_id)
            signature = sign(body, env.state.keys[CHILD].signing)
            headers = {SIGNATURE_HEADER: signature}
            out = OutMessage(body, qid, qid, headers=headers, expiration_ms=300)
            await office.bus.publish("renkei.hub", "query", out)  # no hub: it expires
            # and one the office puts on renkei.dlx itself: shown, not replayable
            await office.bus.publish(DLX_EXCHANGE, "query", OutMessage(b"{}", "office-own-1"))
            for _ in range(100):  # the broker dead-letters it once it expired
                if qid in [d.message_id for d in await net.dead_letters.look()]:
                    break
                await asyncio.sleep(0.2)
            else:
                pytest.fail("the expired query never reached renkei.dead")

            officials = MemoryOfficials()
            made = {}
            for name, role in (("ops", "operator"), ("audit", "auditor")):
                official, password = new_official(name, role)
                await officials.add(official)
                made[name] = (password, official.totp_secret)
            port = free_port()
            url = f"http://localhost:{port}"
            args = argparse.Namespace(host="127.0.0.1", port=port, public_url=url)
            async with served_console(env.settings, net, args, officials), _browser() as page:
                await _sign_in(page, url, "ops", *made["ops"])
                await page.get_by_role("link", name="Dead letters").click()
                row = page.locator(f'#dead tr[data-id="{qid}"]')
                await expect(row).to_contain_text("expired")
                await expect(row).to_contain_text("hub.requests")
                await expect(row).to_contain_text("renkei.hub")
                await expect(row).to_contain_text(CHILD)
                own = page.locator('#dead tr[data-id="office-own-1"]')
                await expect(own).to_contain_text("not dead-lettered by the broker")
                assert await own.locator("a.replay").count() == 0
                assert "local_tax" not in await page.locator("main").inner_text()  # no body
                await _shot(page, "13-dead-letters")

                hub_net = await env.network(run=("hub",))  # the hub is back
                assert hub_net.records is not None
                await row.get_by_role("link", name="Replay…").click()
                await expect(page.locator("h1")).to_contain_text("Replay a dead letter?")
                await expect(page.locator("main")).to_contain_text(f"as {CHILD}")
                await _shot(page, "14-replay-confirm")
                await page.get_by_role("button", name=f"Replay as {CHILD}").click()
                await expect(page).to_have_url(re.compile(r"/dead\?replayed="))
                await expect(page.locator("#replayed")).to_contain_text(qid)
                await expect(page.locator(f'#dead tr[data-id="{qid}"]')).to_have_count(0)
                await _shot(page, "15-replayed")

                reply = await office.reply(timeout=20)  # the query reached the hub
                assert str(reply.envelope.correlation_id) == qid and reply.record_id
                key = record_key(CHILD, uuid.UUID(qid))
                assert await hub_net.records.exists([key]) == {key}

                await page.get_by_role("button", name="Sign out").click()
                await _sign_in(page, url, "audit", *made["audit"])
                await page.get_by_role("link", name="Console actions").click()
                await expect(page.locator("#actions")).to_contain_text(
                    f"{qid} as {CHILD} to renkei.hub query"
                )
                await _shot(page, "16-replay-in-the-action-log")
        finally:
            await env.close()
