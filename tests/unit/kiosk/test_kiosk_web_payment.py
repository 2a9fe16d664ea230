"""The kiosk's fee screen, year, copies and payment over HTTP (the centre's real API on a fake
network): printed only once paid, each copy once, 中止 and a failed print give the money back;
forged copies, years and coins, a payment replayed and another site's posts refused."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kiosk_helpers import PDF, Answer, Kiosk, forms, kiosk, text_of
from structlog.testing import capture_logs

from card_service import Card
from kiosk import screens
from kiosk.flow import IDLE


@pytest.fixture
async def k(tmp_path: Path, card: Card) -> AsyncIterator[Kiosk]:
    async with kiosk(tmp_path, card) as made:
        yield made


def printed(k: Kiosk) -> list[bytes]:
    return [p.read_bytes() for p in sorted(k.printed.glob("*.pdf"))] if k.printed.exists() else []


def shown(page: str, id_: str) -> str:
    """The text of the element with ``id_`` (a cell or a span of the screen)."""
    found = re.search(rf'id="{id_}"[^>]*>(.*?)</(td|span)>', page, re.S)
    assert found is not None, (id_, page[:300])
    return text_of(found.group(1)).strip()


async def test_three_copies_are_quoted_paid_for_and_each_printed(k: Kiosk) -> None:
    await k.to_menu()
    _, page = await k.post("/choose", {"t": k.token(), "item": "resident-household"})
    assert shown(page, "fee") == "200 円" and shown(page, "copies") == "1 通"
    assert [v for n, v in forms(page).buttons["/copies"]] == ["0", "2"]  # − is disabled at 1
    _, page = await k.post("/copies", {"t": k.token(), "copies": "3"})
    assert shown(page, "fee") == "600 円" and shown(page, "copies") == "3 通"
    _, page = await k.post("/order", {"t": k.token()})
    assert shown(page, "due") == "600 円" and shown(page, "rest") == "600 円"
    _, page = await k.insert("500")
    assert "料金をお支払いください" in page and shown(page, "rest") == "100 円"
    assert printed(k) == []  # less than due: nothing printed
    _, page = await k.insert("1000")
    assert "印刷しました" in page
    assert (shown(page, "paid"), shown(page, "change")) == ("1,500 円", "900 円")
    assert "3 通" in text_of(page)
    assert printed(k) == [PDF, PDF, PDF]
    assert k.node.asked == [("resident_certificate", {"household": 1})]  # one order


async def test_the_last_year_of_the_tax_certificate_is_asked_through_the_centre(
    k: Kiosk,
) -> None:
    await k.to_menu()
    await k.post("/choose", {"t": k.token(), "item": "tax"})
    _, page = await k.post("/year", {"t": k.token(), "year": "2025"})
    assert "令和7年度" in shown(page, "title") and shown(page, "fee") == "300 円"
    _, page = await k.post("/copies", {"t": k.token(), "copies": "2"})
    assert "令和7年度" in shown(page, "title") and shown(page, "fee") == "600 円"
    await k.post("/order", {"t": k.token()})
    _, page = await k.insert("emoney")
    assert "印刷しました" in page and shown(page, "change") == "0 円"
    assert k.node.asked == [("tax_certificate", {"fiscal_year": 2025})]
    assert len(printed(k)) == 2


async def test_a_year_assessed_elsewhere_is_a_clear_refusal_before_any_payment(k: Kiosk) -> None:
    k.node.answer = Answer(
        "refused", code="municipality.tax_elsewhere", reason="2024年度の…1月1日にお住まいだった…"
    )
    await k.to_menu()
    await k.post("/choose", {"t": k.token(), "item": "tax"})
    await k.post("/year", {"t": k.token(), "year": "2024"})
    status, page = await k.post("/order", {"t": k.token()})
    assert status == 200 and "この年度の課税（所得）証明書は交付できません" in page
    assert "その市区町村にご請求ください" in text_of(page)
    assert "/pay" not in forms(page).forms and printed(k) == []
    assert k.node.asked == [("tax_certificate", {"fiscal_year": 2024})]


async def test_a_resident_the_tax_office_does_not_hold_at_all_is_told_so(k: Kiosk) -> None:
    """Moved in this year: no tax office here holds them, the hub finds no one to ask."""
    k.node.answer = Answer("not_found", reason="none of chiyoda-tax held a record")
    await k.to_menu()
    await k.post("/choose", {"t": k.token(), "item": "tax"})
    await k.post("/year", {"t": k.token(), "year": "2026"})
    _, page = await k.post("/order", {"t": k.token()})
    assert "この証明書を交付できる記録がありません" in page
    assert "1月1日にお住まいだった市区町村" in text_of(page)
    assert "chiyoda-tax" not in page  # the network's words go to the log, not the screen
    assert "/pay" not in forms(page).forms and printed(k) == []


async def test_cancel_during_the_payment_gives_everything_back_and_prints_nothing(
    k: Kiosk,
) -> None:
    await k.to_payment("seal", copies=2)
    token = k.token()
    await k.insert("100", "50", "10")
    with capture_logs() as logs:
        status, page = await k.post("/cancel", {"t": token})
    assert status == 200 and "取り消しました" in page
    assert "160 円をお返ししました" in text_of(page) and "印刷していません" in text_of(page)
    assert "電子マネー" not in text_of(page)
    assert printed(k) == []
    assert [e["amount"] for e in logs if e["event"] == "kiosk refund"] == [160]
    # the payment's form again: the transaction ended, its screen is shown, nothing taken
    status, page = await k.post("/pay", {"t": token, "insert": "1000"})
    assert "取り消しました" in page and printed(k) == []


async def test_cancel_before_any_money_just_ends(k: Kiosk) -> None:
    await k.to_payment()
    got = await k.http.post(
        "/cancel", data={"t": k.token()}, headers={"Origin": k.origin}, allow_redirects=False
    )
    assert got.status == 303 and printed(k) == []


async def test_a_transaction_left_alone_during_the_payment_gives_the_money_back(
    k: Kiosk,
) -> None:
    await k.to_payment()
    token = k.token()
    await k.insert("100")
    k.clock.now += IDLE + 1
    with capture_logs() as logs:
        status, page = await k.post("/pay", {"t": token, "insert": "100"})
    assert status == 400 and "最初からやり直してください" in page
    assert [e["amount"] for e in logs if e["event"] == "kiosk refund"] == [100]
    assert printed(k) == []


async def test_a_replayed_payment_prints_nothing_again(k: Kiosk) -> None:
    await k.to_payment("seal", copies=2)  # 400 円
    token = k.token()
    await k.insert("100", "100", "100")
    last = {"t": token, "insert": "100"}
    first, second = await asyncio.gather(k.post("/pay", last), k.post("/pay", last))
    assert "印刷しました" in first[1] and "印刷しました" in second[1]
    assert shown(second[1], "paid") == "400 円"  # the second coin was not taken
    again = await k.post("/pay", {"t": token, "insert": "emoney"})
    assert "印刷しました" in again[1] and shown(again[1], "paid") == "400 円"
    assert len(printed(k)) == 2 and len(k.node.asked) == 1
    await k.post("/cancel", {"t": token})  # 終了
    status, page = await k.post("/pay", last)  # the ended transaction's form, replayed
    assert status == 400 and "この画面は終了しています" in page
    await k.post("/start")
    status, _ = await k.post("/pay", last)  # into the next resident's transaction
    assert status == 400
    assert len(printed(k)) == 2


async def test_a_print_that_fails_gives_back_the_fee_of_the_copies_not_printed(
    k: Kiosk, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = screens._save
    calls = 0

    async def jam(path: Path, pdf: bytes) -> None:  # the printer jams on the second copy
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("paper jam")
        await saved(path, pdf)

    monkeypatch.setattr(screens, "_save", jam)
    await k.to_payment("seal", copies=3)  # 600 円
    token = k.token()
    with capture_logs() as logs:
        status, page = await k.insert("1000")
    assert status == 200 and "印刷できませんでした" in page
    assert "3 通のうち 1 通を印刷しました" in text_of(page)
    assert "800 円をお返ししました" in text_of(page)  # two copies' 400 円 and the change 400
    assert [e["refund"] for e in logs if e["event"] == "kiosk print failed"] == [800]
    assert not [e for e in logs if e["event"] == "kiosk refund"]  # given back once
    assert printed(k) == [PDF]
    _, page = await k.post("/pay", {"t": token, "insert": "10"})  # the payment again
    assert "印刷できませんでした" in page and printed(k) == [PDF] and calls == 2


async def test_a_printer_that_cannot_print_at_all_gives_everything_back(
    tmp_path: Path, card: Card
) -> None:
    async with kiosk(tmp_path, card) as k:
        k.printed.write_bytes(b"not a folder")  # the printer's output is unusable
        await k.to_payment()  # 200 円
        _, page = await k.insert("500")
        assert "印刷できませんでした" in page and "500 円をお返ししました" in text_of(page)
        assert "通のうち" not in text_of(page)


# -- what only a forger, a stale screen or another site would send ---------------------------


@pytest.mark.parametrize(
    "value", ["0", "-1", "-10", "11", "100000000000000000000", "", "abc", "３", "2.5", "+2"]
)
async def test_forged_copies_are_refused_and_change_nothing(k: Kiosk, value: str) -> None:
    await k.to_menu()
    await k.post("/choose", {"t": k.token(), "item": "seal"})
    token = k.token()
    status, page = await k.post("/copies", {"t": token, "copies": value})
    assert status == 400 and "最初からやり直してください" in page
    await k.post("/order", {"t": token})
    _, page = await k.insert("100", "100")
    assert "印刷しました" in page and len(printed(k)) == 1  # still 1 copy, 200 円


@pytest.mark.parametrize(
    "value", ["2022", "2027", "1900", "", "令和8", "２０２６", "2026 ", "-2026"]
)
async def test_a_forged_year_is_refused(k: Kiosk, value: str) -> None:
    await k.to_menu()
    await k.post("/choose", {"t": k.token(), "item": "tax"})
    status, page = await k.post("/year", {"t": k.token(), "year": value})
    assert status == 400 and "最初からやり直してください" in page
    assert k.node.asked == []


@pytest.mark.parametrize(
    "fields",
    [
        {"insert": "10000"},
        {"insert": "-500"},
        {"insert": "999"},
        {"insert": ""},
        {"insert": "100", "amount": "200"},  # a field the till never sends
        {"paid": "200"},
    ],
)
async def test_forged_payments_are_refused_and_print_nothing(
    k: Kiosk, fields: dict[str, str]
) -> None:
    await k.to_payment()
    status, _ = await k.post("/pay", {"t": k.token(), **fields})
    assert status == 400 and printed(k) == []


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/pay", {"insert": "emoney"}),
        ("/copies", {"copies": "3"}),
        ("/year", {"year": "2025"}),
        ("/order", {}),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "", "Referer": "http://evil.example/"},
    ],
)
async def test_another_sites_post_to_a_new_screen_is_refused(
    k: Kiosk, path: str, fields: dict[str, Any], headers: dict[str, str]
) -> None:
    await k.to_payment()
    status, _ = await k.post(path, {"t": k.token(), **fields}, **headers)
    assert status == 403
    assert printed(k) == []


async def test_a_payment_with_a_forged_token_is_refused(k: Kiosk) -> None:
    await k.to_payment()
    for token in ("", "forged", k.token() + "x"):
        status, page = await k.post("/pay", {"t": token, "insert": "emoney"})
        assert status == 400 and "この画面は終了しています" in page
    assert printed(k) == []
