"""コンビニ交付 at the kiosk in a real Chromium: `renkei run kiosk` reads the emulated card
through pcscd and the vpcd reader, and asks the issuance centre's API on the network (RabbitMQ
and PostgreSQL, the CA over HTTP with OCSP). A certificate from the card to the payment and the
signed PDF (pdfsig, `renkei certificates verify`); last year's tax certificate in two copies; a
year assessed by another municipality refused; 中止 during the payment and a print that fails
give the money back; a wrong PIN with its tries left, the lock-out, the municipality's and the
CA's refusals, and closed hours. Every screen is checked to fit the
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
from issuance.verify import verify_pdf
from pki import CaName

pytestmark = [pytest.mark.chromium, pytest.mark.pcsc, pytest.mark.rabbitmq, pytest.mark.postgres]
SHOTS = SCREENSHOTS / "kiosk"
SCREEN = {"width": 1024, "height": 768}
TOUCH = 56  # px: the smallest button (中止); the keypad's and the choices' are larger
# a resident who came to 千代田区 in 2025: assessed here for fiscal year 2026 only
MOVED_IN_2026 = {"2026": {"total_income": 3_000_000, "municipal_income_levy": 150_000}}


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
                    "moved": await card_of(net, pki, folder, "moved", years=MOVED_IN_2026),
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


async def choose(page: Page, label: str, note: str, year: str = "") -> None:
    await expect(page.locator("h1")).to_have_text("取得する証明書を選んでください")
    await page.locator("form.menu button", has_text=label).filter(has_text=note).click()
    if year:
        await expect(page.locator("h1")).to_have_text("年度を選んでください")
        await page.locator("form.years button", has_text=year).click()
    await expect(page.locator("h1")).to_have_text("内容を確認してください")


async def to_payment(page: Page) -> None:
    await page.get_by_role("button", name="お支払いへ").click()
    await expect(page.locator("h1")).to_have_text("料金をお支払いください", timeout=30_000)


async def insert(page: Page, *coins: str) -> None:
    for coin in coins:
        await page.locator("form.till").get_by_role("button", name=coin, exact=True).click()


def printed_files(w: World) -> set[Path]:
    return set(w.printed.glob("*.pdf")) if w.printed.is_dir() else set()


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
        await expect(page.locator("#number")).to_have_text("記載しない")  # the default
        await page.locator("#toggle-number").click()  # the resident's own touch
        await expect(page.locator("#number")).to_have_text("記載する")
        await expect(page.locator("#title")).to_contain_text("個人番号あり")
        await screen(page, "05a-fee-with-the-number")
        await page.locator("#toggle-number").click()  # changed their mind: without it
        await expect(page.locator("#number")).to_have_text("記載しない")
        await screen(page, "05-fee")
        await to_payment(page)
        await expect(page.locator("#due")).to_have_text("200 円")
        await screen(page, "05b-pay")
        assert printed_files(world) == set()  # nothing printed before the payment
        await insert(page, "100 円")
        await expect(page.locator("#rest")).to_have_text("100 円")
        assert printed_files(world) == set()  # less than due: still nothing
        await insert(page, "500 円")
        await expect(page.locator("h1")).to_have_text("印刷しました", timeout=30_000)
        await expect(page.locator("#change")).to_have_text("400 円")
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


async def test_last_years_tax_certificate_in_two_copies(world: World, page: Page) -> None:
    before = printed_files(world)
    async with inserted(world.cards["good"], world.state_dir):
        await put_card_and_start(page, world)
        await enter(page, PINS.auth)
        await page.locator("form.menu button", has_text="課税（所得）証明書").click()
        await expect(page.locator("h1")).to_have_text("年度を選んでください")
        years = page.locator("form.years button .label")
        await expect(years).to_have_text(["令和8年度", "令和7年度", "令和6年度", "令和5年度"])
        await screen(page, "13-year")
        await years.filter(has_text="令和7年度").click()
        await expect(page.locator("#title")).to_contain_text("令和7年度")
        await expect(page.locator("#fee")).to_have_text("300 円")
        await page.get_by_role("button", name="1通増やす").click()
        await expect(page.locator("#copies")).to_have_text("2 通")
        await expect(page.locator("#fee")).to_have_text("600 円")
        await screen(page, "14-copies")
        await to_payment(page)
        await expect(page.locator("#due")).to_have_text("600 円")
        await insert(page, "1,000 円")
        await expect(page.locator("h1")).to_have_text("印刷しました", timeout=30_000)
        await expect(page.locator("#printed-copies")).to_have_text("2 通")
        await expect(page.locator("#change")).to_have_text("400 円")
        await screen(page, "15-printed-two")
        await page.get_by_role("button", name="終了").click()
    new = sorted(printed_files(world) - before)
    assert len(new) == 2 and new[0].read_bytes() == new[1].read_bytes(), new
    root = world.state_dir / "lgpki-root.pem"
    root.write_bytes(SEALS.cert.public_bytes(serialization.Encoding.PEM))
    code, said = await cli(
        dict(os.environ), "certificates", "verify", str(new[0]), "--ca-file", str(root)
    )
    assert code == 0 and "valid — tax_certificate" in said, said
    verified = await verify_pdf(new[0].read_bytes(), [SEALS.cert])
    assert verified.data["fiscal_year"] == 2025  # the year asked through the hub


async def test_a_year_assessed_by_another_municipality_is_refused(world: World, page: Page) -> None:
    before = printed_files(world)
    async with inserted(world.cards["moved"], world.state_dir):
        await put_card_and_start(page, world)
        await enter(page, PINS.auth)
        await choose(page, "課税（所得）証明書", "", year="令和6年度")
        await page.get_by_role("button", name="お支払いへ").click()
        await expect(page.locator("h1")).to_have_text(
            "この年度の課税（所得）証明書は交付できません", timeout=30_000
        )
        await expect(page.locator("main")).to_contain_text("その市区町村にご請求ください")
        await screen(page, "16-refused-tax-elsewhere")
    assert printed_files(world) == before


async def test_cancel_during_the_payment_gives_the_money_back(world: World, page: Page) -> None:
    before = printed_files(world)
    async with inserted(world.cards["good"], world.state_dir):
        await put_card_and_start(page, world)
        await enter(page, PINS.auth)
        await choose(page, "印鑑登録証明書", "")
        await to_payment(page)
        await insert(page, "100 円", "50 円")
        await expect(page.locator("#paid")).to_have_text("150 円")
        token = await page.locator("form.till input[name=t]").get_attribute("value") or ""
        await page.get_by_role("button", name="中止").click()
        await expect(page.locator("h1")).to_have_text("取り消しました")
        await expect(page.locator("main")).to_contain_text("150 円をお返ししました")
        await expect(page.locator("main")).to_contain_text("印刷していません")
        await screen(page, "17-cancelled-refund")
        # the payment's form sent again: nothing taken, nothing printed
        again = await page.request.post(
            world.url + "/pay",
            form={"t": token, "insert": "emoney"},
            headers={"Origin": world.url},
        )
        assert "取り消しました" in await again.text()
    assert printed_files(world) == before


async def test_a_print_that_fails_gives_the_money_back(world: World, page: Page) -> None:
    aside = world.printed.with_name("printed-aside")
    if world.printed.exists():
        world.printed.rename(aside)
    world.printed.write_bytes(b"the printer is out of order")  # no copy can be saved
    try:
        async with inserted(world.cards["good"], world.state_dir):
            await put_card_and_start(page, world)
            await enter(page, PINS.auth)
            await choose(page, "印鑑登録証明書", "")
            await to_payment(page)
            await insert(page, "500 円")
            await expect(page.locator("h1")).to_have_text("印刷できませんでした", timeout=30_000)
            await expect(page.locator("main")).to_contain_text("500 円をお返ししました")
            await screen(page, "18-print-failed-refund")
    finally:
        world.printed.unlink()
        if aside.exists():
            aside.rename(world.printed)


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
        await page.get_by_role("button", name="お支払いへ").click()
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
        await page.get_by_role("button", name="お支払いへ").click()
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
