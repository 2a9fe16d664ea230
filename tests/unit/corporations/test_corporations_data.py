"""The registry's data: valid numbers, deterministic, realistic, public facts only."""

from __future__ import annotations

import dataclasses
import re

import pytest

from agencies.corporations import FACTS, KINDS, Corporation, default_index, generate
from agencies.jlis.numbers import classify
from hub.numbers import corporate_check_digit

PREFECTURES = ("東京都", "神奈川県", "愛知県", "大阪府", "福岡県", "沖縄県")


@pytest.fixture(scope="module")
def corporations() -> tuple[Corporation, ...]:
    return generate()


def test_every_number_is_a_valid_corporate_number(corporations: tuple[Corporation, ...]) -> None:
    for c in corporations:
        check = classify(c.number)
        assert check.kind == "corporate_number" and check.valid, (c.number, check.reason)
        assert int(c.number[0]) == corporate_check_digit(c.number[1:])


def test_numbers_and_names_are_unique(corporations: tuple[Corporation, ...]) -> None:
    assert len({c.number for c in corporations}) == len(corporations) == 3000 + len(FACTS)
    assert len({c.name for c in corporations}) == len(corporations)


def test_the_data_set_is_deterministic_for_a_seed() -> None:
    assert generate(200, seed=3) == generate(200, seed=3)
    assert generate(200, seed=3) != generate(200, seed=4)


def test_the_national_tax_agency_is_there_as_a_fact(corporations: tuple[Corporation, ...]) -> None:
    nta = next(c for c in corporations if c.number == "7000012050002")
    assert (nta.name, nta.kind, nta.fact) == ("国税庁", "国の機関", True)
    assert all(c.fact for c in FACTS) and sum(c.fact for c in corporations) == len(FACTS)


def test_names_carry_their_kind_and_a_katakana_reading(
    corporations: tuple[Corporation, ...],
) -> None:
    for c in corporations:
        assert c.kind in KINDS
        if not c.fact:
            assert c.name.startswith(c.kind) or c.name.endswith(c.kind), c.name
        assert re.fullmatch(r"[ァ-ヶー]+", c.kana), c.kana
        assert c.address.startswith(PREFECTURES) and re.fullmatch(r"\d{3}-\d{4}", c.postal_code)


def test_kinds_and_dates_are_plausible(corporations: tuple[Corporation, ...]) -> None:
    kinds = {c.kind for c in corporations}
    assert {"株式会社", "有限会社", "合同会社", "一般社団法人", "特定非営利活動法人"} <= kinds
    share = sum(c.kind == "株式会社" for c in corporations) / len(corporations)
    assert 0.5 < share < 0.75
    for c in corporations:
        assert "2015-10-05" <= c.assigned <= "2024-12-31"
        if c.kind == "有限会社":
            assert c.assigned == "2015-10-05"  # none founded since 2006
        if c.kind == "合同会社":
            assert c.number[5:7] == "03"


def test_the_registry_holds_no_personal_data() -> None:
    fields = {f.name for f in dataclasses.fields(Corporation)}
    assert fields == {
        "number",
        "name",
        "kana",
        "kind",
        "postal_code",
        "address",
        "assigned",
        "fact",
    }


def test_the_loader_builds_the_index_once() -> None:
    assert default_index() is default_index()
    assert len(default_index()) == 3000 + len(FACTS)
