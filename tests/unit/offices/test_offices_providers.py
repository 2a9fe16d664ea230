"""The municipal providers answer from their own store, by their own token for the person."""

from __future__ import annotations

import pytest

from agencies.municipality.local_tax import LocalTax
from agencies.municipality.resident_register import ResidentRegister
from hub.node import BadRequest, MemoryStore, NoRecord, OfficeError

HEAD, CHILD, LODGER = "tok-head-" + "h" * 35, "tok-child-" + "c" * 34, "tok-lodger-" + "l" * 33
ADDRESS = "東京都千代田区九段南一丁目2番1号"


def resident(name: str, birth: str, sex: str, relationship: str) -> dict[str, str]:
    return {
        "name": name,
        "birth_date": birth,
        "sex": sex,
        "address": ADDRESS,
        "household": "H000001",
        "relationship": relationship,
    }


@pytest.fixture
async def register() -> ResidentRegister:
    store = MemoryStore()
    await store.put_many(
        "residents",
        [
            ("R0000001", HEAD, resident("佐藤 健一", "1980-02-03", "1", "世帯主")),
            ("R0000002", None, resident("佐藤 陽子", "1982-04-05", "2", "妻")),
            ("R0000003", CHILD, resident("佐藤 陽菜", "2015-06-07", "2", "子")),
            ("R0000009", LODGER, resident("田中 翼", "2001-01-01", "1", "同居人") | {
                "household": "H999999"  # a household the register does not hold
            }),
        ],
    )  # fmt: skip
    await store.put_many(
        "households",
        [("H000001", None, {"head": "R0000001", "members": ["R0000001", "R0000002", "R0000003",
                                                            "R0000404"]})],
    )  # fmt: skip
    return ResidentRegister(store)


async def test_the_register_answers_with_the_person_and_their_household(
    register: ResidentRegister,
) -> None:
    answer = await register.answer(CHILD, ("resident_record",), {})
    assert answer == {
        "resident_record": {
            "name": "佐藤 陽菜",
            "birth_date": "2015-06-07",
            "sex": "2",
            "address": ADDRESS,
            "relationship": "子",
            "household": [  # R0000404 is listed but not held: left out
                {"name": "佐藤 健一", "relationship": "世帯主", "birth_date": "1980-02-03",
                 "sex": "1"},
                {"name": "佐藤 陽子", "relationship": "妻", "birth_date": "1982-04-05", "sex": "2"},
                {"name": "佐藤 陽菜", "relationship": "子", "birth_date": "2015-06-07", "sex": "2"},
            ],
        }
    }  # fmt: skip


async def test_the_household_is_the_same_whoever_is_asked_about(
    register: ResidentRegister,
) -> None:
    head = await register.answer(HEAD, ("resident_record",), {})
    child = await register.answer(CHILD, ("resident_record",), {})
    assert head is not None and child is not None
    assert head["resident_record"]["household"] == child["resident_record"]["household"]
    assert head["resident_record"]["name"] == "佐藤 健一"


async def test_a_resident_whose_household_is_not_held_has_an_empty_household(
    register: ResidentRegister,
) -> None:
    answer = await register.answer(LODGER, ("resident_record",), {})
    assert answer is not None
    assert answer["resident_record"]["household"] == []


async def test_the_register_does_not_know_an_unknown_token(register: ResidentRegister) -> None:
    assert await register.answer("tok-unknown-" + "x" * 32, ("resident_record",), {}) is None


async def test_the_register_holds_only_the_resident_record(register: ResidentRegister) -> None:
    with pytest.raises(NoRecord) as caught:
        await register.answer(HEAD, ("resident_record", "local_tax"), {})
    assert (
        str(caught.value)
        == "the resident register holds only resident_record (and its certificates)"
    )
    assert caught.value.code == "office.no_record"
    assert isinstance(caught.value, OfficeError)


# ---- local tax -----------------------------------------------------------------------------

TAXPAYER = "tok-taxpayer-" + "t" * 31
NEWCOMER = "tok-newcomer-" + "n" * 31


@pytest.fixture
async def tax() -> LocalTax:
    store = MemoryStore()
    await store.put_many(
        "taxpayers",
        [
            (
                "T0000001",
                TAXPAYER,
                {
                    "name": "佐藤 健一",
                    "years": {
                        "2024": {"total_income": 5_800_000, "municipal_income_levy": 301_000},
                        "2023": {"total_income": 5_500_000, "municipal_income_levy": 285_000},
                    },
                },
            ),
            ("T0000002", NEWCOMER, {"name": "田中 翼", "years": {}}),
        ],
    )
    return LocalTax(store)


async def test_the_tax_office_answers_for_the_fiscal_year_asked(tax: LocalTax) -> None:
    answer = await tax.answer(TAXPAYER, ("local_tax",), {"fiscal_year": 2024})
    assert answer == {
        "local_tax": {
            "fiscal_year": 2024,
            "total_income": 5_800_000,
            "municipal_income_levy": 301_000,
        }
    }
    earlier = await tax.answer(TAXPAYER, ("local_tax",), {"fiscal_year": 2023})
    assert earlier is not None
    assert earlier["local_tax"]["total_income"] == 5_500_000


async def test_the_tax_office_does_not_know_an_unknown_token(tax: LocalTax) -> None:
    assert (
        await tax.answer("tok-unknown-" + "x" * 32, ("local_tax",), {"fiscal_year": 2024}) is None
    )


async def test_a_year_not_held_is_no_record_naming_the_years_held(tax: LocalTax) -> None:
    with pytest.raises(NoRecord) as caught:
        await tax.answer(TAXPAYER, ("local_tax",), {"fiscal_year": 2025})
    assert str(caught.value) == "no assessment for fiscal year 2025 (held: 2023, 2024)"


async def test_a_taxpayer_without_assessments_holds_none(tax: LocalTax) -> None:
    with pytest.raises(NoRecord, match=r"no assessment for fiscal year 2024 \(held: none\)"):
        await tax.answer(NEWCOMER, ("local_tax",), {"fiscal_year": 2024})


@pytest.mark.parametrize(
    "params", [{}, {"fiscal_year": "2024"}, {"year": 2024}], ids=["none", "text", "misnamed"]
)
async def test_the_fiscal_year_must_be_given_as_an_integer(
    tax: LocalTax, params: dict[str, str | int]
) -> None:
    with pytest.raises(BadRequest, match=r"say which fiscal year: params\.fiscal_year"):
        await tax.answer(TAXPAYER, ("local_tax",), params)


@pytest.mark.parametrize("items", [("resident_record",), ("local_tax", "pension_benefit")])
async def test_the_tax_office_holds_only_local_tax(tax: LocalTax, items: tuple[str, ...]) -> None:
    with pytest.raises(NoRecord, match="the tax office holds only local_tax"):
        await tax.answer(TAXPAYER, items, {"fiscal_year": 2024})
