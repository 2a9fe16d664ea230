"""The kiosk's screens over HTTP, with an issued card in memory and the centre's real API on a
fake network: the whole flow, the PIN's tries and lock-out, the hours, every refusal, and
malformed, forged, oversized and cross-site requests refused with a screen that says so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kiosk_helpers import NIGHT, PDF, PIN, Answer, Kiosk, forms, kiosk, text_of
from proc_env import free_port

from card_service import Card
from kiosk.flow import IDLE
from kiosk.web import MAX_BODY


@pytest.fixture
async def k(tmp_path: Path, card: Card) -> AsyncIterator[Kiosk]:
    async with kiosk(tmp_path, card) as made:
        yield made


def tries_of(page: str) -> str:
    return text_of(page).split("入力できる残り回数：")[1].split("回")[0].strip()


async def test_the_first_screen_asks_for_the_card_and_allows_no_script(k: Kiosk) -> None:
    got = await k.http.get("/")
    page = await got.text()
    assert got.status == 200
    assert "マイナンバーカードを置いてください" in page
    csp = got.headers["Content-Security-Policy"]
    assert "script-src" not in csp and csp.startswith("default-src 'none'")
    assert "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
    assert got.headers["Cache-Control"] == "no-store"
    assert got.headers["X-Frame-Options"] == "DENY"
    assert "<script" not in page and " style=" not in page  # nothing inline
    css = await k.http.get("/static/kiosk.css")
    assert css.status == 200 and "Cache-Control" not in css.headers


async def test_a_certificate_from_the_card_to_the_printed_pdf(k: Kiosk) -> None:
    status, page = await k.post("/start")
    assert status == 200 and "暗証番号を入力してください" in page
    assert tries_of(page) == "3"
    for digit in PIN[:3]:
        _, page = await k.key(digit)
    assert text_of(page).count("●") == 3 and PIN not in page  # the digits never shown
    _, page = await k.key(PIN[3])
    _, page = await k.key("ok")
    assert "取得する証明書を選んでください" in page
    buttons = forms(page).buttons["/choose"]
    assert [v for _, v in buttons] == ["resident-self", "resident-household", "seal", "tax"]
    _, page = await k.post("/choose", {"t": k.token(), "item": "resident-household"})
    screen = text_of(page)
    assert "住民票の写し" in screen and "世帯全員" in screen and "200 円" in screen
    assert k.node.asked == []  # the fee comes before anything is asked
    _, page = await k.post("/back", {"t": k.token()})
    _, page = await k.post("/choose", {"t": k.token(), "item": "tax"})
    assert "年度を選んでください" in page
    assert [v for _, v in forms(page).buttons["/year"]] == ["2026", "2025", "2024", "2023"]
    _, page = await k.post("/year", {"t": k.token(), "year": "2026"})
    assert "300 円" in text_of(page) and "令和8年度" in text_of(page)
    status, page = await k.post("/order", {"t": k.token()})
    assert status == 200 and "料金をお支払いください" in page, page
    assert k.node.asked == [("tax_certificate", {"fiscal_year": 2026})]
    assert list(k.printed.glob("*")) == []  # nothing printed before the payment
    status, page = await k.insert("100", "500")
    assert status == 200 and "印刷しました" in page, page
    assert "おつり 300 円" in text_of(page)
    link = next(p for p in page.split('"') if p.startswith("/printed/"))
    got = await k.http.get(link)
    assert got.content_type == "application/pdf" and await got.read() == PDF
    saved = list(k.printed.glob("*.pdf"))
    assert [p.read_bytes() for p in saved] == [PDF]
    # 終了: the transaction ends and its PDF is gone from the screen
    status, _ = await k.post("/cancel", {"t": k.token()})
    assert status == 200 and "マイナンバーカードを置いてください" in k.page
    assert (await k.http.get(link)).status == 404


async def test_the_number_only_when_the_resident_chooses_it(k: Kiosk) -> None:
    """住民票の写し: 記載しない by default; 記載する is the resident's own touch, shown before
    printing, and undone by 戻る; no other certificate offers it, and a forged post is refused."""
    await k.post("/start")
    await k.enter(PIN)
    _, page = await k.post("/choose", {"t": k.token(), "item": "resident-self"})
    assert "記載しない" in text_of(page.split('id="number">')[1])
    _, page = await k.post("/number", {"t": k.token(), "number": "1"})
    assert "個人番号あり" in text_of(page) and "記載する" in text_of(page.split('id="number">')[1])
    _, page = await k.post("/number", {"t": k.token(), "number": "0"})  # changed their mind
    _, page = await k.post("/number", {"t": k.token(), "number": "1"})
    status, _ = await k.post("/order", {"t": k.token()})
    assert status == 200
    assert k.node.asked == [("resident_certificate_number", {"household": 0})]
    await k.post("/cancel", {"t": k.token()})
    await k.post("/start")
    await k.enter(PIN)
    await k.post("/choose", {"t": k.token(), "item": "resident-household"})
    await k.post("/number", {"t": k.token(), "number": "1"})
    await k.post("/back", {"t": k.token()})  # 戻る: the choice starts over, without
    await k.post("/choose", {"t": k.token(), "item": "resident-household"})
    await k.post("/order", {"t": k.token()})
    assert k.node.asked[-1] == ("resident_certificate", {"household": 1})
    await k.post("/cancel", {"t": k.token()})
    await k.post("/start")
    await k.enter(PIN)
    _, page = await k.post("/choose", {"t": k.token(), "item": "seal"})
    assert "/number" not in page
    for forged in ({"number": "1"}, {"number": "yes"}):
        status, page = await k.post("/number", {"t": k.token(), **forged})
        assert status == 400 and "個人番号は記載できません" in text_of(page)


async def test_a_wrong_pin_shows_the_tries_left_and_the_third_locks_the_card(k: Kiosk) -> None:
    await k.post("/start")
    _, page = await k.enter("9999")
    assert "暗証番号が違います。残り 2 回です。" in page and tries_of(page) == "2"
    _, page = await k.enter("0000")
    assert "残り 1 回です。次に間違えるとロックされます。" in page
    _, page = await k.enter("1111")
    assert "暗証番号がロックされています" in page and "市区町村の窓口" in page
    assert "/pin" not in forms(page).forms
    # the card keeps it: the next resident at this card is told at once, no keypad
    _, page = await k.post("/start")
    assert "暗証番号がロックされています" in page and "/pin" not in forms(page).forms
    assert k.node.asked == []


async def test_the_keypad_keeps_four_digits_and_a_short_pin_spends_no_try(k: Kiosk) -> None:
    await k.post("/start")
    for digit in "12345":
        _, page = await k.key(digit)
    assert text_of(page).count("●") == 4
    _, page = await k.key("clear")
    assert text_of(page).count("●") == 0
    await k.key("1")
    _, page = await k.key("ok")
    assert "数字4桁" in page and tries_of(page) == "3"
    _, page = await k.enter(PIN)
    assert "取得する証明書を選んでください" in page


async def test_outside_the_hours_the_kiosk_says_so_and_asks_nothing(k: Kiosk) -> None:
    k.centre.clock = lambda: NIGHT
    _, page = await k.get("/")
    assert "ただいまの時間はご利用いただけません" in page and "6:30〜23:00" in page
    assert forms(page).forms == {}  # no button at all
    _, page = await k.post("/start")
    assert "ただいまの時間はご利用いただけません" in page
    assert k.reader.opened == 0  # the card was not even read


async def test_closing_time_while_choosing_is_refused_at_printing(k: Kiosk) -> None:
    await k.to_menu()
    await k.post("/choose", {"t": k.token(), "item": "seal"})
    k.centre.clock = lambda: NIGHT
    _, page = await k.post("/order", {"t": k.token()})
    assert "ただいまの時間はご利用いただけません" in page
    assert k.node.asked == []


@pytest.mark.parametrize(
    ("code", "reason", "words"),
    [
        ("municipality.support_measure", "支援措置", "支援措置"),
        ("municipality.move_out_pending", "転出の届出（2026-06-20）", "転出の届出"),
        ("municipality.no_seal", "印鑑登録がありません", "印鑑登録がされていません"),
        ("municipality.something_new", "新しい理由です", "新しい理由です"),
    ],
)
async def test_the_municipalitys_refusal_is_said_on_the_screen(
    k: Kiosk, code: str, reason: str, words: str
) -> None:
    k.node.answer = Answer("refused", code=code, reason=reason)
    await k.to_menu()
    await k.post("/choose", {"t": k.token(), "item": "resident-self"})
    _, page = await k.post("/order", {"t": k.token()})
    assert words in text_of(page)
    assert "最初の画面に戻る" in page and "/pay" not in forms(page).forms
    assert list(k.printed.glob("*")) == []


async def test_a_revoked_card_certificate_is_refused_on_the_screen(k: Kiosk) -> None:
    k.check.revoked = True
    await k.to_menu()
    await k.post("/choose", {"t": k.token(), "item": "seal"})
    _, page = await k.post("/order", {"t": k.token()})
    assert "このカードの電子証明書はご利用いただけません" in page and "失効" in page
    assert k.node.asked == []


async def test_a_transaction_left_alone_ends(k: Kiosk) -> None:
    await k.to_menu()
    k.clock.now += IDLE + 1
    status, page = await k.post("/choose", {"t": k.token(), "item": "seal"})
    assert status == 400 and "最初からやり直してください" in page


async def test_no_card_in_the_reader(k: Kiosk) -> None:
    k.reader.card = None
    _, page = await k.post("/start")
    assert "カードが読み取れません" in page and "/start" in forms(page).forms


async def test_the_centre_out_of_reach(tmp_path: Path, card: Card) -> None:
    async with kiosk(tmp_path, card, centre_url=f"http://127.0.0.1:{free_port()}") as k:
        _, page = await k.get("/")
        assert "ただいまご利用いただけません" in page
        assert "/start" not in forms(page).forms


# -- what only another site, a stale screen or a forger would send --------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # another port is another site
        {"Origin": "", "Referer": "http://evil.example/x"},
    ],
)
async def test_a_post_from_another_site_is_refused(k: Kiosk, headers: dict[str, str]) -> None:
    status, page = await k.post("/start", **headers)
    assert status == 403 and "この操作は受け付けられません" in page
    assert k.reader.opened == 0


async def test_a_post_with_neither_origin_nor_referer_is_refused(k: Kiosk) -> None:
    got = await k.http.post("/start", data={}, skip_auto_headers=["Origin"])
    assert got.status == 403


async def test_a_pin_posted_by_another_site_into_an_open_transaction_is_refused(
    k: Kiosk,
) -> None:
    await k.post("/start")
    token = k.token()
    for _ in range(3):  # it would lock the card
        status, _ = await k.post("/pin", {"t": token, "key": "ok"}, Origin="http://evil.example")
        assert status == 403
    await k.post("/start")
    assert tries_of(k.page) == "3"


async def test_a_foreign_host_name_is_refused(k: Kiosk) -> None:
    got = await k.http.get("/", headers={"Host": "rebound.example"})
    assert got.status == 421


@pytest.mark.parametrize(
    ("path", "fields", "words"),
    [
        ("/pin", {"t": "", "key": "1"}, "この画面は終了しています"),  # no token
        ("/pin", {"t": "forged", "key": "1"}, "この画面は終了しています"),
        ("/pin", {"key": "A"}, "このキーはありません"),
        ("/pin", {"key": "11"}, "このキーはありません"),
        ("/pin", {"key": "1", "pin": "1234"}, "この画面の送信ではありません"),
        ("/pin", {"key": "1" * 100}, "長すぎます"),
    ],
)
async def test_forms_the_screens_never_send_are_refused(
    k: Kiosk, path: str, fields: dict[str, str], words: str
) -> None:
    await k.post("/start")
    token = k.token()
    if "t" not in fields:
        fields = {"t": token, **fields}
    status, page = await k.post(path, fields)
    assert status == 400 and words in page, page
    assert k.node.asked == []


async def test_an_item_not_on_the_menu_and_a_repeated_field(k: Kiosk) -> None:
    await k.to_menu()
    status, page = await k.post("/choose", {"t": k.token(), "item": "family_register"})
    assert status == 400 and "この証明書は選べません" in page
    await k.to_menu()
    token = k.token()
    got = await k.http.post(
        "/choose",
        data=f"t={token}&item=seal&item=tax",
        headers={"Origin": k.origin, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert got.status == 400


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"key": "1"}', "application/json", 415),
        (b"key=1", "text/plain", 415),
        (b"\xff\xfe=1", "application/x-www-form-urlencoded", 400),
        (b"t=1&&&=", "application/x-www-form-urlencoded", 400),
        (b"t=" + b"a" * MAX_BODY, "application/x-www-form-urlencoded", 413),
    ],
)
@pytest.mark.parametrize("path", ["/pin", "/year", "/copies", "/order", "/pay"])
async def test_malformed_and_oversized_bodies(
    k: Kiosk, body: bytes, content_type: str, status: int, path: str
) -> None:
    got = await k.http.post(
        path, data=body, headers={"Origin": k.origin, "Content-Type": content_type}
    )
    assert got.status == status
    assert got.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "<h1" in await got.text()


async def test_the_printed_pdf_is_only_the_current_transactions(k: Kiosk) -> None:
    await k.to_payment()
    assert (await k.http.get(f"/printed/{k.token()}.pdf")).status == 404  # not paid yet
    await k.insert("emoney")
    assert (await k.http.get(f"/printed/{k.token()}.pdf")).status == 200
    assert (await k.http.get("/printed/forged.pdf")).status == 404
    assert (await k.http.get("/printed/..%2f..%2fetc%2fpasswd.pdf")).status == 404


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/choose", {"item": "seal"}),
        ("/year", {"year": "2026"}),
        ("/copies", {"copies": "2"}),
        ("/order", {}),
        ("/pay", {"insert": "100"}),
        ("/back", {}),
    ],
)
async def test_a_post_of_a_screen_not_on_show_does_nothing(
    k: Kiosk, path: str, fields: dict[str, str]
) -> None:
    """The menu comes after the PIN, printing after the fee: the keypad stays on the screen."""
    await k.post("/start")
    status, page = await k.post(path, {"t": k.token(), **fields})
    assert status == 200 and "暗証番号を入力してください" in page
    assert k.node.asked == []


async def test_a_double_tap_on_order_orders_once(k: Kiosk) -> None:
    await k.to_menu()
    await k.post("/choose", {"t": k.token(), "item": "seal"})
    token = k.token()
    first, second = await asyncio.gather(
        k.post("/order", {"t": token}), k.post("/order", {"t": token})
    )
    assert [first[0], second[0]] == [200, 200]
    assert "料金をお支払いください" in first[1] and "料金をお支払いください" in second[1]
    assert len(k.node.asked) == 1
    assert list(k.printed.glob("*.pdf")) == []


async def test_a_card_pulled_out_before_the_pin_is_checked(k: Kiosk) -> None:
    await k.post("/start")
    for digit in PIN:
        await k.key(digit)
    k.reader.card = None
    _, page = await k.key("ok")
    assert "カードが読み取れません" in page and "/pin" not in forms(page).forms


async def test_a_double_tap_on_order_when_refused_shows_the_refusal_twice(k: Kiosk) -> None:
    k.node.answer = Answer("refused", code="municipality.support_measure", reason="支援措置")
    await k.to_menu()
    await k.post("/choose", {"t": k.token(), "item": "resident-self"})
    token = k.token()
    first, second = await asyncio.gather(
        k.post("/order", {"t": token}), k.post("/order", {"t": token})
    )
    assert "支援措置" in first[1] and "支援措置" in second[1]
    assert len(k.node.asked) == 1
    # a new transaction forgets it: the old token is stale
    await k.post("/start")
    status, page = await k.post("/order", {"t": token})
    assert status == 400 and "この画面は終了しています" in page


async def test_a_second_touch_of_cancel_goes_to_the_first_screen_too(k: Kiosk) -> None:
    await k.post("/start")
    token = k.token()
    first, second = await asyncio.gather(
        k.post("/cancel", {"t": token}), k.post("/cancel", {"t": token})
    )
    assert "マイナンバーカードを置いてください" in first[1]
    assert "マイナンバーカードを置いてください" in second[1]
    assert k.node.asked == []
