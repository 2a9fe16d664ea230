"""Check digits of the four kinds of number (``hub.numbers``): known examples, round trips,
python-stdnum's independent implementation where it covers the scheme, and J-LIS's strict
check and explanation on top."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.jp import cn as stdnum_cn
from stdnum.jp import in_ as stdnum_in

from agencies.jlis.exceptions import BadCheckDigit, MalformedNumber, NumberError
from agencies.jlis.numbers import classify, generate_rrc, validate
from hub.numbers import (
    check_digits,
    corporate_check_digit,
    corporate_number,
    individual_check_digit,
    individual_number,
    is_valid,
    municipal_check_digit,
    resident_record_code,
    rrc_check_digit,
)


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


def test_known_individual_number() -> None:
    assert individual_check_digit("12345678901") == 8
    assert individual_number("12345678901") == "123456789018"
    assert validate("123456789018", "individual_number") == "123456789018"


def test_known_corporate_number_has_its_check_digit_first() -> None:
    assert corporate_check_digit("000012050002") == 7
    assert corporate_number("000012050002") == "7000012050002"
    assert validate("7000012050002", "corporate_number") == "7000012050002"


def test_remainder_zero_or_one_gives_check_digit_zero() -> None:
    # "00000000001": Σ = 1·2 = 2 → 11 - 2 = 9; "00000000000": remainder 0 → 0.
    assert individual_check_digit("00000000000") == 0
    assert individual_check_digit("00000000001") == 9
    # find a base whose remainder is 1: weight 6 at the 11th digit, digit 2 → 12 ≡ 1.
    assert individual_check_digit("20000000000") == 0


@given(digits(11))
def test_individual_round_trip(base: str) -> None:
    number = individual_number(base)
    assert validate(number, "individual_number") == number
    assert classify(number).valid


@given(digits(10))
def test_rrc_round_trip(base: str) -> None:
    code = resident_record_code(base)
    assert len(code) == 11
    assert int(code[-1]) == rrc_check_digit(base)
    assert classify(code).valid


@given(digits(12))
def test_corporate_round_trip(base: str) -> None:
    number = corporate_number(base)
    assert number[1:] == base
    assert 1 <= int(number[0]) <= 9
    assert classify(number).kind == "corporate_number"
    assert classify(number).valid


@given(digits(11), st.integers(0, 9))
def test_any_other_check_digit_is_refused_and_explained(base: str, wrong: int) -> None:
    right = individual_check_digit(base)
    if wrong == right:
        return
    number = base + str(wrong)
    with pytest.raises(BadCheckDigit) as info:
        validate(number, "individual_number")
    assert info.value.code == "jlis.bad_check_digit"
    check = classify(number)
    assert not check.valid
    assert check.reason == f"check digit should be {right}, not {wrong}"


@given(digits(12), st.integers(0, 9))
def test_corporate_wrong_first_digit_is_refused(base: str, wrong: int) -> None:
    right = corporate_check_digit(base)
    if wrong != right:
        with pytest.raises(BadCheckDigit):
            validate(str(wrong) + base, "corporate_number")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("12345678901", "individual_number"),  # one short
        ("1234567890188", "individual_number"),
        ("12345678901a", "individual_number"),
        ("１２３４５６７８９０１８", "individual_number"),  # full-width: strict path refuses
        ("123456789018 ", "individual_number"),
        ("", "resident_record_code"),
    ],
)
def test_validate_is_strict(text: str, kind: str) -> None:
    with pytest.raises(MalformedNumber) as info:
        validate(text, kind)  # type: ignore[arg-type]
    assert isinstance(info.value, NumberError)
    assert info.value.code == "jlis.malformed_number"


@pytest.mark.parametrize("base", ["123", "1234567890a", "１２３４５６７８９０１", "123456789012"])
def test_check_digit_functions_refuse_bad_bases(base: str) -> None:
    with pytest.raises(ValueError, match="11 ASCII digits"):
        individual_check_digit(base)


# ---- against python-stdnum, an implementation written apart from ours -------------------


@given(digits(11))
def test_the_individual_check_digit_agrees_with_stdnum(base: str) -> None:
    assert str(individual_check_digit(base)) == stdnum_in.calc_check_digit(base)


@given(digits(12))
def test_any_12_digits_are_valid_for_us_exactly_when_for_stdnum(number: str) -> None:
    assert is_valid("individual_number", number) == stdnum_in.is_valid(number)


@given(digits(12))
def test_the_corporate_check_digit_agrees_with_stdnum(base: str) -> None:
    assert str(corporate_check_digit(base)) == stdnum_cn.calc_check_digit(base)


@given(digits(13))
def test_any_13_digits_are_valid_for_us_exactly_when_for_stdnum(number: str) -> None:
    assert is_valid("corporate_number", number) == stdnum_cn.is_valid(number)


def test_stdnum_knows_the_published_numbers_too() -> None:
    assert stdnum_in.is_valid("123456789018") and stdnum_cn.is_valid("7000012050002")


# ---- what stdnum does not cover: resident-record and municipal codes --------------------


@pytest.mark.parametrize(
    "code",
    ["131016", "131041", "131130", "011002", "012025", "010006", "130001", "141003", "231002",
     "270008", "271004", "401307", "472018", "132012"],
)  # fmt: skip
def test_published_municipal_codes_have_valid_check_digits(code: str) -> None:
    """Real codes (soumu.go.jp, FACTS §4.3)."""
    assert municipal_check_digit(code[:5]) == int(code[5])
    assert is_valid("municipal_code", code)


@given(digits(10))
def test_a_resident_record_code_uses_the_individual_numbers_rule_over_10_digits(base: str) -> None:
    assert rrc_check_digit(base) == individual_check_digit("0" + base)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("individual_number", "12345678901８"),  # int() would read a full-width digit
        ("individual_number", "１２３４５６７８９０１８"),
        ("corporate_number", "７000012050002"),
        ("municipal_code", "13101６"),
        ("municipal_code", "1310166"),
        ("resident_record_code", ""),
        ("resident_record_code", "1234567890-"),
    ],
)
def test_only_ascii_digits_are_a_number(kind: Any, text: str) -> None:
    assert not is_valid(kind, text)
    with pytest.raises(ValueError, match="ASCII digits"):
        check_digits(kind, text)


def test_generate_rrc_makes_valid_codes() -> None:
    rng = random.Random(7)
    codes = [generate_rrc(rng) for _ in range(1000)]
    assert all(classify(c).kind == "resident_record_code" and classify(c).valid for c in codes)
    assert generate_rrc(random.Random(7)) == codes[0]
