"""The portal as a resident reads it: Japanese words for every code, the resident's own
look-ups apart and never alerting, offices chosen by name, わたしの情報 labelled, figures with
separators, the resident named."""

from __future__ import annotations

import asyncio
import datetime as dt
import html.parser
import re
import uuid
from collections import defaultdict
from types import SimpleNamespace
from typing import Any, get_args

import pytest
from portal_fakes import TARO, Env
from test_portal_live import open_feed, read_event

from agencies.item_office import COLLECTION, ItemOffice
from agencies.municipality.local_tax import LocalTax
from agencies.municipality.resident_register import ResidentRegister
from agencies.population import LocalIds, chunk_households, place, records_rng, select
from hub.node import MemoryStore, NoRecord
from hub.routing import portal as portal_rules
from hub.wire.messages import Change
from portal import login
from portal.model import ItemData, NoticeEntry, OfficeData
from portal.office import PortalOffice
from portal.present import FIELDS, access_row, affair_label, item_fields, item_label
from renkei.network import load_rules
from renkei.population.commands import plan_for
from renkei.settings import Settings

TABLE, REGISTRY = load_rules(Settings(_env_file=None))
PORTAL_CODE = "myna-portal"


class _Text(html.parser.HTMLParser):
    """What a resident sees: the text of the page's <main> (no attributes, no markup)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth, self.parts = 0, []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.depth += tag == "main" or bool(self.depth)

    def handle_endtag(self, tag: str) -> None:
        self.depth -= bool(self.depth)

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def seen(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(parser.parts)


def office() -> PortalOffice:
    """The portal's office with the real registry and legal table, on no network: enough to
    name the records it receives."""
    node = SimpleNamespace(code=PORTAL_CODE, store=None)
    return PortalOffice(node, REGISTRY, TABLE, lambda signed: b"")  # type: ignore[arg-type]


def named(requester: str, provider: str, affair: str, items: tuple[str, ...]) -> Any:
    return office()._entry(
        record_id=uuid.uuid4(),
        at=dt.datetime.now(dt.UTC),
        requester=requester,
        provider=provider,
        affair=affair,
        items=items,
        outcome="ok",
        record_hash="",
    )


# ---- every code in Japanese words, from the data that defines it -------------------------------


def test_every_affair_and_item_of_the_legal_table_reads_as_the_table_names_it() -> None:
    for code, affair in TABLE.affairs.items():
        row = access_row(named("chiyoda-child", "chiyoda-resident", code, tuple(TABLE.items)))
        assert row["affair"] == affair.ja
        assert row["items"] == "、".join(i.ja for i in TABLE.items.values())
    row = access_row(named("chiyoda-child", "chiyoda-resident", "child_allowance", ("local_tax",)))
    assert (row["affair"], row["items"]) == ("児童手当の支給", "地方税関係情報")
    assert (row["requester_name"], row["provider_name"]) == (
        "千代田区 子育て支援課（児童手当）",
        "千代田区 住民記録担当",
    )


def test_every_office_of_the_registry_reads_by_its_name() -> None:
    for o in REGISTRY:
        row = access_row(named(o.code, "hub", "disclosure", ("access_records",)))
        assert row["requester_name"] == o.name_ja
        assert o.code not in set(row.values()) - {row["requester"]}
    assert (
        access_row(named("nta", "hub", "disclosure", ()))["requester_name"] == "国税庁 麹町税務署"
    )


def test_the_hubs_own_affairs_and_items_have_words_too() -> None:
    """Login, disclosure, わたしの情報, applications, enrollment, change notices: the affairs
    no legal-table row defines, and what they are recorded under."""
    own_affairs = (
        portal_rules.LOGIN,
        portal_rules.DISCLOSURE,
        portal_rules.SELF_INFORMATION,
        portal_rules.APPLICATION,
        "enrollment",
        "change_notice",
    )
    for affair in own_affairs:
        assert not affair_label(affair).startswith("不明"), affair
    items = (
        *portal_rules.DISCLOSURE_ITEMS,
        *get_args(Change),
        "individual_number",
        "card_holder",
        "moving",
        "child_allowance",
        "tax_return",
    )
    for item in items:
        assert not item_label(item).startswith("不明"), item
    # a code nobody names is never shown bare
    assert affair_label("brand_new") == "不明な事務 (brand_new)"


async def test_the_history_page_shows_no_code(env: Env) -> None:
    records = [
        named("chiyoda-child", "chiyoda-resident", "child_allowance", ("resident_record",)),
        named("nta", "hub", "application", ("tax_return",)),
        named("chiyoda-welfare", "shinjuku-tax", "public_assistance", ("local_tax",)),
    ]
    env.backend.history_by["tok-taro"] = records
    await env.login(TARO)
    text = seen(await (await env.client.get("/history")).text())
    for code in (
        "child_allowance",
        "resident_record",
        "chiyoda-child",
        "chiyoda-resident",
        "nta",
        "shinjuku-tax",
        "public_assistance",
        "local_tax",
    ):
        assert code not in text, code
    for words in ("児童手当の支給", "住民票関係情報", "国税庁 麹町税務署", "生活保護法による"):
        assert words in text


# ---- the resident's own look-ups: apart, never alerting ----------------------------------------


async def test_own_lookups_are_listed_apart_from_offices_accesses(env: Env) -> None:
    theirs = named("chiyoda-child", "chiyoda-resident", "child_allowance", ("resident_record",))
    mine = [named(PORTAL_CODE, "hub", "disclosure", ("access_records",)) for _ in range(3)]
    assert all(m.own for m in mine) and not theirs.own
    env.backend.history_by["tok-taro"] = [theirs, *mine]
    await env.login(TARO)
    page = await (await env.client.get("/history")).text()
    offices_table, own_table = page.split('id="own-history"')
    assert f"r-{theirs.record_id}" in offices_table
    assert not any(str(m.record_id) in offices_table for m in mine)
    assert all(f"r-{m.record_id}" in own_table for m in mine)
    assert "3 件" in seen(page)


async def test_an_own_lookup_raises_no_live_alert(env: Env) -> None:
    response = await open_feed(env)
    env.backend.push("tok-taro", named(PORTAL_CODE, "hub", "disclosure", ("access_records",)))
    env.backend.push("tok-taro", named(PORTAL_CODE, "chiyoda-resident", "self_information", ()))
    theirs = named("chiyoda-child", "chiyoda-resident", "child_allowance", ("resident_record",))
    env.backend.push("tok-taro", theirs)
    first = await asyncio.wait_for(read_event(response, "access"), 2)
    assert first["record_id"] == str(theirs.record_id)  # the two own ones were never sent
    response.close()


# ---- the office filter: names to choose from ---------------------------------------------------


async def test_the_office_filter_is_a_choice_of_names(env: Env) -> None:
    a = named("chiyoda-child", "chiyoda-resident", "child_allowance", ("resident_record",))
    b = named("tokyo-pref", "chiyoda-tax", "child_rearing_allowance", ("local_tax",))
    env.backend.history_by["tok-taro"] = [a, b]
    await env.login(TARO)
    page = await (await env.client.get("/history")).text()
    assert '<input type="text" name="office"' not in page
    assert '<select name="office">' in page
    assert '<option value="tokyo-pref">東京都 福祉局</option>' in page
    chosen = await (await env.client.get("/history", params={"office": "tokyo-pref"})).text()
    assert '<option value="tokyo-pref" selected>東京都 福祉局</option>' in chosen
    assert str(b.record_id) in chosen and str(a.record_id) not in chosen
    bad = await env.client.get("/history", params={"office": "<script>"})
    assert bad.status == 400
    assert "<script>" not in await bad.text()


# ---- わたしの情報: every office holding the resident, every key in Japanese ------------------


def _register(sex: str = "2") -> ItemData:
    member = {"name": "番号 花子", "relationship": "世帯主", "birth_date": "1985-04-02", "sex": "2"}
    values = {
        "name": "番号 花子",
        "birth_date": "1985-04-02",
        "sex": sex,
        "address": "東京都千代田区麹町一丁目1番1号",
        "relationship": "世帯主",
        "household": [member, {**member, "name": "番号 一郎", "relationship": "子", "sex": "1"}],
    }
    return ItemData("resident_record", "住民票関係情報", True, values)


async def test_my_information_is_labelled_in_japanese(env: Env) -> None:
    tax = ItemData(
        "local_tax",
        "地方税関係情報",
        True,
        {"fiscal_year": 2025, "total_income": 4_820_000, "municipal_income_levy": 263_400},
    )
    env.backend.info_by["tok-taro"] = [
        OfficeData("chiyoda-resident", "千代田区 住民記録担当", (_register(),)),
        OfficeData("chiyoda-tax", "千代田区 税務課", (tax,)),
        OfficeData("chiyoda-child", "千代田区 子育て支援課（児童手当）", no_rule=True),
    ]
    await env.login(TARO)
    page = await (await env.client.get("/me")).text()
    text = seen(page)
    labels = re.findall(r"<dt>(.*?)</dt>", page)
    assert len(labels) == 9
    assert not [label for label in labels if re.search(r"[A-Za-z_]", label)]  # no English key
    for shown in (
        "氏名 番号 花子",
        "性別 女性",
        "生年月日 1985年4月2日",
        "番号 一郎（子、1985年4月2日生、男性）",
        "2025年度",
        "総所得金額等 4,820,000円",
        "263,400円",
        "千代田区 子育て支援課（児童手当）",
        "照会できる特定個人情報の定めがない",
        "名称は模型",
    ):
        assert shown in " ".join(text.split()), shown
    assert "chiyoda" not in text


def test_sex_reads_as_the_register_codes_it() -> None:
    assert dict(item_fields(_register("1")))["性別"] == ["男性"]
    assert dict(item_fields(_register("2")))["性別"] == ["女性"]
    assert dict(item_fields(_register("7")))["性別"] == ["不明 (7)"]  # never a bare code


def test_a_field_no_table_labels_is_never_shown_bare() -> None:
    odd = ItemData("x", "x", True, {"mystery": 1234567})
    assert item_fields(odd) == [("その他の項目 (mystery)", ["1,234,567"])]


@pytest.fixture(scope="module")
def answers() -> list[dict[str, Any]]:
    """What the real offices answer for a generated population (agencies/population)."""

    async def run() -> list[dict[str, Any]]:
        plan = plan_for(REGISTRY)
        today = dt.date(2024, 6, 1)
        rows = []
        rng = records_rng(5, 2)
        for h in chunk_households(5, 2, 4_000, today=today, municipalities=select()):
            rows += place(rng, h, plan, LocalIds(2), today)
        stores: dict[str, MemoryStore] = defaultdict(MemoryStore)
        held: dict[str, list[str]] = defaultdict(list)
        for n, (office_code, collection, key, holder, doc, _) in enumerate(rows):
            token = f"t{n}" if holder else None
            await stores[office_code].put_many(collection, [(key, token, doc)])
            if token:
                held[office_code].append(token)
        out = []
        for code, tokens in held.items():
            entry = REGISTRY.get(code)
            answerer: Any
            if "resident_register" in entry.roles:
                answerer = ResidentRegister(stores[code])
            elif "local_tax" in entry.roles:
                answerer = LocalTax(stores[code])
            elif entry.provides and await stores[code].keys(COLLECTION):
                answerer = ItemOffice(stores[code], frozenset(entry.provides))
            else:
                continue
            for token in tokens:
                for item in entry.provides:
                    if TABLE.items[item].certificate:  # printed at the kiosk, not shown
                        continue
                    try:
                        answer = await answerer.answer(token, (item,), {"fiscal_year": 2024})
                    except NoRecord:  # nothing held under that item
                        continue
                    if answer:
                        out.append(dict(answer[item]))
        return out

    return asyncio.run(run())


def test_every_field_an_office_answers_has_a_japanese_label(answers: list[dict[str, Any]]) -> None:
    keys = {k for a in answers for k in a}
    assert {"name", "total_income", "annual_amount", "daily_yen", "care_level"} <= keys
    assert keys - set(FIELDS) == set()
    money = {FIELDS[k][0] for k in FIELDS if FIELDS[k][1] == "yen"}
    for a in answers:  # money in yen with separators; no label left in English
        for label, lines in item_fields(ItemData("i", "i", True, a)):
            assert not label.startswith("その他"), label
            if label in money:
                assert all(re.fullmatch(r"\d{1,3}(,\d{3})*円", line) for line in lines), lines


# ---- named after login; figures with separators ------------------------------------------------


async def test_the_resident_is_named_after_login(env: Env) -> None:
    env.backend.names["tok-taro"] = "番号 太郎"
    await env.login(TARO)
    home = await (await env.client.get("/")).text()
    assert "番号 太郎</span> さん" in home
    assert "番号 太郎 さん、こんにちは" in home


async def test_login_works_when_the_name_is_unavailable(env: Env) -> None:
    env.backend.down.add("resident_name")
    await env.login(TARO)
    home = await env.client.get("/")
    assert home.status == 200
    assert "ログイン中" in await home.text()


async def test_login_does_not_hang_on_a_register_that_never_answers(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login, "NAME_WAIT", 0.01)

    async def never(person: str) -> str:
        await asyncio.Event().wait()
        return "never"

    env.backend.resident_name = never  # type: ignore[method-assign]
    await env.login(TARO)
    assert "ログイン中" in await (await env.client.get("/")).text()


async def test_counts_have_thousands_separators(env: Env) -> None:
    env.backend.notices_by["tok-taro"] = [
        NoticeEntry(uuid.uuid4(), dt.datetime.now(dt.UTC), "x", "x", "t", "b") for _ in range(1234)
    ]
    await env.login(TARO)
    assert 'id="home-unread">1,234<' in await (await env.client.get("/")).text()


def test_a_forged_answer_reads_bounded_and_never_breaks_the_page() -> None:
    """A dishonest office's answer: nested past any document, over-long, odd codes."""
    deep: Any = "x"
    for _ in range(900):
        deep = [deep]
    forged = ItemData(
        "resident_record",
        "住民票関係情報",
        True,
        {
            "name": "<script>alert(1)</script>" + "長" * 10_000,
            "sex": [[["2"]]],
            "household": [deep, {"name": deep, "sex": {"a": 1}}],
            "address": {"k": deep},
        },
    )
    fields = dict(item_fields(forged))
    assert len(fields["氏名"][0]) == 2000
    assert fields["性別"] == ["不明 (?)"]
    assert all(len(line) <= 2000 for lines in fields.values() for line in lines)
    assert "…" in fields["住所"][0]


async def test_my_information_keeps_only_the_items_an_office_was_asked_for() -> None:
    class Node:
        code, store = PORTAL_CODE, None

        async def ask(self, affair: str, provider: str, *args: Any, **kw: Any) -> Any:
            if affair == "disclosure":
                data = {"holders": ["chiyoda-resident", "chiyoda-child", "chiyoda-tax"]}
                return SimpleNamespace(status="ok", data=data)
            if provider == "chiyoda-tax":
                return SimpleNamespace(status="not_found", data=None, reason="")
            extra = {"public_assistance": {"case_number": "W1"}}  # never asked: not shown
            data = {"resident_record": {"name": "番号 花子"}, **extra}
            return SimpleNamespace(status="ok", data=data, reason="")

    portal = PortalOffice(Node(), REGISTRY, TABLE, lambda signed: b"")  # type: ignore[arg-type]
    shown = {o.office: o for o in await portal.my_info("tok")}
    assert [i.item for i in shown["chiyoda-resident"].items] == ["resident_record"]
    assert shown["chiyoda-child"].no_rule  # holds them, provides nothing: not asked
    assert not shown["chiyoda-tax"].items and not shown["chiyoda-tax"].no_rule  # nothing held
