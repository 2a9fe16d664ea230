"""The desk's check against the resident register (pure): a card only for a resident on it,
with the register's four facts (番号法 第16条, 第17条)."""

from __future__ import annotations

import datetime as dt

import pytest

from card_service import Resident
from card_service.desk.register import check_on_register
from card_service.exceptions import CardError, NotOnRegister, RegisterMismatch

APPLICANT = Resident.model_validate(
    {
        "number": "123456789018",
        "name": "番号 花子",
        "address": "東京都千代田区霞が関二丁目1番2号",
        "birth_date": dt.date(1985, 6, 15),
        "sex": "2",
        "prefecture": "東京都",
        "municipality": "千代田区",
    }
)
RECORD = {
    "name": "番号 花子",
    "address": "東京都千代田区霞が関二丁目１番２号",
    "birth_date": "1985-06-15",
    "sex": "2",
    "household": "H1",
}


def test_the_register_s_resident_passes() -> None:
    check_on_register(APPLICANT, RECORD)
    check_on_register(APPLICANT, {**RECORD, "name": "番号\ufe00 花子"})  # a variation selector


@pytest.mark.parametrize(
    ("fact", "value"),
    [("name", "番号 華子"), ("address", "東京都千代田区霞が関二丁目1番3号"),
     ("birth_date", "1985-06-16"), ("sex", "1")],
)  # fmt: skip
def test_each_fact_that_differs_refuses_and_is_named(fact: str, value: str) -> None:
    with pytest.raises(RegisterMismatch) as caught:
        check_on_register(APPLICANT, {**RECORD, fact: value})
    assert caught.value.code == "card.register_mismatch" and f"({fact})" in str(caught.value)
    assert isinstance(caught.value, CardError)


@pytest.mark.parametrize(
    ("record", "words"),
    [
        (None, "no resident"),
        ({**RECORD, "move_out": "2026-12-20"}, "move out filed"),
        ({**RECORD, "died": "2026-12-01"}, "died"),
    ],
)
def test_no_card_for_someone_not_on_the_register(record: dict[str, str] | None, words: str) -> None:
    with pytest.raises(NotOnRegister, match=words) as caught:
        check_on_register(APPLICANT, record)
    assert caught.value.code == "card.not_on_register"


def test_a_malformed_record_refuses_rather_than_passes() -> None:
    with pytest.raises(RegisterMismatch):
        check_on_register(APPLICANT, {"household": "H1"})


def test_a_number_replaced_on_leak_is_refused_at_the_desk() -> None:
    check_on_register(APPLICANT, {**RECORD, "number": APPLICANT.number})  # the current one
    with pytest.raises(RegisterMismatch, match="number replaced") as caught:
        check_on_register(APPLICANT, {**RECORD, "number": "234567890126"})
    assert "234567890126" not in str(caught.value) and APPLICANT.number not in str(caught.value)
