"""The card bridge in a real Chromium: only the portal's pages open its PIN prompt.

``renkei card bridge`` serves one portal, ``http://localhost:P``. Two pages hold the same forms
posting the bridge's login and sign steps (the sign step with a summary of the page's own
choosing): one served from the portal's origin with the portal's own security headers
(``portal.security``), one from another origin (another port on 127.0.0.1) — with Chromium's
default referrer policy (``Origin`` that site) and under ``Referrer-Policy: no-referrer``
(``Origin: null``, which the bridge once accepted). The foreign page gets 403 and no PIN field;
the portal's page gets the prompt. A foreign page's ``fetch`` (from a sandboxed frame: ``Origin:
null``) can no longer push the resident's open PIN form out of the bridge. The card is not
touched before the PIN, so the bridge runs on a state file that does not exist: no reader.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import escape
from pathlib import Path

import pytest
from aiohttp import web
from browser_env import CHROMIUM, start
from playwright.async_api import Browser, Page, async_playwright, expect
from proc_env import free_port

from portal.security import content_security_policy, security_headers
from renkei.serving import web_site

pytestmark = pytest.mark.chromium
CHALLENGE = "A" * 43  # base64url of 32 bytes
DOCUMENT = "eyJ0byI6ICJhbm90aGVyIGJhbmsifQ"  # base64url of '{"to": "another bank"}'
SUMMARY = "口座の変更に同意します (another site's text)"
SANDBOXED = '<iframe sandbox="allow-scripts" srcdoc="<p>sandboxed</p>"></iframe>'


@dataclass
class Sites:
    bridge: str
    portal: str
    foreign: str


def forms_page(bridge: str, portal: str, *, frame: bool = False) -> str:
    """The two forms a portal page posts to the bridge (what any site can copy); with
    ``frame``, a sandboxed frame too (an opaque origin: its requests say ``Origin: null``)."""
    login = {"challenge": CHALLENGE, "return_to": f"{portal}/login/complete", "state": "s"}
    sign = {
        "document": DOCUMENT,
        "summary": SUMMARY,
        "return_to": f"{portal}/applications/signed",
        "state": "s",
    }

    def form(name: str, action: str, fields: dict[str, str]) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in fields.items()
        )
        return (
            f'<form method="post" action="{bridge}{action}">{hidden}<button>{name}</button></form>'
        )

    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>forms</title></head><body>'
        f"{form('login', '/login', login)}{form('sign', '/sign', sign)}"
        f"{SANDBOXED if frame else ''}</body></html>"
    )


def pages_app(html: str, headers: dict[str, str]) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        extra = {"Referrer-Policy": "no-referrer"} if "hidden" in request.query else {}
        return web.Response(text=html, content_type="text/html", headers={**headers, **extra})

    app = web.Application()
    app.router.add_get("/", page)
    return app


@pytest.fixture(scope="module")
def chromium() -> str:
    """Fail (never skip) without Chromium; no PC/SC needed here."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no {CHROMIUM}: apt-get install chromium (.ci/run does)")
    return CHROMIUM


@pytest.fixture(scope="module")
async def sites(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sites]:
    state = tmp_path_factory.mktemp("bridge")
    bridge_port, portal_port, foreign_port = free_port(), free_port(), free_port()
    s = Sites(
        f"http://127.0.0.1:{bridge_port}",
        f"http://localhost:{portal_port}",
        f"http://127.0.0.1:{foreign_port}",
    )
    portal_headers = security_headers(content_security_policy(s.bridge), hsts=False)
    bridge = await start(
        "bridge",
        state,
        "card",
        "bridge",
        "--port",
        str(bridge_port),
        "--portal",
        s.portal,
        "--state",
        str(state / "no-card.state"),  # no card: the one PIN sent here gets a 503
    )
    drain: asyncio.Task[None] | None = None
    try:
        await bridge.wait_for(str(bridge_port))
        drain = asyncio.create_task(bridge.drain())
        async with (
            web_site(
                pages_app(forms_page(s.bridge, s.portal), portal_headers), "127.0.0.1", portal_port
            ),
            web_site(
                pages_app(forms_page(s.bridge, s.portal, frame=True), {}), "127.0.0.1", foreign_port
            ),
        ):
            yield s
    finally:
        await bridge.stop()
        if drain is not None:
            drain.cancel()


