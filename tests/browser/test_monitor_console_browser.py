"""The monitor's console in a real Chromium: `renkei demo --monitor` (the network in one
process, real queries every second, the console beside it); an operator signs in with password
and TOTP, searches, opens the waterfall of a real query, watches the live map update without a
reload; an auditor signs in, reads the access statistics and the console's action log (the
operator's actions in it); an auditor's try at an operator's page is refused. A screenshot of
every page goes to build/screenshots/monitor/."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from browser_env import CHROMIUM, SCREENSHOTS, Process, require_chromium, start
from playwright.async_api import Browser, Page, async_playwright, expect
from proc_env import free_port

from monitor.console import totp

pytestmark = [pytest.mark.chromium]
SHOTS = SCREENSHOTS / "monitor"
OWN_SHOTS = 12


@dataclass
class Console:
    url: str
    demo: Process
    officials: dict[str, tuple[str, str]]  # name → (password, TOTP secret)


def _officials(lines: list[str]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    name = password = ""
    for line in lines:
        if m := re.match(r"official (\S+) \(", line):
            name = m.group(1)
        elif m := re.search(r"password \(shown once\): (\S+)", line):
            password = m.group(1)
        elif m := re.search(r"TOTP secret: ([A-Z2-7]+)", line):
            found[name] = (password, m.group(1))
    return found


@pytest.fixture(scope="module")
async def console(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Console]:
    require_chromium()
    port = free_port()
    demo = await start(
        "demo",
        tmp_path_factory.mktemp("console"),
        "demo",
        "--monitor",
        "--port",
        str(port),
        "--public-url",
        f"http://localhost:{port}",
        "--every",
        "1",
    )
    try:
        await demo.wait_for("Ctrl-C stops", timeout=120)
        officials = _officials(demo.lines)
        assert set(officials) == {"demo-operator", "demo-auditor"}, demo.lines
        yield Console(f"http://localhost:{port}", demo, officials)
    finally:
        await demo.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    for old in SHOTS.glob("[01][0-9]-*.png"):  # this run's screenshots only (01-12 are ours;
        if int(old.name[:2]) <= OWN_SHOTS:  # the dead letters' and the broken chain's follow)
            old.unlink()
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        await b.close()


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _code(secret: str) -> str:
    return totp(secret, int(time.time() // 30))


async def sign_in(page: Page, c: Console, name: str, screenshot: str = "") -> None:
    password, secret = c.officials[name]
    await page.goto(f"{c.url}/login")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Password").fill(password)
    await page.get_by_label("Code").fill(_code(secret))
    if screenshot:
        await shot(page, screenshot)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("header .who")).to_contain_text(name)


async def test_operator(browser: Browser, console: Console) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    # a wrong code first: refused, recorded
    await page.goto(f"{console.url}/login")
    await page.get_by_label("Name").fill("demo-operator")
    await page.get_by_label("Password").fill(console.officials["demo-operator"][0])
    await page.get_by_label("Code").fill("000000")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#error")).to_contain_text("wrong")
    await shot(page, "01-sign-in-refused")

    await sign_in(page, console, "demo-operator", "02-sign-in")
    await expect(page).to_have_url(re.compile(r"/search$"))
    rows = page.locator("#flows tbody tr")
    await expect(rows.first).to_be_visible()
    await shot(page, "03-search")
    # narrowed: the queries the legal table refused (the demo makes one each round)
    await page.get_by_label("Outcome").fill("refused")
    await page.get_by_role("button", name="Search").click()
    await expect(page).to_have_url(re.compile(r"outcome=refused"))
    await expect(rows.first).to_contain_text("refused")
    assert "ok" not in [t.strip() for t in await rows.locator("td:nth-child(6)").all_inner_texts()]
    await shot(page, "04-search-refused")

    # the waterfall of one real query that the provider answered (another ward's tax office,
    # asked over the network; the ward's own offices are read in-house, no query)
    await page.goto(f"{console.url}/search?office=shinjuku-tax&outcome=not_found")
    await rows.first.locator("a.trace").click()
    await expect(page).to_have_url(re.compile(r"/trace/[0-9a-f]{32}$"))
    table = page.locator("#waterfall")
    for name in ("query", "process hub.requests", "translate", "process office.in"):
        await expect(table).to_contain_text(name)
    assert await page.locator("#waterfall rect.bar").count() >= 4
    await shot(page, "05-waterfall")

    # the live map: its numbers change without a reload
    await page.goto(f"{console.url}/map")
    await page.evaluate("window.notReloaded = true")
    first = await page.locator("#updated").inner_text()
    await page.wait_for_function(
        "t => document.getElementById('updated').textContent !== t", arg=first, timeout=15_000
    )
    await expect(page.locator('#edges tr[data-key="chiyoda-child>hub"] .count')).not_to_have_text(
        ""
    )
    await expect(page.locator("#map line.link.busy").first).to_be_attached()
    assert await page.evaluate("window.notReloaded === true")
    await shot(page, "06-live-map")

    # the alerts: an operator sees them, but has no 確認 to press
    await page.get_by_role("link", name="Alerts").click()
    await expect(page.locator("#open-alerts tr.alert").first).to_be_attached(timeout=60_000)
    assert await page.locator("form.ack").count() == 0
    await shot(page, "10-alerts-operator")
    await page.get_by_role("link", name="Record chain").click()
    await expect(page.locator("#verdict")).to_contain_text("Intact", timeout=30_000)
    assert not [e for e in errors if "Content Security Policy" in e], errors
    await context.close()


async def test_auditor(browser: Browser, console: Console) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await sign_in(page, console, "demo-auditor")
    await expect(page).to_have_url(re.compile(r"/stats$"))
    counts = page.locator("#counts tbody tr")
    await expect(counts.first).to_be_visible()
    await expect(page.locator("#counts")).to_contain_text("child_allowance")
    text = await page.locator("main").inner_text()
    assert not re.search(r"[0-9a-f]{32}", text)  # no trace id on an auditor's page
    await shot(page, "07-stats")

    # an alert raised by a real rule: the demo's child-allowance office looks up the same
    # five applicants every second, so `repeated_lookups` fires within a few rounds
    await page.get_by_role("link", name="Alerts").click()
    row = page.locator('#open-alerts tr.alert[data-rule="repeated_lookups"]').first
    await expect(row).to_be_attached(timeout=60_000)  # the page reloads when the feed says
    await expect(row).to_contain_text("chiyoda-child")
    alert_id = await row.get_attribute("data-id")
    # no number: twelve digits alone (a record id's last group may be twelve digits too)
    assert alert_id and not re.search(r"(?<![\w-])\d{12}(?![\w-])", await row.inner_text())
    await shot(page, "10-alerts")
    await row.get_by_role("button", name=re.compile("acknowledge")).click()
    await expect(page).to_have_url(re.compile(r"/alerts$"))
    acked = page.locator(f'#acked-alerts tr[data-id="{alert_id}"]')
    await expect(acked).to_contain_text("demo-auditor")
    await expect(page.locator(f'#open-alerts tr[data-id="{alert_id}"]')).to_have_count(0)
    await shot(page, "11-alert-acknowledged")

    # the record chain, verified as the hub writes it
    await page.get_by_role("link", name="Record chain").click()
    await expect(page.locator("#verdict")).to_contain_text("Intact", timeout=30_000)
    assert int(await page.locator("#verified-seq").inner_text()) > 0
    await expect(page.locator("#checkpoint-seq")).to_contain_text("one every 1000 records")
    await expect(page.locator("#checked-at")).not_to_have_text("—")
    await shot(page, "12-chain")

    await page.get_by_role("link", name="Console actions").click()
    actions = page.locator("#actions")
    await expect(actions).to_contain_text("demo-operator")
    await expect(actions).to_contain_text("view_trace")
    await expect(actions).to_contain_text("monitor.console.sign_in_refused")
    await expect(actions).to_contain_text(f"{alert_id} repeated_lookups chiyoda-child")
    await shot(page, "08-actions")
    response = await page.goto(f"{console.url}/map")
    assert response is not None and response.status == 403
    await expect(page.locator("#message")).to_contain_text("may not open /map")
    await shot(page, "09-forbidden")
    await page.goto(f"{console.url}/stats")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await context.close()
