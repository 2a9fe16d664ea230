"""Office kinds say what the law says (issue 17, item 7): a ward's office is a municipal office,
acting as 都道府県知事等 only where the law has it so; who holds 児童扶養手当, 特別児童扶養手当
and 障害者関係情報. Each test here fails on the registry as it stood before the fix."""

from __future__ import annotations

from datetime import date

import pytest

from hub.routing import legal, offices
from hub.routing.exceptions import MalformedRegistry, MalformedTable

from .snippets import HEADER, office, registry, row

ON = date(2025, 6, 1)


def test_a_wards_welfare_office_is_municipal_acting_as_prefecture_in_public_assistance(
    table: legal.LegalTable, registry: offices.Registry
) -> None:
    welfare = registry.get("chiyoda-welfare")
    assert (welfare.kind, welfare.acts_as, welfare.municipality) == (
        "municipality",
        "prefecture",
        "131016",
    )
    assert offices.kind_asking(table, welfare, "public_assistance")[0] == "prefecture"
    assert offices.kind_providing(table, welfare, ("public_assistance",))[0] == "prefecture"
    # it asks and answers as 都道府県知事等 where 生活保護法 第19条 has the 区長 decide: over
    # the network, another municipality (its own ward's offices are in-house, 庁内連携)
    asked = offices.authorize(
        table, registry, "chiyoda-welfare", "public_assistance", "shinjuku-tax", ["local_tax"], ON
    )
    assert asked.allowed and asked.rows == ("r08",)
    answers_as = offices.kind_providing(table, welfare, ("public_assistance",))[0]
    answered = table.check("municipality", "long_term_care", answers_as, ("public_assistance",), ON)
    assert answered.allowed and answered.rows == ("r22",)


def test_a_refusal_says_the_ward_office_is_municipal_and_in_what_capacity(
    table: legal.LegalTable, registry: offices.Registry
) -> None:
    # another ward's tax office asking the welfare office for 生活保護関係情報
    decision = offices.authorize(
        table, registry, "shinjuku-tax", "local_tax_assessment", "chiyoda-welfare",
        ["public_assistance"], ON,
    )  # fmt: skip
    assert (decision.allowed, decision.code) == (False, "no_row")
    assert "chiyoda-welfare is a prefecture" not in decision.reason
    assert (
        "chiyoda-welfare is a municipality acting as prefecture (都道府県知事等" in decision.reason
    )
    assert "生活保護法 第19条第1項" in decision.reason
    assert decision.reason.startswith("shinjuku-tax is a municipality, ")


def test_a_ward_acts_as_prefecture_in_nothing_else(
    table: legal.LegalTable, registry: offices.Registry
) -> None:
    welfare = registry.get("chiyoda-welfare")
    assert offices.kind_asking(table, welfare, "child_allowance") == ("municipality", None)
    # 特別児童扶養手当 is the governor's (都道府県知事), never a ward's
    assert offices.kind_asking(table, welfare, "special_child_rearing_allowance")[0] == (
        "municipality"
    )
    assert offices.kind_providing(table, welfare, ("local_tax",)) == ("municipality", None)


def test_the_ward_pays_child_rearing_allowance_of_its_residents(
    table: legal.LegalTable, registry: offices.Registry
) -> None:
    # 児童扶養手当法 第4条: 市長 (特別区の区長を含む) pays it, as one of the 都道府県知事等
    holders = [o for o in registry if "child_rearing_allowance" in o.provides]
    ward = [o for o in holders if o.municipality == "131016"]
    assert [o.code for o in ward] == ["chiyoda-childrearing"]
    assert (ward[0].kind, ward[0].acts_as) == ("municipality", "prefecture")
    assert "child_rearing_allowance" in ward[0].affairs
    # the welfare office counts it as income (r11): a row of the law between the kinds; from
    # the ward's own office it is read in-house (庁内連携), not asked over the network
    welfare, paying = registry.get("chiyoda-welfare"), ward[0]
    asks = offices.kind_asking(table, welfare, "public_assistance")[0]
    answers = offices.kind_providing(table, paying, ("child_rearing_allowance",))[0]
    decision = table.check(asks, "public_assistance", answers, ("child_rearing_allowance",), ON)
    assert decision.allowed and decision.rows == ("r11",)
    inside = offices.authorize(
        table, registry, "chiyoda-welfare", "public_assistance", "chiyoda-childrearing",
        ["child_rearing_allowance"], ON,
    )  # fmt: skip
    assert inside.code == "in_house"