@pytest.fixture(scope="module")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium, headless=True)
        yield b
        await b.close()


async def submit(page: Page, url: str, button: str) -> tuple[int, str | None]:
    """Open ``url``, press the form's button: the bridge's status and the Origin Chromium sent."""
    await page.goto(url)
    async with (
        page.expect_request(re.compile(r"/(login|sign)$")) as sent,
        page.expect_navigation() as answer,
    ):
        await page.get_by_role("button", name=button).click()
    response = await answer.value
    assert response is not None
    return response.status, (await (await sent.value).all_headers()).get("origin")


@pytest.mark.parametrize("button", ["login", "sign"])
async def test_the_portals_page_opens_the_prompt(
    sites: Sites, browser: Browser, button: str
) -> None:
    page = await browser.new_page()
    status, origin = await submit(page, f"{sites.portal}/", button)
    assert (status, origin) == (200, sites.portal)  # the portal's referrer policy sends it
    await expect(page.locator("#pin")).to_be_visible()
    await page.close()


@pytest.mark.parametrize("button", ["login", "sign"])
@pytest.mark.parametrize("hidden", [False, True], ids=["origin", "no-referrer"])
async def test_a_foreign_page_gets_no_prompt(
    sites: Sites, browser: Browser, button: str, hidden: bool
) -> None:
    page = await browser.new_page()
    url = f"{sites.foreign}/?hidden" if hidden else f"{sites.foreign}/"
    status, origin = await submit(page, url, button)
    assert origin == ("null" if hidden else sites.foreign)
    assert status == 403
    await expect(page.locator("body")).to_contain_text("posted only by the portal")
    assert await page.locator("input[type=password]").count() == 0
    assert SUMMARY not in await page.content()
    await page.close()


@pytest.mark.parametrize("sandboxed", [False, True], ids=["page", "sandboxed-frame"])
async def test_foreign_fetches_cannot_push_out_the_residents_pin_form(
    sites: Sites, browser: Browser, sandboxed: bool
) -> None:
    """The bridge keeps at most 64 PIN forms open, the oldest dropped: each start it accepted
    from another site (by ``fetch``, whose answer the page never sees) pushed one out."""
    resident = await browser.new_page()
    await submit(resident, f"{sites.portal}/", "login")
    await expect(resident.locator("#pin")).to_be_visible()
    foreign = await browser.new_page()
    await foreign.goto(f"{sites.foreign}/")
    where = next(f for f in foreign.frames if f != foreign.main_frame) if sandboxed else foreign
    # the Origin its requests carry (Playwright does not show a blocked request's Origin)
    assert await where.evaluate("self.origin") == ("null" if sandboxed else sites.foreign)
    fields = {"challenge": CHALLENGE, "return_to": f"{sites.portal}/login/complete", "state": ""}
    await where.evaluate(
        """async ([url, fields, n]) => {
            for (let i = 0; i < n; i++) {
                await fetch(url, {method: "POST", mode: "no-cors",
                                  body: new URLSearchParams(fields)}).catch(() => null);
            }
        }""",
        [f"{sites.bridge}/login", fields, 100],
    )
    await resident.locator("#pin").fill("1234")
    async with resident.expect_navigation() as answer:
        await resident.get_by_role("button", name="OK").click()
    response = await answer.value
    assert response is not None
    body = await resident.content()
    assert "start again from the portal" not in body  # the form was still open
    assert response.status == 503  # it went on to the card (there is none here)
    await resident.close()
    await foreign.close()
