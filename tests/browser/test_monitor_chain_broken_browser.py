"""A break in the access-record chain, seen in a real Chromium: the hub's store (its key)
writes records with signed checkpoints, one record is then altered behind its back, and the
monitor's continuous check finds it. The record-chain page says BROKEN first and where; the
chain_break alert is there for the auditor. Screenshots 17–18 in build/screenshots/monitor/."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
import uuid

import pytest
from browser_env import CHROMIUM, SCREENSHOTS, require_chromium
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.async_api import Page, async_playwright, expect
from proc_env import free_port

from hub.records import MemoryRecordStore, RecordDraft, digest
from monitor import ChainWatch, Engine, MemoryAlertStore, MemorySpanStore, Oversight, load_rules
from monitor.console import MemoryActionLog, MemoryOfficials, create_app, new_official, totp
from renkei.serving import web_site

pytestmark = [pytest.mark.chromium]
SHOTS = SCREENSHOTS / "monitor"
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def draft(n: int) -> RecordDraft:
    return RecordDraft(
        query_id=uuid.uuid4(),
        requester="chiyoda-child",
        provider="chiyoda-tax",
        affair="child_allowance",
        items=("local_tax",),
        asked_at=T0 + dt.timedelta(seconds=n),
        answered_at=T0 + dt.timedelta(seconds=n, milliseconds=3),
        outcome="ok",
        person=f"HUBTOKEN-{n % 3}",
        query_digest=digest(f"q{n}".encode()),
        reply_digest=digest(f"r{n}".encode()),
    )


async def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_a_broken_chain_is_shown_first() -> None:
    require_chromium()
    key = Ed25519PrivateKey.generate()
    records = MemoryRecordStore(signing_key=key, checkpoint_every=5)
    for n in range(0, 12, 4):
        await records.append([draft(i) for i in range(n, n + 4)])
    oversight = Oversight(
        ChainWatch(records, key.public_key(), full_every=1),
        Engine(load_rules()),
        MemoryAlertStore(),
    )
    await oversight.check()
    assert oversight.chain_state.ok
    # someone with the database in hand turns an answered query into a refusal
    altered = records._records[6]  # seq 7
    records._records[6] = dataclasses.replace(altered, outcome="refused")
    await oversight.check()
    assert oversight.chain_state.broken_at == 7

    official, password = new_official("audit", "auditor")
    officials = MemoryOfficials()
    await officials.add(official)
    port = free_port()
    url = f"http://localhost:{port}"
    app = create_app(
        MemorySpanStore(),
        officials,
        MemoryActionLog(),
        offices=["chiyoda-child", "chiyoda-tax"],
        public_origin=url,
        oversight=oversight,
    )
    async with web_site(app, "127.0.0.1", port), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{url}/login")
        await page.get_by_label("Name").fill("audit")
        await page.get_by_label("Password").fill(password)
        await page.get_by_label("Code").fill(totp(official.totp_secret, int(time.time() // 30)))
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("link", name="Record chain").click()
        verdict = page.locator("#verdict")
        await expect(verdict).to_contain_text(re.compile(r"BROKEN at record 7"))
        assert "broken" in (await verdict.get_attribute("class") or "")
        await expect(page.locator("#detail")).to_contain_text("7")
        await _shot(page, "17-chain-broken")
        await page.get_by_role("link", name="Alerts").click()
        row = page.locator('#open-alerts tr[data-rule="chain_break"]')
        await expect(row).to_contain_text("critical")
        await expect(row).to_contain_text("records")
        await _shot(page, "18-chain-break-alert")
        await browser.close()
