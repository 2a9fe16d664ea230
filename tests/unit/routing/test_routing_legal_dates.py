"""Effective dates: a row applies from ``effective_from`` up to ``effective_until``, exclusive."""

from __future__ import annotations

from datetime import date

import pytest

from hub.routing import legal

from .snippets import row, table

ARGS = ("municipality", "child_allowance", "municipality", ["local_tax"])


@pytest.fixture(scope="module")
def dated() -> legal.LegalTable:
    return legal.parse_table(
        table(
            row("r01", effective_from="2017-11-13", effective_until="2024-05-27"),
            row("r07", items='["resident_record"]', effective_from="2026-04-01"),
        )
    )


@pytest.mark.parametrize(
    ("on", "allowed"),
    [
        (date(2017, 11, 12), False),
        (date(2017, 11, 13), True),
        (date(2024, 5, 26), True),
        (date(2024, 5, 27), False),
    ],
)
def test_bounds(dated: legal.LegalTable, on: date, allowed: bool) -> None:
    assert dated.check(*ARGS, on).allowed is allowed


def test_not_yet_in_force_says_from_when(dated: legal.LegalTable) -> None:
    decision = dated.check(
        "municipality", "child_allowance", "municipality", ["resident_record"], date(2026, 3, 31)
    )
    assert decision.code == "not_yet_in_force"
    assert decision.reason == (
        "row r07 (lets municipality ask municipality for resident_record for child_allowance) "
        "is not yet in force: it applies from 2026-04-01"
    )
    assert dated.check(
        "municipality", "child_allowance", "municipality", ["resident_record"], date(2026, 4, 1)
    ).rows == ("r07",)


def test_expired_says_since_when(dated: legal.LegalTable) -> None:
    decision = dated.check(*ARGS, date(2025, 1, 1))
    assert decision.code == "expired"
    assert decision.reason == (
        "row r01 (lets municipality ask municipality for local_tax for child_allowance) "
        "expired on 2024-05-27"
    )


def test_a_refusal_for_two_items_gives_both_reasons(dated: legal.LegalTable) -> None:
    decision = dated.check(
        "municipality",
        "child_allowance",
        "municipality",
        ["local_tax", "resident_record"],
        date(2025, 1, 1),
    )
    assert decision.code == "expired"
    assert "row r01" in decision.reason
    assert "row r07" in decision.reason


def test_no_row_lists_only_rows_in_force(dated: legal.LegalTable) -> None:
    decision = dated.check(
        "municipality", "child_allowance", "prefecture", ["local_tax"], date(2020, 1, 1)
    )
    assert decision.code == "no_row"
    assert "municipality may ask: municipality for local_tax (r01)" in decision.reason
    assert "r07" not in decision.reason