def test_special_child_rearing_allowance_is_the_prefectures_not_hello_works(
    registry: offices.Registry,
) -> None:
    performing = {o.code for o in registry if "special_child_rearing_allowance" in o.affairs}
    assert "hellowork" not in performing
    assert "tokyo-pref" in performing  # the governor 認定s (特別児童扶養手当等支給法 第5条)
    assert all(registry.get(c).kind in ("prefecture", "mhlw") for c in performing)
    assert registry.get("hellowork").affairs == ("employment_insurance",)


def test_disability_information_is_held_by_the_prefecture_and_asked_for(
    table: legal.LegalTable, registry: offices.Registry
) -> None:
    assert [o.code for o in registry if "disability" in o.provides] == ["tokyo-pref"]
    for asker, affair in (
        ("chiyoda-disability", "independence_support"),
        ("tokyo-pref", "special_child_rearing_allowance"),
        ("chiyoda-childrearing", "child_rearing_allowance"),
        ("chiyoda-welfare", "public_assistance"),
    ):
        decision = offices.authorize(
            table, registry, asker, affair, "tokyo-pref", ["disability"], ON
        )
        assert decision.allowed, (asker, decision.reason)
    refused = offices.authorize(
        table, registry, "chiyoda-child", "child_allowance", "tokyo-pref", ["disability"], ON
    )
    assert refused.code == "no_row"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (registry(office(extra='acts_as = "pension_service"\n')),
         "offices.chiyoda-tax: acts as 'pension_service', but the legal table has no "
         "municipality act so"),
        (registry(office(extra='acts_as = "governor"\n')),
         "offices.chiyoda-tax: acts as 'governor', but the legal table has no municipality act so"),
        (registry(office(extra='acts_as = "prefecture"\n')),
         "offices.chiyoda-tax: acts as 'prefecture' in none of its affairs or items"),
        (registry(office(kind="mhlw", municipality=None, affairs='["public_assistance"]',
                         provides="[]", extra='acts_as = "prefecture"\n')),
         "offices.chiyoda-tax: acts as 'prefecture', but the legal table has no mhlw act so"),
    ],
    ids=["no-such-capacity", "unknown-kind", "unused", "not-a-municipality"],
)  # fmt: skip
def test_acts_as_is_refused_where_the_law_does_not_have_it(
    table: legal.LegalTable, text: str, message: str
) -> None:
    with pytest.raises(MalformedRegistry) as caught:
        offices.parse_registry(text, table, "offices-test.toml")
    assert any(message in p for p in caught.value.problems), caught.value.problems


ACTING = """
[[kinds.prefecture.acting]]
by = "{by}"
affairs = {affairs}
items = ["local_tax"]
basis = "test"
source = "model"
"""


@pytest.mark.parametrize(
    ("by", "affairs", "message"),
    [
        ("ward", '["child_allowance"]', "by 'ward' is not another kind of the table"),
        ("prefecture", '["child_allowance"]', "by 'prefecture' is not another kind"),
        ("municipality", '["pachinko"]', "unknown affair 'pachinko'"),
        ("municipality", "[]", "kinds.prefecture.acting[0].affairs: Value should have at least 1"),
    ],
)
def test_a_malformed_acting_entry_is_refused(by: str, affairs: str, message: str) -> None:
    head, tail = HEADER.split("[affairs.child_allowance]")
    text = head + ACTING.format(by=by, affairs=affairs) + "[affairs.child_allowance]" + tail + row()
    with pytest.raises(MalformedTable) as caught:
        legal.parse_table(text, "test.toml")
    assert any(message in p for p in caught.value.problems), caught.value.problems
