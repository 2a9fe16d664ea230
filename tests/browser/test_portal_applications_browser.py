"""The 申請 page in a real Chromium, without a card: the portal on the fake backend of its unit
tests (``portal_fakes``), logged in as its fake bridge does; each sent application reads as its
office told it — 受付済み, 審査中 with why it waits, 認定, 却下 — on a desktop and on a phone."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from browser_env import CHROMIUM, free_port
from playwright.async_api import Browser, async_playwright, expect

from portal.codec import b64url_decode, b64url_encode
from portal.model import ApplicationStatus
from portal.web import create_app
from tests.unit.portal.portal_fakes import (
    BRIDGE,
    TARO,
    FakeBackend,
    FakeChecker,
    hidden,
)

pytestmark = [pytest.mark.chromium]
SESSION = "__Host-renkei-session"
AT = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)


def claim(progress: str, reason: str = "") -> ApplicationStatus:
    return ApplicationStatus(
        uuid.uuid4(), "child_allowance", AT, "chiyoda-child", "accepted", f"chiyoda-child-{progress or 'x'}",
        "千代田区 子育て支援課（児童手当）", ref=str(uuid.uuid4()), progress=progress, reason=reason,
    )  # fmt: skip


@pytest.fixture
async def portal() -> AsyncIterator[tuple[str, str]]:
    """(the portal's origin, a session cookie of 太郎's), the portal on the fake backend."""
    backend = FakeBackend()
    backend.apps_by["tok-taro"] = [
        claim(""),
        claim("審査中", "timed_out hub.deadline: 新宿区 税務課 did not answer <b>"),
        claim("認定"),
        claim("却下"),
    ]
    port = free_port()
    origin = f"http://localhost:{port}"
    app = create_app(backend, FakeChecker(), bridge_url=BRIDGE, public_origin=origin)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "localhost", port).start()
    try:
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[origin])
        async with aiohttp.ClientSession(cookie_jar=jar) as http:  # what the bridge does
            async with http.get(f"{origin}/login") as page:
                html = await page.text()
            challenge = hidden(html, "challenge")
            form = {
                "challenge": challenge,
                "state": hidden(html, "state"),
                "signature": b64url_encode(TARO.sign(b64url_decode(challenge))),
                "certificate": b64url_encode(TARO.der),
            }
            async with http.post(
                f"{origin}/login/complete",
                data=form,
                headers={"Origin": BRIDGE},
                allow_redirects=False,
            ) as done:
                assert done.status == 303, await done.text()
            session = next(m.value for m in jar if m.key == SESSION)
        yield origin, session
    finally:
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        await b.close()


@pytest.mark.parametrize("width", [1280, 360], ids=["desktop", "phone"])
async def test_each_claim_reads_as_its_office_told_it(
    portal: tuple[str, str], browser: Browser, width: int
) -> None:
    origin, session = portal
    context = await browser.new_context(viewport={"width": width, "height": 800})
    # a __Host- cookie, set as for the https origin: Chromium sends Secure cookies to
    # http://localhost, a trustworthy origin (as the portal's own browser test relies on)
    port = origin.rsplit(":", 1)[1]
    url = f"https://localhost:{port}/"
    cookie = {"name": SESSION, "value": session, "url": url, "secure": True}
    await context.add_cookies([cookie])  # type: ignore[list-item]
    page = await context.new_page()
    await page.goto(f"{origin}/applications")
    rows = page.locator("table.records tbody tr")
    await expect(rows).to_have_count(4)
    states = page.locator('table.records tbody td[data-label="状況"]')
    await expect(states).to_have_text(
        ["受付済み (accepted)", "審査中 (under examination)", "認定 (granted)", "却下 (rejected)"]
    )
    waiting = rows.nth(1).locator("td.detail")
    await expect(waiting).to_contain_text("新宿区 税務課 did not answer <b>")  # as text
    assert await page.locator("main b").count() == 0  # the office's words are never markup
    await expect(rows.nth(2).locator("td.detail")).to_have_text("chiyoda-child-認定")
    fits = await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert fits, f"the page is wider than {width} px"
    await context.close()
