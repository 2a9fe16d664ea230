"""不開示 by law only: the rows' ``withhold`` field, parsed strictly, and what it allows."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.routing import legal
from hub.routing.exceptions import MalformedTable

from .snippets import row, table

ON = dt.date(2025, 6, 2)
WITHHOLD = """[rows.withhold]
max_days = {days}
basis = "調査に支障 ({name})"
source = "model"
"""


def withholding(days: int = 30, name: str = "test") -> str:
    return WITHHOLD.format(days=days, name=name)


def parse(*rows: str) -> legal.LegalTable:
    return legal.parse_table(table(*rows), "test.toml")


def test_a_row_may_say_for_how_long_and_why_its_records_may_be_withheld() -> None:
    parsed = parse(row("r01", extra=withholding(30)), row("r02", items='["resident_record"]'))
    r01, r02 = parsed.rows()
    assert r01.withhold is not None and r02.withhold is None
    assert (r01.withhold.max_days, r01.withhold.basis) == (30, "調査に支障 (test)")
    assert r01.withhold.source == "model"


@pytest.mark.parametrize(
    ("withhold", "message"),
    [
        ("[rows.withhold]\nbasis = \"b\"\nsource = \"model\"\n", "withhold.max_days: Field required"),
        (withholding(0), "withhold.max_days: Input should be greater than or equal to 1"),
        (withholding(-5), "withhold.max_days: Input should be greater than or equal to 1"),
        (withholding(3654), "withhold.max_days: Input should be less than or equal to 3653"),
        (WITHHOLD.replace("{days}", '"30"').replace("{name}", "x"),
         "withhold.max_days: Input should be a valid integer"),
        ("[rows.withhold]\nmax_days = 30\nsource = \"model\"\n", "withhold.basis: Field required"),
        ("[rows.withhold]\nmax_days = 30\nbasis = \"\"\nsource = \"model\"\n",
         "withhold.basis: String should have at least 1 character"),
        (withholding().replace('"model"', '"hearsay"'), "withhold.source: Input should be"),
        (withholding() + "forever = true\n", "withhold.forever: Extra inputs are not permitted"),
        ("withhold = true\n", "rows[0] (id 'r01').withhold: Input should be a valid dictionary"),
    ],
)  # fmt: skip
def test_a_malformed_withholding_is_refused_with_a_precise_message(
    withhold: str, message: str
) -> None:
    with pytest.raises(MalformedTable) as caught:
        parse(row("r01", extra=withhold))
    assert any(message in p for p in caught.value.problems), caught.value.problems


def check(parsed: legal.LegalTable, *items: str) -> legal.Decision:
    return parsed.check("municipality", "child_allowance", "municipality", items, ON)


def test_withholding_is_allowed_only_when_every_allowing_row_allows_it() -> None:
    parsed = parse(
        row("r01", extra=withholding(30, "tax")),
        row("r02", items='["resident_record"]', extra=withholding(90, "register")),
    )
    both = parsed.withholding(check(parsed, "local_tax", "resident_record"))
    assert isinstance(both, legal.Withheld)
    assert both.rows == ("r01", "r02") and both.max_days == 30  # the shortest period
    assert "r01: 調査に支障 (tax)" in both.basis and "r02: 調査に支障 (register)" in both.basis
    asked = dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC)
    assert both.until(asked) == asked + dt.timedelta(days=30)
    partly = parse(row("r01", extra=withholding()), row("r02", items='["resident_record"]'))
    refused = partly.withholding(check(partly, "local_tax", "resident_record"))
    assert isinstance(refused, legal.Decision)
    assert (refused.allowed, refused.code) == (False, "not_withholdable")
    assert "r01, r02" in refused.reason


def test_nothing_is_withheld_for_a_refused_exchange_or_rows_of_no_table() -> None:
    parsed = parse(row("r01", extra=withholding()))
    for decision in (
        check(parsed, "resident_record"),  # no row allows it
        legal.Decision(allowed=True, rows=("portal",), reason="portal rules", code="allowed"),
        legal.Decision(allowed=True, rows=(), reason="", code="allowed"),
    ):
        refused = parsed.withholding(decision)
        assert isinstance(refused, legal.Decision) and refused.code == "not_withholdable"


def test_the_shipped_table_lets_investigations_withhold_and_nothing_else(
    table: legal.LegalTable,
) -> None:
    withholding_rows = {r.id: r.withhold for r in table.rows() if r.withhold}
    investigations = {"r08", "r09a", "r09b", "r10", "r11", "r12", "d04", "r34", "r35"}
    assert set(withholding_rows) == investigations
    affairs = {r.affair for r in table.rows() if r.withhold}
    assert affairs == {"public_assistance", "local_tax_assessment"}
    assert all(w.source == "model" and w.max_days == 365 for w in withholding_rows.values())
    welfare = table.check("prefecture", "public_assistance", "municipality", ["local_tax"], ON)
    assert isinstance(table.withholding(welfare), legal.Withheld)
    child = table.check("municipality", "child_allowance", "municipality", ["local_tax"], ON)
    assert isinstance(table.withholding(child), legal.Decision)
