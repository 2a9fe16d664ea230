"""The shipped legal table: what it contains, and that check agrees with its rows exactly."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.routing import legal

ON = date(2025, 6, 1)
DEFAULT_TABLE = legal.load_default()
DEFAULT_ROWS = DEFAULT_TABLE.rows()


def test_header_names_the_law_and_says_rows_are_models(table: legal.LegalTable) -> None:
    assert table.law_id == "425AC0000000027"
    assert table.version
    assert "別表第二" in table.note
    assert "model" in table.note.lower()
    assert "not the text of the law" in " ".join(table.note.split())


def test_every_model_row_of_facts_is_shipped(table: legal.LegalTable) -> None:
    # r: the rows of 別表第二 (FACTS §1.4); c: コンビニ交付's, outside 別表 (REGISTER-FACTS §5);
    # d: 障害者関係情報's, after the seed (models)
    numbers = {int(re.sub(r"[a-z]", "", row.id)) for row in table.rows() if row.id[0] == "r"}
    others = {row.id for row in table.rows() if row.id[0] != "r"}
    assert others == {"c01", "c02", "c03", "c04", "d01", "d02", "d03", "d04"}
    assert numbers == set(range(1, 43))
    assert len(table.rows()) >= 30


def test_only_rows_marked_verified_in_facts_claim_to_be_verified(table: legal.LegalTable) -> None:
    verified = {row.id for row in table.rows() if row.source == "verified"}
    assert verified == {"r42"}
    assert all(row.source == "model" for row in table.rows() if row.id != "r42")


def test_disability_information_has_rows_and_they_are_models(table: legal.LegalTable) -> None:
    # the seed: every allowance claim needs 障害者関係情報, held by 都道府県知事
    rows = [row for row in table.rows() if "disability" in row.items]
    assert {row.affair for row in rows} >= {
        "special_child_rearing_allowance",
        "child_rearing_allowance",
        "independence_support",
    }
    assert {row.provider for row in rows} == {"prefecture"}
    assert all(row.source == "model" for row in rows)
    assert "Glossary only" not in table.items["disability"].note


def test_a_municipality_acts_as_prefecture_only_where_the_law_says(
    table: legal.LegalTable,
) -> None:
    acting = table.acting("prefecture", "municipality")
    assert acting is not None and acting.source == "verified"
    assert set(acting.affairs) == {"public_assistance", "child_rearing_allowance"}
    assert "生活保護法 第19条" in acting.basis and "児童扶養手当法 第4条" in acting.basis
    # 特別児童扶養手当 is the governor's (都道府県知事), not a ward's
    assert "special_child_rearing_allowance" not in acting.affairs
    assert table.acting("pension_service", "municipality") is None


def test_rows_cover_the_domains_design_asks_for(table: legal.LegalTable) -> None:
    domains = Counter(table.affairs[row.affair].domain for row in table.rows())
    wanted = {"welfare", "tax", "pension", "health_insurance", "disability", "public_housing"}
    assert wanted | {"disaster_relief"} <= set(domains)


def test_every_row_is_in_force_on_the_test_date(table: legal.LegalTable) -> None:
    assert all(row.in_force(ON) for row in table.rows())


@pytest.mark.parametrize("row", DEFAULT_ROWS, ids=lambda row: row.id)
def test_every_row_is_allowed(table: legal.LegalTable, row: legal.Row) -> None:
    decision = table.check(row.requester, row.affair, row.provider, row.items, row.effective_from)
    assert decision.allowed, decision.reason
    assert row.id in decision.rows
    assert decision.code == "allowed"
    for item in row.items:
        assert table.check(row.requester, row.affair, row.provider, [item], ON).allowed


def test_every_combination_not_covered_by_a_row_is_refused(table: legal.LegalTable) -> None:
    covered = {
        (row.requester, row.affair, row.provider, item)
        for row in table.rows()
        for item in row.items
    }
    combos = itertools.product(table.kinds, table.affairs, table.kinds, table.items)
    checked = 0
    for requester, affair, provider, item in combos:
        decision = table.check(requester, affair, provider, [item], ON)
        key = (requester, affair, provider, item)
        assert decision.allowed == (key in covered), (key, decision.reason)
        if not decision.allowed:
            assert decision.code == "no_row"
            assert decision.rows == ()
            assert f"no row lets {requester} ask {provider} for {item} for {affair}" in (
                decision.reason
            )
        checked += 1
    assert checked == len(table.kinds) ** 2 * len(table.affairs) * len(table.items)


def test_all_items_must_be_allowed(table: legal.LegalTable) -> None:
    decision = table.check(
        "municipality", "child_allowance", "municipality", ["local_tax", "pension_benefit"], ON
    )
    assert not decision.allowed
    assert "for pension_benefit" in decision.reason
    assert "for local_tax for" not in decision.reason


def test_allowed_lists_each_allowing_row_once(table: legal.LegalTable) -> None:
    decision = table.check(
        "prefecture", "public_assistance", "municipality", ["local_tax", "resident_record"], ON
    )
    assert decision.allowed
    assert decision.rows == ("r08",)
    assert decision.reason == "allowed by r08"


def test_items_may_be_one_string_or_repeat(table: legal.LegalTable) -> None:
    one = table.check("municipality", "child_allowance", "municipality", "local_tax", ON)
    twice = table.check(
        "municipality", "child_allowance", "municipality", ["local_tax", "local_tax"], ON
    )
    assert one.allowed
    assert twice.allowed
    assert twice.rows == ("r01",)


@pytest.mark.parametrize(
    ("args", "code", "reason"),
    [
        (("municipality", "child_allowance", "municipality", []), "no_items", "no information"),
        (
            ("municipality", "pachinko", "municipality", ["local_tax"]),
            "unknown_affair",
            "unknown affair 'pachinko'",
        ),
        (
            ("city", "child_allowance", "municipality", ["local_tax"]),
            "unknown_kind",
            "unknown requester office kind 'city'",
        ),
        (
            ("municipality", "child_allowance", "town", ["local_tax"]),
            "unknown_kind",
            "unknown provider office kind 'town'",
        ),
        (
            ("municipality", "child_allowance", "municipality", ["local_tax", "shoe_size"]),
            "unknown_item",
            "unknown information item 'shoe_size'",
        ),
    ],
)
def test_vocabulary_refusals(
    table: legal.LegalTable, args: tuple[str, str, str, list[str]], code: str, reason: str
) -> None:
    decision = table.check(*args, ON)
    assert (decision.allowed, decision.code, decision.rows) == (False, code, ())
    assert reason in decision.reason


def test_no_row_says_what_the_requester_may_ask_instead(table: legal.LegalTable) -> None:
    decision = table.check(
        "municipality", "child_allowance", "pension_service", ["pension_benefit"], ON
    )
    assert decision.reason == (
        "no row lets municipality ask pension_service for pension_benefit for child_allowance; "
        "for child_allowance, municipality may ask: municipality for local_tax (r01), "
        "municipality for resident_record (r02)"
    )


def test_no_row_says_when_the_requester_may_ask_nothing(table: legal.LegalTable) -> None:
    decision = table.check("jlis", "child_allowance", "municipality", ["local_tax"], ON)
    assert "jlis may ask nothing for child_allowance" in decision.reason
    assert "(requester kinds for it: municipality)" in decision.reason


def test_before_the_network_started_every_row_is_not_yet_in_force(
    table: legal.LegalTable,
) -> None:
    decision = table.check(
        "municipality", "child_allowance", "municipality", ["local_tax"], date(2016, 1, 1)
    )
    assert decision.code == "not_yet_in_force"
    assert "row r01" in decision.reason
    assert "2017-11-13" in decision.reason


names = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["municipality", "child_allowance", "local_tax", "prefecture", ""]),
)


@given(
    requester=names,
    affair=names,
    provider=names,
    items=st.one_of(st.lists(names, max_size=6), names),
    on=st.dates(),
)
def test_check_never_raises(
    requester: str, affair: str, provider: str, items: list[str] | str, on: date
) -> None:
    decision = DEFAULT_TABLE.check(requester, affair, provider, items, on)
    assert isinstance(decision, legal.Decision)
    assert decision.allowed == (decision.code == "allowed")
    assert decision.allowed == bool(decision.rows)
    assert decision.reason
    assert len(decision.reason) < 2000
