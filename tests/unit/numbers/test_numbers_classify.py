"""classify(): the lenient check behind `renkei numbers check NUMBER`. It never raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agencies.jlis.numbers import MAX_INPUT_CHARS, NumberCheck, classify

KINDS = {"individual_number", "corporate_number", "resident_record_code", "unknown"}


@pytest.mark.parametrize(
    ("text", "kind", "valid", "reason"),
    [
        ("123456789018", "individual_number", True, "check digit 8 is correct"),
        ("123456789013", "individual_number", False, "check digit should be 8, not 3"),
        ("7000012050002", "corporate_number", True, "check digit 7 is correct"),
        ("6000012050002", "corporate_number", False, "check digit should be 7, not 6"),
        ("12345678903", "resident_record_code", True, "check digit 3 is correct"),
        ("1234-5678-9018", "individual_number", True, "separators ignored: 2 hyphens"),
        ("1234 5678 9018", "individual_number", True, "separators ignored: 2 spaces"),
        ("1234 5678-9018", "individual_number", True, "separators ignored: 1 hyphen, 1 space"),
        ("１２３４５６７８９０１８", "individual_number", True, "full-width digits read as ASCII"),
        ("１２３４－５６７８－９０１８", "individual_number", True, "2 hyphens"),
        ("1234ー5678ー9018", "individual_number", True, "2 hyphens"),  # long-vowel mark
        ("1234\u30005678\u30009018", "individual_number", True, "2 spaces"),  # ideographic space
        ("  123456789018\n", "individual_number", True, "check digit 8 is correct"),
        ("123a", "unknown", False, "only digits allowed (found 'a' at position 4)"),
        ("  12a", "unknown", False, "found 'a' at position 5"),
        ("1234567890", "unknown", False, "10 digits: an individual number has 12"),
        ("", "unknown", False, "no digits given"),
        ("- -", "unknown", False, "no digits given"),
        ("١٢٣٤٥٦٧٨٩٠١٨", "unknown", False, "only digits allowed (found '١' at position 1)"),
        ("1234\u200b5678", "unknown", False, "found '\\u200b' at position 5"),
        ("12\x0034", "unknown", False, "found '\\x00' at position 3"),
        ("12\ud80034", "unknown", False, "found '\\ud800' at position 3"),
        ("1\u03012", "unknown", False, "position 2"),  # a combining mark is not a separator
        ("12345678901８🙂", "unknown", False, "found '🙂' at position 13"),
    ],
)
def test_examples(text: str, kind: str, valid: bool, reason: str) -> None:
    check = classify(text)
    assert (check.kind, check.valid) == (kind, valid)
    assert reason in check.reason


def test_expected_kind_gives_the_length_message() -> None:
    check = classify("12345678901", expect="individual_number")
    assert check == NumberCheck(
        "individual_number", False, "12 digits expected for an individual number, got 11"
    )
    assert classify("123456789018", expect="corporate_number").reason == (
        "13 digits expected for a corporate number, got 12"
    )


def test_oversized_input_is_refused_without_reading_it() -> None:
    check = classify("1" * 1_000_000)
    assert not check.valid
    assert check.reason == "too long: 1000000 characters"
    assert classify("1" * MAX_INPUT_CHARS).reason.startswith(f"{MAX_INPUT_CHARS} digits")


def test_the_digits_stay_out_of_the_repr() -> None:
    check = classify("１２３４-５６７８-９０１８")
    assert check.digits == "123456789018"
    assert "123456789018" not in repr(check)
    assert "9018" not in repr(check)


@given(st.text(max_size=80))
def test_never_raises_on_any_text(text: str) -> None:
    check = classify(text)
    assert check.kind in KINDS
    assert check.reason
    if check.valid:
        assert check.kind != "unknown"
        assert len(check.digits) in (11, 12, 13)
        assert check.digits.isascii()
        assert check.digits.isdigit()


@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("0123456789０-９ -")))
def test_never_raises_on_digit_heavy_text(text: str) -> None:
    assert classify(text).kind in KINDS


@given(st.text(alphabet="0123456789", max_size=20))
def test_kind_follows_the_digit_count(text: str) -> None:
    expected = {11: "resident_record_code", 12: "individual_number", 13: "corporate_number"}
    assert classify(text).kind == expected.get(len(text), "unknown")
