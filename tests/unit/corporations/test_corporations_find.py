"""Finding corporations by number or name, and every odd query answered with a clear error."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agencies.corporations import (
    MAX_QUERY_CHARS,
    BadCorporateNumber,
    Corporation,
    CorporationError,
    Index,
    InvalidQuery,
    default_index,
    normalize,
)
from hub.numbers import corporate_number

SAKURA = Corporation(corporate_number("010401000001"), "株式会社サクラ商事", "サクラショウジ",
                     "株式会社", "100-0005", "東京都千代田区丸の内一丁目1番1号", "2015-10-05")  # fmt: skip
SATO = Corporation(corporate_number("010402000001"), "佐藤工務店有限会社", "サトウコウムテン",
                   "有限会社", "160-0023", "東京都新宿区西新宿一丁目1番1号", "2015-10-05")  # fmt: skip
ABC = Corporation(corporate_number("010403000001"), "合同会社ABCラボ", "エービーシーラボ",
                  "合同会社", "150-0002", "東京都渋谷区渋谷一丁目1番1号", "2020-04-01")  # fmt: skip
INDEX = Index([SAKURA, SATO, ABC])


def names(query: str, index: Index = INDEX) -> list[str]:
    return [c.name for c in index.find(query).corporations]


@pytest.mark.parametrize(
    "query",
    ["7000012050002", "7000-0120-50002", "７００００１２０５０００２", " 7000012050002 ",
     "T7000012050002", "ｔ7000012050002"],
)  # fmt: skip
def test_a_number_is_found_exactly(query: str) -> None:
    found = default_index().find(query)
    assert (found.by, found.total) == ("number", 1)
    assert found.corporations[0].name == "国税庁"


def test_a_wrong_check_digit_names_the_right_one() -> None:
    with pytest.raises(BadCorporateNumber, match="check digit should be 7, not 1") as caught:
        default_index().find("1000012050002")
    assert caught.value.code == "corporations.bad_number"


@pytest.mark.parametrize("query", ["123", "70000120500021", "0"])
def test_a_number_of_the_wrong_length_is_refused(query: str) -> None:
    with pytest.raises(BadCorporateNumber, match="13 digits expected"):
        INDEX.find(query)


def test_a_valid_number_nobody_holds_finds_nothing() -> None:
    found = INDEX.find(corporate_number("999999999999"))
    assert (found.by, found.total, found.corporations) == ("number", 0, ())


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("サクラ", ["株式会社サクラ商事"]),
        ("さくら", ["株式会社サクラ商事"]),  # hiragana meets katakana
        ("ｻｸﾗ", ["株式会社サクラ商事"]),  # half-width katakana
        ("しょうじ", ["株式会社サクラ商事"]),  # the reading
        ("工務店", ["佐藤工務店有限会社"]),
        ("abc", ["合同会社ABCラボ"]),  # case-insensitive
        ("ＡＢＣ", ["合同会社ABCラボ"]),  # full-width letters
        ("Ａ B　c", ["合同会社ABCラボ"]),  # spaces dropped
        ("え－びー", []),  # a dash is not the long-vowel mark
        ("㈱サクラ", ["株式会社サクラ商事"]),
        ("（株）サクラ", ["株式会社サクラ商事"]),
        ("サクラ商事株式会社", ["株式会社サクラ商事"]),  # 前株 or 後株: the same company
        ("株式会社", ["株式会社サクラ商事"]),  # the kind alone lists that kind
        ("(有)サクラ", []),  # the kind must match
        ("サ\u200bクラ", ["株式会社サクラ商事"]),  # a zero-width space is invisible
        ("さ\u3099とう", ["佐藤工務店有限会社"]),  # a combining dakuten composes (ざ ≠ さ)
    ],
)
def test_names_are_found_by_piece_reading_width_and_abbreviation(
    query: str, expected: list[str]
) -> None:
    if query == "さ\u3099とう":
        assert names(query) == [] and names("さとう") == expected
        return
    assert names(query) == expected


def test_results_are_counted_and_limited() -> None:
    found = default_index().find("株式会社", limit=5)
    assert len(found.corporations) == 5 and found.total > 1000
    with pytest.raises(InvalidQuery, match="limit"):
        INDEX.find("サクラ", limit=0)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "nothing to search for"),
        ("   ", "nothing to search for"),
        ("・・", "nothing to search for"),
        ("\u200b", "nothing to search for"),
        ("x" * (MAX_QUERY_CHARS + 1), "too long: 101 characters"),
        ("サクラ\x00", "character 4 (0x0000)"),
        ("a\nb", "character 2 (0x000a)"),
        ("\udcff", "character 1 (0xdcff)"),  # an undecodable argv byte
        ("\ue000", "character 1 (0xe000)"),  # private use
    ],
)
def test_odd_queries_get_a_clear_error(query: str, message: str) -> None:
    with pytest.raises(InvalidQuery, match=re.escape(message)) as caught:
        INDEX.find(query)
    assert caught.value.code == "corporations.invalid_query"


def test_emoji_and_other_scripts_simply_match_nothing() -> None:
    assert names("🏢") == [] and names("Ωμέγα") == [] and names("שלום") == []


def test_normalization_is_idempotent() -> None:
    for text in ("㈱ｻｸﾗ", "ＡＢＣ ラボ", "(一社)東京"):
        assert normalize(normalize(text)) == normalize(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_is_answered_or_refused_with_a_coded_error(text: str) -> None:
    try:
        found = INDEX.find(text)
    except CorporationError as exc:
        code = exc.code
    else:
        code = "corporations.ok"
        assert found.total == len(found.corporations) <= 3
    assert code.startswith("corporations.")
