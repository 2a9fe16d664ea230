"""The resident portal in a real Chromium: log in with the card (through the card bridge, the
emulated card in the vpcd reader, pcscd), every page, a live access alert and a live notice,
a signed e-Tax return, log out. A screenshot of each page goes to build/screenshots/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from browser_env import CHROMIUM, SCREENSHOTS, World, world
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

pytestmark = [pytest.mark.chromium, pytest.mark.pcsc]
AUTH_PIN, SIGN_PASSWORD = "1234", "DEMO1234"
ROWS = "#history tbody tr[id^=r-]"  # renkei.portal_commands.DEMO_PINS
# the registry's name of nenkin, the demo's office that looks at the resident (another body:
# the ward's own offices read its register in-house, 庁内連携, leaving no access record)
LOOKING_OFFICE = "日本年金機構"
ALERTS = "#live-alerts p"  # the live alert lines (portal/static/live.js keeps three)


@pytest.fixture(scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with world(tmp_path_factory.mktemp("browser")) as w:
        yield w


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    for old in SCREENSHOTS.glob("*.png"):  # this run's screenshots only (not the monitor's)
        old.unlink()
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        await b.close()


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def grows(page: Page, selector: str, count: int, text: str = "") -> None:
    """Wait (10 s) until more than ``count`` elements match (and contain ``text``): live
    updates, without a reload."""
    await page.wait_for_function(
        "([sel, n, text]) => [...document.querySelectorAll(sel)]"
        ".filter(e => e.textContent.includes(text)).length > n",
        arg=[selector, count, text],
        timeout=10_000,
    )


async def mark_seen(page: Page, selector: str) -> None:
    await page.evaluate(
        "sel => document.querySelectorAll(sel).forEach(e => { e.dataset.seen = '1'; })", selector
    )


async def appears(page: Page, selector: str, text: str) -> None:
    """Wait (10 s) for an element matching ``selector`` that contains ``text`` and was not
    there at the last ``mark_seen``: a live update, without a reload."""
    await page.wait_for_function(
        "([sel, text]) => [...document.querySelectorAll(sel)]"
        ".some(e => !e.dataset.seen && e.textContent.includes(text))",
        arg=[selector, text],
        timeout=10_000,
    )


async def matching(page: Page, selector: str, text: str = "") -> int:
    return int(
        await page.evaluate(
            "([sel, text]) => [...document.querySelectorAll(sel)]"
            ".filter(e => e.textContent.includes(text)).length",
            [selector, text],
        )
    )


async def log_in(page: Page, w: World, pin: str = AUTH_PIN) -> None:
    await page.goto(f"{w.portal}/login")
    await shot(page, "01-login")
    await page.get_by_role("button", name=re.compile("マイナンバーカードでログイン")).click()
    await expect(page).to_have_url(re.compile(re.escape(w.bridge)))
    await page.locator("#pin").fill(pin)
    await shot(page, "02-bridge-pin")
    await page.get_by_role("button", name="OK").click()


async def back_to_portal(page: Page) -> None:
    await page.get_by_role("button", name=re.compile("ポータルへ戻る")).click()


async def logged_in(browser: Browser, w: World) -> tuple[BrowserContext, Page]:
    """A fresh browser context, logged in with the card through the bridge."""
    context = await browser.new_context()
    page = await context.new_page()
    await log_in(page, w)
    await back_to_portal(page)
    await expect(page).to_have_url(f"{w.portal}/")
    return context, page


async def test_a_wrong_pin_stays_on_the_bridge(running: World, browser: Browser) -> None:
    page = await browser.new_page()
    await log_in(page, running, pin="9999")
    # the bridge's alert says how many tries the card has left: 3 for the login PIN, one spent
    await expect(page.get_by_role("alert")).to_contain_text("暗証番号が違います。残り 2 回")
    await expect(page.locator("#pin")).to_be_visible()  # asked again
    await shot(page, "03-bridge-wrong-pin")
    assert running.portal not in page.url
    await page.close()


async def test_login_pages_live_alert_notice_application_logout(
    running: World, browser: Browser
) -> None:
    context, page = await logged_in(browser, running)
    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies["__Host-renkei-session"]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Lax"
    await shot(page, "04-home")

    # やりとり履歴: the login itself is on record; an office's access appears without reload
    await page.goto(f"{running.portal}/history")
    rows = page.locator(ROWS)
    await expect(rows.first).to_be_visible()
    # the demo's office looks every 2 s: a new record of it arrives without reload (among
    # others: this page's own disclosure is on record too)
    office_rows = await matching(page, ROWS, LOOKING_OFFICE)
    await grows(page, ROWS, office_rows, LOOKING_OFFICE)
    await shot(page, "05-history-live")
    await rows.first.get_by_role("button", name=re.compile("検証")).click()
    await expect(page.locator("p.ok[role=status]")).to_contain_text("✓")

    # お知らせ: the demo's notices, unread; the next one appears without reload
    await page.goto(f"{running.portal}/notices")
    notices = page.locator("#notice-list li[id^=n-]")
    await expect(notices.first).to_contain_text("児童手当の現況", timeout=10_000)
    await grows(page, "#notice-list li[id^=n-]", await notices.count())  # a notice every 4 s
    await shot(page, "06-notices")
    await page.get_by_role("button", name=re.compile("既読にする")).first.click()
    await expect(page.locator("main")).to_contain_text("既読")

    # わたしの情報: fetched through the hub under the portal's own identity
    await page.goto(f"{running.portal}/me")
    main = page.locator("main")
    for words in (
        "番号 花子",
        "女性",
        "住民票関係情報",
        "4,820,000円",
        "照会できる特定個人情報の定め",
    ):
        await expect(main).to_contain_text(words)
    await shot(page, "07-me")

    # an e-Tax return, signed with the card's signature key through the bridge
    await page.goto(f"{running.portal}/applications/new/tax_return")
    await page.locator("#f-fiscal_year").fill("2025")
    await page.locator("#f-income").fill("5000000")
    await page.locator("#f-deductions").fill("480000")
    await shot(page, "08-application-form")
    await page.get_by_role("button", name=re.compile("確認")).click()
    await shot(page, "09-application-confirm")
    await page.get_by_role("button", name=re.compile("署名して送信")).click()
    await page.locator("#pin").fill(SIGN_PASSWORD)
    await shot(page, "10-bridge-sign")
    await page.get_by_role("button", name="OK").click()
    await back_to_portal(page)
    await expect(page.locator("main")).to_contain_text("nta-")
    await shot(page, "11-application-accepted")
    await page.goto(f"{running.portal}/applications")
    await expect(page.locator("main")).to_contain_text("nta-")
    await shot(page, "12-applications")

    # log out: the old session cookie is dead server-side
    await page.get_by_role("button", name=re.compile("ログアウト")).click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    cookie = {"Cookie": f"{session['name']}={session['value']}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{running.portal}/history", headers=cookie, allow_redirects=False) as old,
    ):
        assert (old.status, old.headers["Location"]) == (303, "/login")
    await context.close()


async def test_cross_site_posts_and_other_residents_ids_are_refused(
    running: World, browser: Browser
) -> None:
    context, page = await logged_in(browser, running)
    # a POST without the CSRF token (as a cross-site form would send it)
    response = await page.request.post(f"{running.portal}/logout", form={"csrf": "forged"})
    assert response.status == 403
    # another resident's (here: nobody's) record id
    fake = "00000000-0000-4000-8000-000000000000"
    response = await page.request.post(
        f"{running.portal}/history/{fake}/verify",
        form={"csrf": await page.locator("input[name=csrf]").first.get_attribute("value") or ""},
        headers={"Origin": running.portal},
    )
    assert response.status == 404
    await context.close()


# ---- as a resident reads it, on a phone ----------------------------------------------------------

PHONES = {"390x844": (390, 844), "360x740": (360, 740)}
CODES = ("chiyoda-", "child_allowance", "resident_record", "self_information", "disclosure")


async def width_fits(page: Page, name: str) -> None:
    """The page is no wider than the screen: nothing scrolls sideways."""
    wide, inner = await page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    await shot(page, name)
    if wide > inner:  # say which elements stick out, for the failure message
        out = await page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => "
            "e.getBoundingClientRect().right > innerWidth + 0.5).slice(-5).map(e => "
            "e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)"
            " + ' ' + e.textContent.slice(0, 40))"
        )
        pytest.fail(f"{page.url} is {wide} px wide on a {inner} px screen: {out}")


@pytest.mark.parametrize("phone", sorted(PHONES))
async def test_every_page_fits_a_phone(running: World, browser: Browser, phone: str) -> None:
    width, height = PHONES[phone]
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    await page.goto(f"{running.portal}/login")
    await width_fits(page, f"p{phone}-login")
    await log_in(page, running)
    await back_to_portal(page)
    await expect(page).to_have_url(f"{running.portal}/")
    await expect(page.locator("header .who")).to_contain_text("番号 花子 さん")  # named
    await width_fits(page, f"p{phone}-home")
    await page.goto(f"{running.portal}/history")
    await expect(page.locator(ROWS).first).to_be_visible()
    await width_fits(page, f"p{phone}-history")
    await page.locator("details.own summary").click()  # the resident's own look-ups, apart
    await width_fits(page, f"p{phone}-history-own")
    await page.goto(f"{running.portal}/notices")
    await expect(page.locator("#notice-list")).to_contain_text("https://", timeout=10_000)
    await width_fits(page, f"p{phone}-notices")  # a long URL in a notice wraps
    await page.goto(f"{running.portal}/me")
    await width_fits(page, f"p{phone}-me")
    await page.goto(f"{running.portal}/applications")
    await width_fits(page, f"p{phone}-applications")
    for kind in ("moving", "child_allowance", "tax_return"):
        await page.goto(f"{running.portal}/applications/new/{kind}")
        await width_fits(page, f"p{phone}-form-{kind}")
    await page.locator("#f-fiscal_year").fill("2025")
    await page.locator("#f-income").fill("5000000")
    await page.locator("#f-deductions").fill("480000")
    await page.get_by_role("button", name=re.compile("確認")).click()
    await expect(page.get_by_role("button", name=re.compile("署名して送信"))).to_be_visible()
    await width_fits(page, f"p{phone}-confirm")
    await page.goto(f"{running.portal}/history?office=bad%20code")
    await width_fits(page, f"p{phone}-history-400")
    await context.close()


async def test_history_reads_in_words_and_own_lookups_never_alert(
    running: World, browser: Browser
) -> None:
    context, page = await logged_in(browser, running)
    await page.goto(f"{running.portal}/history")
    # while the page listens, the resident's own look-ups happen (わたしの情報: the holders,
    # each office asked) and the demo's office keeps looking (every 2 s)
    # the alert box keeps the newest three lines, so a new alert is a line not seen before,
    # not a higher count
    for _ in range(2):
        await mark_seen(page, ALERTS)
        assert (await page.request.get(f"{running.portal}/me")).ok
        await appears(page, ALERTS, LOOKING_OFFICE)  # an office's access alert
    lines = await page.locator(ALERTS).all_inner_texts()
    assert lines and all("マイナポータル" not in line for line in lines), lines
    await shot(page, "20-history-alerts")
    await page.reload()
    # the portal's own look-ups are in their own table, the offices' in theirs
    own = page.locator("#own-history tbody tr[id^=r-]")
    assert await own.count() >= 3
    assert await matching(page, ROWS, "マイナポータル") == 0
    # the office's accesses are in the offices' table (in the portal's own look-ups it may be
    # named as one of the holders わたしの情報 asked)
    assert await matching(page, ROWS, LOOKING_OFFICE) > 0
    # every code reads in words: no office, affair or item code in what the resident sees
    text = await page.locator("main").inner_text()
    assert not [code for code in CODES if code in text], text
    for words in (
        "国民年金法による給付の支給又は保険料の徴収",
        "住民票関係情報",
        "千代田区 住民記録担当",
    ):
        assert words in text
    # the office filter: a choice of names
    await page.locator("select[name=office]").select_option(label=LOOKING_OFFICE)
    await page.get_by_role("button", name=re.compile("絞り込む")).click()
    await expect(page).to_have_url(re.compile(r"office=nenkin"))
    assert await matching(page, ROWS) == await matching(page, ROWS, LOOKING_OFFICE)
    await shot(page, "21-history-filtered")
    await context.close()
