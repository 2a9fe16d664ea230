"""Care, disability and public assistance: who holds a certificate, a handbook or a case.

Shares follow FACTS §3.3 [V] over a population of 124 million: 身体障害者手帳 4,910,098
(肢体 50 %, 内部 33 %, 聴覚等 9 %, 視覚 7 %), 療育手帳 1,213,063, 精神障害者保健福祉手帳
1,196,780 (0.95 %); 生活保護 1.62 % of persons, mostly in low-income and elderly households.
How they spread over ages, the grades and the care-need certification rates by age are a
MODEL [R].
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

from agencies.population.households import Person
from agencies.population.names import Picker

__all__ = ["care_and_disability", "public_assistance"]

_CARE_LEVELS: Final = Picker(
    [("要支援1", 14.0), ("要支援2", 14.0), ("要介護1", 20.0), ("要介護2", 17.0),
     ("要介護3", 13.0), ("要介護4", 12.0), ("要介護5", 10.0)]
)  # fmt: skip
_PHYSICAL_GRADES: Final = Picker(
    [("1級", 26.0), ("2級", 15.0), ("3級", 17.0), ("4級", 26.0), ("5級", 7.0), ("6級", 9.0)]
)
_PHYSICAL_KINDS: Final = Picker(
    [("肢体不自由", 50.2), ("内部障害", 33.0), ("聴覚・平衡機能障害等", 9.0), ("視覚障害", 6.6)]
)
_INTELLECTUAL: Final = Picker([("A", 40.0), ("B", 60.0)])
_MENTAL: Final = Picker([("1級", 10.0), ("2級", 60.0), ("3級", 30.0)])

PHYSICAL = "身体障害者手帳"
INTELLECTUAL = "療育手帳"
MENTAL = "精神障害者保健福祉手帳"


def _care(rng: random.Random, age: int) -> str:
    if age < 65:
        return ""
    rate = 0.043 if age < 75 else 0.19 if age < 85 else 0.58
    return _CARE_LEVELS(rng) if rng.random() < rate else ""


def _disability(rng: random.Random, age: int) -> tuple[str, ...]:
    band = 0 if age < 18 else 1 if age < 65 else 2
    r = rng.random()
    physical = (0.005, 0.018, 0.095)[band]
    intellectual = physical + (0.022, 0.010, 0.002)[band]
    mental = intellectual + (0.002, 0.013, 0.007)[band]
    if r < physical:
        return (PHYSICAL, _PHYSICAL_GRADES(rng), _PHYSICAL_KINDS(rng))
    if r < intellectual:
        return (INTELLECTUAL, _INTELLECTUAL(rng), "知的障害")
    if r < mental:
        return (MENTAL, _MENTAL(rng), "精神障害")
    return ()


def care_and_disability(rng: random.Random, age: int, sex: str) -> tuple[str, tuple[str, ...]]:
    """(care level or "", disability handbook or ()) of one person."""
    return _care(rng, age), _disability(rng, age)


def public_assistance(rng: random.Random, members: Sequence[Person], ages: Sequence[int]) -> bool:
    """Whether the household is a 生活保護 case: a low-income household, more often elderly."""
    total = sum(p.income for p in members)
    if total >= 1_200_000 + 600_000 * (len(members) - 1):
        return False
    if any(p.employment == "employee" and p.income >= 1_500_000 for p in members):
        return False
    elderly_alone = len(members) == 1 and ages[0] >= 65
    return rng.random() < (0.18 if elderly_alone else 0.12)
