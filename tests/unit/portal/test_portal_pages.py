"""The resident's pages: history (filters, chain check), わたしの情報, お知らせ, unavailability."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid

from portal_fakes import PUBLIC, T0, TARO, Env, access

from portal.model import ItemData, NoticeEntry, OfficeData


def notice(person_office: str = "131016-welfare", read: bool = False) -> NoticeEntry:
    return NoticeEntry(
        uuid.uuid4(),
        T0,
        person_office,
        "千代田区 福祉課",
        "児童手当のお知らせ",
        "<b>本文</b>",
        read,
    )


async def test_history_table_and_filters(env: Env) -> None:
    own = [
        access("tok-taro", minutes=0),
        access("tok-taro", minutes=60 * 24 * 3, requester="13-pref", requester_name="東京都"),
        access("tok-taro", minutes=60 * 24 * 40, provider="", provider_name="", outcome="refused"),
    ]
    env.backend.history_by["tok-taro"] = own
    env.backend.history_by["tok-hanako"] = [access("tok-hanako", requester_name="秘密の機関")]
    await env.login(TARO)
    page = await env.client.get("/history")
    html = await page.text()
    assert page.status == 200
    for header in ("日時", "照会した機関", "提供した機関", "事務", "項目", "結果", "検証"):
        assert header in html
    assert all(str(e.record_id) in html for e in own)
    assert "秘密の機関" not in html
    assert "2025-06-10 12:00:00" in html  # shown in Japan time
    assert "不許可 (refused)" in html
    assert '<td data-label="項目">地方税関係情報</td>' in html
    by_office = await (await env.client.get("/history", params={"office": "13-pref"})).text()
    assert str(own[1].record_id) in by_office
    assert str(own[0].record_id) not in by_office
    ranged = await env.client.get("/history", params={"from": "2025-06-01", "to": "2025-06-09"})
    ranged_html = await ranged.text()
    assert str(own[1].record_id) in ranged_html
    assert str(own[0].record_id) not in ranged_html
    assert str(own[2].record_id) not in ranged_html


async def test_history_bad_date_is_400_with_a_message(env: Env) -> None:
    await env.login(TARO)
    for params in (
        {"from": "2025-13-01"},
        {"to": "yesterday"},
        {"from": "2025-06-10", "to": "2025-06-01"},
    ):
        response = await env.client.get("/history", params=params)
        assert response.status == 400
        text = await response.text()
        assert "YYYY-MM-DD" in text or "from is after to" in text


async def test_chain_check_of_own_record_and_404_for_anothers(env: Env) -> None:
    mine, tampered = access("tok-taro"), access("tok-taro", minutes=5)
    theirs = access("tok-hanako")
    env.backend.history_by = {"tok-taro": [mine, tampered], "tok-hanako": [theirs]}
    env.backend.tampered.add(tampered.record_id)
    await env.login(TARO)
    ok = await env.post(f"/history/{mine.record_id}/verify")
    assert ok.status == 200
    assert "✓" in await ok.text()
    bad = await env.post(f"/history/{tampered.record_id}/verify")
    assert "✗" in await bad.text()
    assert (await env.post(f"/history/{theirs.record_id}/verify")).status == 404
    assert (await env.post("/history/not-a-uuid/verify")).status == 404
    assert (await env.post(f"/history/{uuid.uuid4()}/verify")).status == 404


async def test_a_long_history_pages_back_with_its_filters(env: Env) -> None:
    every = [access("tok-taro", minutes=i) for i in range(7)]  # newest first
    env.backend.history_by["tok-taro"] = every
    env.backend.page_size = 3
    await env.login(TARO)
    seen: list[str] = []
    url = "/history?office=131016-tax"
    while url:
        response = await env.client.get(url)
        assert response.status == 200
        text = await response.text()
        seen += [str(e.record_id) for e in every if str(e.record_id) in text]
        older = re.search(r'<a href="([^"]+)" rel="next">', text)
        url = html.unescape(older.group(1)) if older else ""
        assert not url or "office=131016-tax" in url  # the filter kept on every page
    assert seen == [str(e.record_id) for e in every]
    for bad in ("0", "-3", "x", "1" * 30):
        assert (await env.client.get("/history", params={"before": bad})).status == 400


async def test_history_unavailable_renders_a_page(env: Env) -> None:
    await env.login(TARO)
    env.backend.down.add("history")
    response = await env.client.get("/history")
    assert response.status == 503
    text = await response.text()
    assert "やりとり履歴を取得できません" in text
    assert "the hub (history)" in text
    assert "Traceback" not in text


async def test_my_info_with_an_office_unavailable(env: Env) -> None:
    env.backend.info_by["tok-taro"] = [
        OfficeData(
            "131016-resident",
            "千代田区 住民記録",
            (ItemData("resident_record", "住民票関係情報", True, {"name": "番号 太郎"}),),
        ),
        OfficeData("pension", "日本年金機構", unavailable="timed out after 5 s"),
    ]
    await env.login(TARO)
    response = await env.client.get("/me")
    text = await response.text()
    assert response.status == 200
    assert '<dt>氏名</dt><dd><span class="line">番号 太郎</span></dd>' in text
    assert "この機関は現在応答していません (unavailable: timed out after 5 s)" in text


async def test_my_info_when_the_backend_is_unavailable(env: Env) -> None:
    await env.login(TARO)
    env.backend.down.add("my_info")
    response = await env.client.get("/me")
    assert response.status == 200
    assert "unavailable: the hub (my_info)" in await response.text()


async def test_notices_read_state_and_anothers_id_is_404(env: Env) -> None:
    mine, theirs = notice(), notice()
    env.backend.notices_by = {"tok-taro": [mine, notice(read=True)], "tok-hanako": [theirs]}
    await env.login(TARO)
    home = await (await env.client.get("/")).text()
    assert 'id="home-unread">1<' in home
    page = await (await env.client.get("/notices")).text()
    assert "未読 (unread)" in page and "既読 (read)" in page
    assert "&lt;b&gt;本文&lt;/b&gt;" in page  # escaped, never markup
    assert (await env.post(f"/notices/{theirs.notice_id}/read")).status == 404
    assert not theirs.read
    done = await env.post(f"/notices/{mine.notice_id}/read")
    assert done.status == 303
    assert mine.read
    no_csrf = await env.client.post(
        f"/notices/{mine.notice_id}/read", headers={"Origin": PUBLIC}, allow_redirects=False
    )
    assert no_csrf.status == 403


async def test_unavailable_backend_on_home_and_notices(env: Env) -> None:
    await env.login(TARO)
    env.backend.down.add("notices")
    home = await env.client.get("/")
    assert home.status == 200
    assert "unavailable" in await home.text()
    assert (await env.client.get("/notices")).status == 503


async def test_unexpected_error_is_a_500_page_without_traceback(env: Env) -> None:
    await env.login(TARO)

    async def broken(person: str) -> list[OfficeData]:
        raise RuntimeError("secret internals")

    env.backend.my_info = broken  # type: ignore[method-assign]
    response = await env.client.get("/me")
    assert response.status == 500
    text = await response.text()
    assert "internal error" in text
    assert "secret internals" not in text


def test_dates_stay_in_japan_time() -> None:
    late = access("x", at=dt.datetime(2025, 6, 9, 16, 0, tzinfo=dt.UTC))
    from portal.present import access_row

    assert access_row(late)["at"] == "2025-06-10 01:00:00"


def test_enrollments_and_change_events_read_as_what_they_were() -> None:
    from portal.present import access_row

    enrolled = access_row(access("x", affair="enrollment", items=("individual_number",)))
    assert (enrolled["affair"], enrolled["items"], enrolled["outcome_label"]) == (
        "符号取得 (an office enrolled you by your number)",
        "個人番号 (your number)",
        "登録 (enrolled)",
    )
    death = access_row(access("x", affair="change_notice", items=("death",)))
    assert (death["items"], death["outcome_label"]) == ("死亡 (death)", "通知 (delivered)")
    tried = access_row(access("x", affair="change_notice", items=("death",), outcome="refused"))
    assert tried["outcome_label"] == "不許可 (refused)"
    asked = access_row(access("x"))
    assert (asked["items"], asked["outcome_label"]) == ("地方税関係情報", "提供 (provided)")
