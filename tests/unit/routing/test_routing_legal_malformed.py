"""A malformed legal table is refused with a message that says exactly what is wrong."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from hub.routing import legal
from hub.routing.exceptions import MalformedTable, RoutingError

from .snippets import HEADER, row, table


def refused(text: str) -> MalformedTable:
    with pytest.raises(MalformedTable) as caught:
        legal.parse_table(text, "test.toml")
    return caught.value


def test_the_minimal_table_is_valid() -> None:
    parsed = legal.parse_table(table())
    assert [r.id for r in parsed.rows()] == ["r01"]


def test_the_error_carries_its_code_and_every_problem() -> None:
    error = refused(table(row(requester="governor", provider="town")))
    assert isinstance(error, RoutingError)
    assert error.code == "routing.malformed_table"
    assert error.source == "test.toml"
    assert len(error.problems) == 2
    assert str(error).startswith("legal table test.toml is malformed (2 problems):")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (table(row(requester="governor")),
         "rows[0] (id 'r01'): unknown requester kind 'governor' (not in [kinds])"),
        (table(row(provider="town")),
         "rows[0] (id 'r01'): unknown provider kind 'town' (not in [kinds])"),
        (table(row(affair="pachinko")),
         "rows[0] (id 'r01'): unknown affair 'pachinko' (not in [affairs])"),
        (table(row(items='["local_tax", "shoe_size"]')),
         "rows[0] (id 'r01'): unknown item 'shoe_size' (not in [items])"),
        (table(row("r01"), row("r01", items='["resident_record"]')),
         "rows[1] (id 'r01'): duplicate row id, first used by rows[0]"),
        (table(row(effective_from="2020-01-01", effective_until="2019-12-31")),
         "rows[0] (id 'r01'): effective_until 2019-12-31 is not after effective_from 2020-01-01"),
        (table(row(effective_from="2020-01-01", effective_until="2020-01-01")),
         "effective_until 2020-01-01 is not after effective_from 2020-01-01"),
        (table(row("r01"), row("r02", items='["resident_record", "local_tax"]')),
         "rows 'r01' and 'r02' overlap: both let municipality ask municipality for local_tax "
         "for child_allowance in overlapping periods"),
        (table(row("r01", effective_until="2024-05-27"),
               row("r02", effective_from="2024-05-26")),
         "rows 'r01' and 'r02' overlap"),
        (table(row(items="[]")),
         "rows[0] (id 'r01').items: Value should have at least 1 item after validation, not 0"),
        (table(row(items='["local_tax", "local_tax"]')),
         "rows[0] (id 'r01'): an item is listed twice in ['local_tax', 'local_tax']"),
        (table(row(current_row='"八十"')),
         "rows[0] (id 'r01'): current_row 八十 but affair child_allowance is in 別表 row 八十一"),
        (table(row(effective_from='"2017-11-13"')),
         "rows[0] (id 'r01').effective_from: Input should be a valid date"),
        (table(row(effective_from="2017-11-13T09:00:00")),
         "rows[0] (id 'r01').effective_from: Input should be a valid date"),
        (table(row(effective_from="2017-02-30")), "not valid TOML: Invalid date or datetime"),
        (table(row(extra='colour = "red"\n')),
         "rows[0] (id 'r01').colour: Extra inputs are not permitted"),
        (table() + '\nowner = "me"\n', "owner: Extra inputs are not permitted"),
        (table().replace('en = "Mayor"', 'en = "Mayor"\nshort = "m"'),
         "kinds.municipality.short: Extra inputs are not permitted"),
        (table(row(items='"local_tax"')),
         "rows[0] (id 'r01').items: Input should be a valid tuple"),
        (table(row(items="[1]")), "rows[0] (id 'r01').items[0]: Input should be a valid string"),
        (table(row(effective_from="20171113")),
         "rows[0] (id 'r01').effective_from: Input should be a valid date"),
        (table().replace('version = "test.1"', "version = 1"),
         "version: Input should be a valid string"),
        (table().replace('version = "test.1"\n', ""), "version: Field required"),
        (table().replace('version = "test.1"', 'version = ""'),
         "version: String should have at least 1 character"),
        (table().replace('law_id = "425AC0000000027"', 'law_id = "27"'),
         "law_id: String should match pattern"),
        (HEADER, "rows: Field required"),
        ("rows = []\n" + HEADER, "rows: Value should have at least 1 item"),
        (table().replace("[kinds.prefecture]", "[kinds.Prefecture]"),
         "key 'Prefecture' of kinds: String should match pattern"),
        (table().replace('current_row = "八十一"\ndomain', 'current_row = "81"\ndomain'),
         "affairs.child_allowance.current_row: String should match pattern"),
        (table().replace('source = "model"', 'source = "law"', 1),
         "items.local_tax.source: Input should be 'model' or 'verified'"),
        (table() + "\n[rows]\n", "not valid TOML: Cannot declare ('rows',) twice"),
        ("version = ", "not valid TOML"),
    ],
    ids=[
        "unknown-requester", "unknown-provider", "unknown-affair", "unknown-item",
        "duplicate-id", "until-before-from", "empty-period", "overlapping-rows",
        "overlapping-periods", "empty-items", "item-twice", "current-row-mismatch",
        "date-as-string", "datetime-not-date", "impossible-date", "unknown-row-key",
        "unknown-top-key", "unknown-kind-key", "items-not-array", "item-not-string",
        "date-as-number", "version-not-string", "missing-version", "empty-version",
        "bad-law-id", "no-rows", "empty-rows", "bad-kind-code", "bad-current-row",
        "bad-source", "bad-toml-structure", "bad-toml",
    ],
)  # fmt: skip
def test_defect_is_refused_with_a_precise_message(text: str, message: str) -> None:
    error = refused(text)
    assert any(message in problem for problem in error.problems), error.problems


def test_successive_rows_for_the_same_exchange_are_accepted() -> None:
    parsed = legal.parse_table(
        table(row("r01", effective_until="2024-05-27"), row("r02", effective_from="2024-05-27"))
    )
    check = parsed.check
    args = ("municipality", "child_allowance", "municipality", ["local_tax"])
    assert check(*args, date(2024, 5, 26)).rows == ("r01",)
    assert check(*args, date(2024, 5, 27)).rows == ("r02",)


def test_load_table_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "legal.toml"
    path.write_text(table(), encoding="utf-8")
    assert len(legal.load_table(path).rows()) == 1


def test_load_table_names_the_file_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    with pytest.raises(MalformedTable, match="cannot be read") as caught:
        legal.load_table(path)
    assert caught.value.source == str(path)


def test_load_table_refuses_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(table().encode("utf-8") + b"\n# \xff\n")
    with pytest.raises(MalformedTable, match="cannot be read"):
        legal.load_table(path)
