"""コンビニ交付 at the kiosk in a real Chromium: `renkei run kiosk` reads the emulated card
through pcscd and the vpcd reader, and asks the issuance centre's API on the network (RabbitMQ
and PostgreSQL, the CA over HTTP with OCSP). A certificate from the card to the signed PDF
(pdfsig, `renkei certificates verify`), a wrong PIN with its tries left, the lock-out, the
municipality's and the CA's refusals, and closed hours. Every screen is checked to fit the
kiosk's 1024×768 screen with touch-sized buttons and saved to build/screenshots/kiosk/."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_env import CHROMIUM, SCREENSHOTS, require_stack
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from e2e_env import Env, real_env
from kiosk_env import PINS, IssuedCard, card_of, inserted, kiosk_process, served_centre
from playwright.async_api import Browser, Page, async_playwright, expect
from portal_env import Pki, serve_pki
from proc_env import cli
from test_issuance_flow import NIGHT, NOON, SEALS, centre, network

from issuance import IssuanceCentre
from pki import CaName

pytestmark = [pytest.mark.chromium, pytest.mark.pcsc, pytest.mark.rabbitmq, pytest.mark.postgres]
SHOTS = SCREENSHOTS / "kiosk"
SCREEN = {"width": 1024, "height": 768}
TOUCH = 56  # px: the smallest button (中止); the keypad's and the choices' are larger


@dataclass
class World:
    url: str
    centre: IssuanceCentre
    pki: Pki
    state_dir: Path
    printed: Path
    cards: dict[str, IssuedCard]


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    require_stack()
    folder = tmp_path_factory.mktemp("kiosk")
    env: Env
    async for env in real_env():
        async for pki in serve_pki():
            net = await network(env, pki)
            try:
                cards = {
                    "good": await card_of(net, pki, folder, "good"),
                    "lock": await card_of(net, pki, folder, "lock"),
                    "dv": await card_of(net, pki, folder, "dv", support_measure=True),
                    "revoked": await card_of(net, pki, folder, "revoked"),
                }
                c = centre(net, pki)
                async with (
                    served_centre(c) as centre_url,
                    kiosk_process(folder, centre_url, folder / "printed") as url,
                ):
                    yield World(url, c, pki, folder, folder / "printed", cards)
            finally:
                await env.close()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        await b.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=SCREEN, locale="ja-JP")
    p = await context.new_page()
    yield p
    await context.close()


async def screen(page: Page, name: str) -> None:
    """The screen fits 1024×768 without scrolling, every button is touch-sized; a shot of it."""
    size = await page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert size[0] <= SCREEN["width"] and size[1] <= SCREEN["height"], (name, size)
    heights = await page.eval_on_selector_all(
        "button, a.button", "els => els.map(e => e.getBoundingClientRect().height)"
    )
    assert all(h >= TOUCH for h in heights), (name, heights)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def put_card_and_start(page: Page, w: World, shot: str = "") -> None:
    await page.goto(w.url)
    await expect(page.locator("h1")).to_have_text("マイナンバーカードを置いてください")
    if shot:
        await screen(page, shot)
    await page.get_by_role("button", name="次へ").click()
    await expect(page.locator("h1")).to_have_text("暗証番号を入力してください")


async def enter(page: Page, pin: str, shot: str = "") -> None:
    keypad = page.locator("form.keypad")
    for i, digit in enumerate(pin):
        await keypad.get_by_role("button", name=digit, exact=True).click()
        await expect(page.locator(".dots .on")).to_have_count(i + 1)
    if shot:
        await screen(page, shot)
    await keypad.get_by_role("button", name="確定").click()


async def choose(page: Page, label: str, note: str) -> None:
    await expect(page.locator("h1")).to_have_text("取得する証明書を選んでください")
    await page.locator("form.menu button", has_text=label).filter(has_text=note).click()
    await expect(page.locator("h1")).to_have_text("内容を確認してください")


def pdfsig(path: Path) -> str:
    done = subprocess.run(
        ["pdfsig", "-nocert", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    return done.stdout + done.stderr


async def test_a_certificate_from_the_card_to_the_signed_pdf(world: World, page: Page) -> None:
    async with inserted(world.cards["good"], world.state_dir):
        await put_card_and_start(page, world, "01-place-the-card")
        await expect(page.locator("#tries")).to_contain_text("3 回")
        await screen(page, "02-pin")
        await enter(page, PINS.auth, "03-pin-entered")
        await screen(page, "04-choose")
        await choose(page, "住民票の写し", "世帯全員")
        await expect(page.locator("#fee")).to_have_text("200 円")  # the centre's quote
        await screen(page, "05-fee")
        await page.get_by_role("button", name="印刷").click()
        await expect(page.locator("h1")).to_have_text("印刷しました", timeout=30_000)
        await screen(page, "06-printed")
        link = await page.locator("#pdf").get_attribute("href") or ""
        got = await page.request.get(world.url + link)
        assert got.headers["content-type"] == "application/pdf"
        pdf = world.state_dir / "shown.pdf"
        pdf.write_bytes(await got.body())
        shown = await page.context.new_page()  # shown: Chromium's own PDF viewer opens it
        await shown.goto(world.url + link)
        await shown.wait_for_timeout(1500)  # the viewer renders the page
        await shown.screenshot(path=str(SHOTS / "06b-printed-pdf.png"))
        await shown.close()
        await page.get_by_role("button", name="終了").click()
        await expect(page.locator("h1")).to_have_text("マイナンバーカードを置いてください")
    # "printed": the kiosk saved the very PDF it showed, and its signature is valid
    saved = list(world.printed.glob("*.pdf"))
    assert [p.read_bytes() for p in saved] == [pdf.read_bytes()]
    out = await asyncio.to_thread(pdfsig, pdf)
    assert "Signature Validation: Signature is Valid." in out, out
    assert "Total document signed" in out, out
    root = world.state_dir / "lgpki-root.pem"
    root.write_bytes(SEALS.cert.public_bytes(serialization.Encoding.PEM))
    code, said = await cli(
        dict(os.environ), "certificates", "verify", str(pdf), "--ca-file", str(root)
    )
    assert code == 0 and "valid — resident_certificate" in said, said


async def test_a_wrong_pin_shows_the_tries_left(world: World, page: Page) -> None:
    async with inserted(world.cards["good"], world.state_dir):
        await put_card_and_start(page, world)
        await enter(page, "9999")
        await expect(page.get_by_role("alert")).to_have_text("暗証番号が違います。残り 2 回です。")
        await expect(page.locator("#tries")).to_contain_text("2 回")
        await screen(page, "07-wrong-pin")
        await enter(page, PINS.auth)  # the right PIN puts the card's counter back to 3
        await expect(page.locator("h1")).to_have_text("取得する証明書を選んでください")
        await page.get_by_role("button", name="中止").click()
        await put_card_and_start(page, world)
        await expect(page.locator("#tries")).to_contain_text("3 回")


async def test_three_wrong_pins_lock_the_card(world: World, page: Page) -> None:
    async with inserted(world.cards["lock"], world.state_dir):
        await put_card_and_start(page, world)
        await enter(page, "1111")
        await enter(page, "2222")
        await expect(page.get_by_role("alert")).to_contain_text("次に間違えるとロックされます")
        await screen(page, "08-last-try")
        await enter(page, "3333")
        await expect(page.locator("h1")).to_have_text("暗証番号がロックされています")
        await expect(page.locator("main")).to_contain_text("市区町村の窓口")
        await screen(page, "09-locked")
        # the card keeps it: put down again, it is refused at once, no keypad
        await page.get_by_role("link", name="最初の画面に戻る").click()
        await page.get_by_role("button", name="次へ").click()
        await expect(page.locator("h1")).to_have_text("暗証番号がロックされています")
        await expect(page.locator("form.keypad")).to_have_count(0)


async def test_a_resident_under_a_dv_support_measure_is_refused(world: World, page: Page) -> None:
    async with inserted(world.cards["dv"], world.state_dir):
        await put_card_and_start(page, world)
        await enter(page, PINS.auth)
        await choose(page, "住民票の写し", "本人のみ")
        await page.get_by_role("button", name="印刷").click()
        await expect(page.locator("h1")).to_have_text(
            "コンビニでは交付できません（支援措置）", timeout=30_000
        )
        await expect(page.locator("main")).to_contain_text("窓口でお申し込みください")
        await screen(page, "10-refused-support-measure")


async def test_a_revoked_card_certificate_is_refused(world: World, page: Page) -> None:
    card = world.cards["revoked"]
    world.pki.ca.revoke(CaName.AUTHENTICATION, card.auth_serial, x509.ReasonFlags.key_compromise)
    async with inserted(card, world.state_dir):
        await put_card_and_start(page, world)
        await enter(page, PINS.auth)
        await choose(page, "印鑑登録証明書", "")
        await page.get_by_role("button", name="印刷").click()
        await expect(page.locator("h1")).to_have_text(
            "このカードの電子証明書はご利用いただけません", timeout=30_000
        )
        await screen(page, "11-refused-revoked")


async def test_outside_the_hours_the_kiosk_asks_nothing(world: World, page: Page) -> None:
    world.centre.clock = lambda: NIGHT
    try:
        await page.goto(world.url)
        await expect(page.locator("h1")).to_have_text("ただいまの時間はご利用いただけません")
        await expect(page.locator("main")).to_contain_text("6:30〜23:00")
        assert await page.locator("button, form").count() == 0
        await screen(page, "12-closed")
    finally:
        world.centre.clock = lambda: NOON
    await page.goto(world.url)
    await expect(page.get_by_role("button", name="次へ")).to_be_visible()
