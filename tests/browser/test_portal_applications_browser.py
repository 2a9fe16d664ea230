"""The 申請 page in a real Chromium, without a card: the portal on the fake backend of its unit
tests (``portal_fakes``), logged in as its fake bridge does; each sent application reads as its
office told it — 受付済み, 審査中 with why it waits, 認定, 却下 — on a desktop and on a phone."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from browser_env import CHROMIUM
from playwright.async_api import Browser, async_playwright, expect

from portal.model import ApplicationStatus
from tests.unit.portal.portal_fakes import TARO, start

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
    """(the portal's origin, a session cookie of 太郎's): the portal on the fake backend of its
    unit tests, logged in as their fake bridge does."""
    async for env in start():
        env.backend.apps_by["tok-taro"] = [
            claim(""),
            claim("審査中", "timed_out hub.deadline: 新宿区 税務課 did not answer <b>"),
            claim("認定"),
            claim("却下"),
        ]
        yield str(env.client.make_url("/").origin()), await env.login(TARO)


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
    # http://127.0.0.1, a trustworthy origin
    url = origin.replace("http://", "https://", 1) + "/"
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
