"""The population looks like Japan's (FACTS §3.3, §4.1–4.2), within sampling noise."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from agencies.population import iter_households
from agencies.population.households import Household, Person
from agencies.population.names import TOP10_SHARE
from agencies.population.welfare import INTELLECTUAL, MENTAL, PHYSICAL

TODAY = dt.date(2024, 6, 1)
N = 60_000


@pytest.fixture(scope="module")
def households() -> list[Household]:
    return list(iter_households(N, seed=11, today=TODAY))


@pytest.fixture(scope="module")
def persons(households: list[Household]) -> list[Person]:
    return [p for h in households for p in h.members]


def age(p: Person) -> int:
    b = dt.date.fromisoformat(p.birth_date)
    return TODAY.year - b.year - ((TODAY.month, TODAY.day) < (b.month, b.day))


def share(persons: list[Person], test: object) -> float:
    return sum(1 for p in persons if test(p)) / len(persons)  # type: ignore[operator]


def test_households_average_about_2_2_persons(households: list[Household]) -> None:
    mean = N / len(households)
    assert 2.10 <= mean <= 2.32  # 2.21 in the 2020 census
    sizes = Counter(len(h.members) for h in households)
    assert 0.33 <= sizes[1] / len(households) <= 0.43  # one-person households


def test_about_a_fifth_of_households_have_children(households: list[Household]) -> None:
    with_kids = [h for h in households if any(age(p) < 18 for p in h.members)]
    assert 0.19 <= len(with_kids) / len(households) <= 0.25  # 22.1 %
    counts = Counter(sum(1 for p in h.members if age(p) < 18) for h in with_kids)
    assert 0.40 <= counts[1] / len(with_kids) <= 0.52  # 45.4 % have one child


def test_the_age_pyramid_is_roughly_japans(persons: list[Person]) -> None:
    assert 0.13 <= share(persons, lambda p: age(p) < 18) <= 0.20
    assert 0.24 <= share(persons, lambda p: age(p) >= 65) <= 0.33  # 29 % in 2024
    assert max(age(p) for p in persons) <= 100


def test_the_top_ten_surnames_hold_about_a_tenth(persons: list[Person]) -> None:
    names = Counter(p.name.split(" ")[0] for p in persons)
    top10 = sum(n for _, n in names.most_common(10)) / len(persons)
    assert abs(top10 - TOP10_SHARE) < 0.015
    assert names.most_common(1)[0][0] in ("佐藤", "鈴木")


def test_given_names_follow_the_birth_period(persons: list[Person]) -> None:
    young = Counter(
        p.name.split(" ")[1] for p in persons if p.birth_date >= "2015" and p.sex == "1"
    )
    old = Counter(p.name.split(" ")[1] for p in persons if p.birth_date < "1945" and p.sex == "2")
    assert set(young) <= {"悠真", "陽翔", "悠人", "湊", "蓮", "大翔", "碧", "蒼"}
    assert {"和子", "幸子", "節子"} <= set(old)


def test_welfare_and_handbooks_have_their_national_shares(
    households: list[Household], persons: list[Person]
) -> None:
    assisted = sum(len(h.members) for h in households if h.public_assistance) / N
    assert 0.010 <= assisted <= 0.024  # 1.62 %
    handbook = Counter(p.disability[0] for p in persons if p.disability)
    assert 0.030 <= handbook[PHYSICAL] / N <= 0.048  # 3.96 %
    assert 0.006 <= handbook[INTELLECTUAL] / N <= 0.014  # 0.98 %
    assert 0.006 <= handbook[MENTAL] / N <= 0.014  # 0.95 %


def test_work_insurance_and_pensions_are_consistent(persons: list[Person]) -> None:
    for p in persons:
        a = age(p)
        assert (p.insurance == "koiki") == (a >= 75) or p.insurance == "medical_aid"
        assert (p.pension > 0) == (a >= 65)
        if a < 15:
            assert p.employment == "" and p.income == 0
        if p.insurance == "kenpo":
            assert p.employment == "employee" and p.income >= 1_060_000
    assert 0.15 <= share(persons, lambda p: p.insurance == "nhi") <= 0.25


def test_half_live_where_the_network_has_offices(households: list[Household]) -> None:
    where = Counter(h.municipality for h in households)
    ours = (where["131016"] + where["131041"]) / len(households)
    assert 0.46 <= ours <= 0.54
    assert len(where) == 9 and len({m[:2] for m in where}) == 6  # six prefectures
