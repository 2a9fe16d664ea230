"""``renkei corporations find`` as an operator runs it."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest

from agencies.corporations import default_index
from renkei.cli import main
from renkei.corporation_commands import table

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], restore_logging: None) -> Run:
    def go(*argv: str) -> tuple[int, str, str]:
        code = main(["corporations", "find", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return go


def test_find_by_number_prints_a_table(run: Run) -> None:
    code, out, err = run("7000012050002")
    lines = out.splitlines()
    assert code == 0 and err == ""
    assert lines[0].split() == ["法人番号", "商号又は名称", "フリガナ", "所在地", "指定日"]
    assert lines[1].split()[:3] == ["7000012050002*", "国税庁", "コクゼイチョウ"]
    assert lines[-1] == "1 corporation(s); * a real, published entry"


def test_find_by_name_limits_the_rows(run: Run) -> None:
    code, out, _ = run("株式会社", "--limit", "3")
    assert code == 0 and len(out.splitlines()) == 5
    assert "first 3 shown" in out


def test_an_invalid_number_is_an_error_with_its_code(run: Run) -> None:
    code, out, err = run("7000012050003")
    assert (code, out) == (2, "")
    assert err == (
        "renkei: corporations.bad_number: not a corporate number: check digit should be 6, not 7\n"
    )


def test_nothing_found_exits_one(run: Run) -> None:
    code, out, _ = run("該当なし商会")
    assert code == 1 and out.startswith("no corporation with name")


def test_an_oversized_query_is_refused(run: Run) -> None:
    code, _, err = run("あ" * 500)
    assert code == 2 and "corporations.invalid_query: too long: 500 characters" in err


def test_wide_characters_are_aligned_by_display_width() -> None:
    corporations = default_index().find("株式会社", limit=10).corporations
    lines = table(corporations)

    def columns(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    starts = {
        columns(line[: line.rindex(c.assigned)])
        for line, c in zip(lines[1:], corporations, strict=True)
    }
    assert len(starts) == 1
