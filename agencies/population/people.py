"""One household at a time: who lives together, their ages, work, income, pension, insurance.

Household types are a MODEL fitted to FACTS §3.3 [V]: 2.21 persons per household (2020
census), 22.1 % of households with children under 18, of which 45.4 % have one child, 40.4 %
two and about 14 % three or more; 母子 1.3 % and 父子 0.2 % of households. The age, work, income
and pension figures are models (log-normal incomes around recalled medians), not statistics.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from typing import Final

from agencies.population.households import Person
from agencies.population.names import Picker, between, given_name, pick

__all__ = ["compose", "finish"]

_TYPES: Final = Picker(
    [
        ("single", 38.0),
        ("couple", 20.0),
        ("couple_kids", 17.0),
        ("single_parent", 1.5),
        ("couple_adult_kids", 10.0),
        ("three_generations", 3.6),
        ("with_parents", 9.9),
    ]
)
_KIDS: Final = Picker([(1, 45.4), (2, 40.4), (3, 12.0), (4, 2.2)])
_ONE_PARENT: Final = (("父", "1"), ("母", "2"), ("母", "2"))  # mothers live longer


def _years_before(day: dt.date, years: int) -> dt.date:
    return dt.date(day.year - years, day.month, 28 if (day.month, day.day) == (2, 29) else day.day)


def _born(rng: random.Random, today: dt.date, age: int) -> dt.date:
    """A birth date at which the person is exactly ``age`` years old on ``today``."""
    latest = _years_before(today, age)
    earliest = _years_before(today, age + 1) + dt.timedelta(days=1)
    return earliest + dt.timedelta(days=int(rng.random() * ((latest - earliest).days + 1)))


def _elder(rng: random.Random) -> int:
    return 65 + int(rng.triangular(0, 33, 4))


def _spouse(rng: random.Random, head_sex: str, head_age: int) -> tuple[str, str, int]:
    sex = "2" if head_sex == "1" else "1"
    gap = round(rng.gauss(2, 3)) * (1 if sex == "2" else -1)
    return ("妻" if sex == "2" else "夫"), sex, max(18, min(99, head_age - gap))


def _kids(rng: random.Random, mother_age: int, n: int) -> list[int]:
    low, high = max(0, mother_age - 44), min(17, mother_age - 20)
    return sorted((between(rng, low, high) for _ in range(n)), reverse=True)


def compose(rng: random.Random, today: dt.date) -> list[tuple[str, str, int]]:
    """(relationship, sex, age) of each member, the head first."""
    kind = _TYPES(rng)
    if kind == "single":
        r = rng.random()
        if r < 0.38:
            age = between(rng, 20, 39)
        else:
            age = between(rng, 40, 64) if r < 0.66 else _elder(rng)
        male = rng.random() < (0.56 if age < 65 else 0.35)
        return [("世帯主", "1" if male else "2", age)]
    head_sex = "1" if rng.random() < 0.9 else "2"
    if kind == "couple":
        age = _elder(rng) if rng.random() < 0.6 else between(rng, 25, 64)
        return [("世帯主", head_sex, age), _spouse(rng, head_sex, age)]
    if kind in ("couple_kids", "three_generations"):
        mother = between(rng, 24, 54)
        head_age = mother + round(rng.gauss(2, 3)) if head_sex == "1" else mother
        spouse = _spouse(rng, head_sex, head_age)
        out = [("世帯主", head_sex, head_age), spouse]
        out += [("子", pick(rng, "12"), a) for a in _kids(rng, mother, _KIDS(rng))]
        if kind == "three_generations":
            both = rng.random() < 0.45
            elders = [("父", "1"), ("母", "2")] if both else [pick(rng, _ONE_PARENT)]
            out += [(rel, sex, min(99, head_age + between(rng, 25, 34))) for rel, sex in elders]
        return out
    if kind == "single_parent":
        sex = "2" if rng.random() < 0.87 else "1"
        age = between(rng, 24, 54)
        n = pick(rng, (1, 1, 1, 2, 2, 3))
        return [("世帯主", sex, age)] + [("子", pick(rng, "12"), a) for a in _kids(rng, age, n)]
    if kind == "couple_adult_kids":
        age = between(rng, 48, 78)
        out = [("世帯主", head_sex, age), _spouse(rng, head_sex, age)]
        n = 1 if rng.random() < 0.7 else 2
        out += [("子", pick(rng, "12"), max(18, age - between(rng, 22, 38))) for _ in range(n)]
        return out
    age = between(rng, 40, 64)  # with_parents: a middle-aged head living with old parents
    out = [("世帯主", pick(rng, "12"), age)]
    both = rng.random() < 0.35
    parents = [("父", "1"), ("母", "2")] if both else [pick(rng, _ONE_PARENT)]
    out += [(r, s, min(99, age + between(rng, 25, 34))) for r, s in parents]
    return out


def _lognormal(rng: random.Random, median: float, sigma: float) -> int:
    return int(rng.lognormvariate(math.log(median), sigma)) // 1000 * 1000


# (age below which the row applies, shares of employee, self-employed, unemployed; the rest
# are students under 23, homemakers under 65, retired from 65) by sex "1"/"2": a model
_WORK: Final = {
    "1": (
        (23, 0.40, 0.0, 0.05),
        (65, 0.84, 0.09, 0.03),
        (75, 0.33, 0.10, 0.0),
        (200, 0.0, 0.06, 0.0),
    ),
    "2": (
        (23, 0.40, 0.0, 0.05),
        (65, 0.70, 0.05, 0.02),
        (75, 0.20, 0.10, 0.0),
        (200, 0.0, 0.06, 0.0),
    ),
}


def _work(rng: random.Random, age: int, sex: str) -> str:
    if age < 18:
        return "" if age < 15 else "student"
    for below, employee, self_employed, unemployed in _WORK[sex]:
        if age < below:
            r = rng.random()
            if r < employee:
                return "employee"
            if r < employee + self_employed:
                return "self_employed"
            if r < employee + self_employed + unemployed:
                return "unemployed"
            return "student" if age < 23 else "homemaker" if age < 65 else "retired"
    return "retired"


def _pension(rng: random.Random, age: int, sex: str) -> int:
    if age < 65:
        return 0
    basic = 816_000 * rng.uniform(0.6, 1.0)  # 老齢基礎年金, full amount of 2024 × years paid
    if rng.random() < (0.7 if sex == "1" else 0.35):  # 老齢厚生年金 of a former employee
        basic += rng.lognormvariate(math.log(1_000_000 if sex == "1" else 550_000), 0.45)
    return int(basic) // 100 * 100


def _income(rng: random.Random, age: int, sex: str, work: str, pension: int) -> int:
    if work == "employee":
        if age >= 65:
            return pension + _lognormal(rng, 2_400_000, 0.5)
        ramp = 0.6 + 0.4 * min(1.0, max(0, age - 20) / 25)
        return _lognormal(rng, ramp * (4_600_000 if sex == "1" else 2_600_000), 0.5)
    if work == "self_employed":
        return pension + _lognormal(rng, 3_000_000, 0.8)
    if work in ("student", "homemaker") and rng.random() < 0.25:
        return _lognormal(rng, 700_000, 0.4)  # part-time work
    return pension


def finish(
    rng: random.Random,
    *,
    today: dt.date,
    surname: str,
    members: list[tuple[str, str, int]],
    rrc: Callable[[], str],
    extras: Callable[[random.Random, int, str], tuple[str, tuple[str, ...]]],
) -> tuple[Person, ...]:
    """Persons from (relationship, sex, age): names, births, work, income, pension, insurance.

    ``extras(rng, age, sex)`` gives the care level and disability (see `welfare`).
    """
    drafted = []
    for rel, sex, age in members:
        birth = _born(rng, today, age)
        work = _work(rng, age, sex)
        pension = _pension(rng, age, sex)
        income = _income(rng, age, sex, work, pension)
        drafted.append((rel, sex, age, birth, work, pension, income))
    # employees earning under the 1.06 million yen threshold are not insured themselves
    insured = [d for d in drafted if d[4] == "employee" and d[2] < 75 and d[6] >= 1_060_000]
    out = []
    for rel, sex, age, birth, work, pension, income in drafted:
        if age >= 75:
            cover = "koiki"
        elif work == "employee" and income >= 1_060_000:
            cover = "kenpo"
        elif insured and age < 60 and income < 1_300_000:  # 被扶養者 (older ones: NHI)
            cover = "kenpo_dependant"
        else:
            cover = "nhi"
        care, disability = extras(rng, age, sex)
        name = f"{surname} {given_name(rng, sex, birth.year)}"
        out.append(
            Person(
                rrc(),
                name,
                birth.isoformat(),
                sex,
                rel,
                income,
                employment=work,
                insurance=cover,
                pension=pension,
                care_level=care,
                disability=disability,
            )
        )
    return tuple(out)
