"""Check digits of the three kinds of number: known examples and round trips."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agencies.jlis.exceptions import BadCheckDigit, MalformedNumber, NumberError
from agencies.jlis.numbers import (
    classify,
    corporate_check_digit,
    corporate_number,
    generate_rrc,
    individual_check_digit,
    individual_number,
    resident_record_code,
    rrc_check_digit,
    validate,
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


@pytest.mark.parametrize("base", ["123", "1234567890a", "１２３４５６７８９０１"])
def test_check_digit_functions_refuse_bad_bases(base: str) -> None:
    with pytest.raises(MalformedNumber):
        individual_check_digit(base)


def test_generate_rrc_makes_valid_codes() -> None:
    rng = random.Random(7)
    codes = [generate_rrc(rng) for _ in range(1000)]
    assert all(classify(c).kind == "resident_record_code" and classify(c).valid for c in codes)
    assert generate_rrc(random.Random(7)) == codes[0]
