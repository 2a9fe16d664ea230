"""子育て支援課: the child allowance (児童手当) office. A requester: it asks, it decides.

For each applicant it reads the household (住民票関係情報) from its municipality's register and
the income (地方税関係情報) from its tax office in-house (庁内連携, ``in_house.py``: the hub
refuses a query between two offices of one municipality), then applies the rules in force on
the status date (6月1日). Income is assessed by the municipality where the claimant lived on 1
January (地方税法 第39条・第294条: 賦課期日): when its own tax office holds no record for the
fiscal year (a claimant who moved in after 1 January), it asks the hub, which finds the office
that held the claimant on that 1 January (the 転入元, FACTS §1.4 row 1) — the network case the
legal table's r01 is for.

The rules are those in force on the date decided for (``decide``), both MODELS (figures
recalled, not checked against the law text; FACTS.md says only that the reform took effect in
October 2024 [R], and neither FACTS nor REGISTER-FACTS gives the amounts or the income limit):

- before 2024-10-01: children up to the end of junior high school; monthly 15,000 yen under 3,
  10,000 yen from 3 (15,000 for a third or later child until the end of primary school); a
  claimant whose income is over the income limit gets the special benefit (特例給付) of 5,000
  yen per child, and over the upper limit nothing. Limits by the number of dependants
  (children here): 622万/660万/698万/736万 yen and upper limits 858万/896万/934万/972万, +38万
  per further dependant.
- from 2024-10-01 (令和6年 改正): children up to the first 31 March after their 18th birthday
  (高校生年代); monthly 15,000 yen under 3, 10,000 yen from 3, 30,000 yen for a third or later
  child, the order counted among the claimant's children up to the first 31 March after their
  22nd birthday (those of 19 to 22 count in the order but are not paid for; here: the
  household's 子, the 監護相当・生計費の負担 taken as given); no income limit — the tax figures
  are still fetched (the legal table's item), and do not change the amount.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agencies.municipality.in_house import ATENA, InHouse
from hub.node import Answer, OfficeNode, OfficeStore
from hub.wire import HUB

__all__ = ["AFFAIR", "IN_HOUSE", "REFORM", "ChildAllowance", "Decision", "Supporting", "decide"]

AFFAIR = "child_allowance"
IN_HOUSE = "in_house"  # an answer's code: found in-house (庁内連携), not asked over the network
REFORM = dt.date(2024, 10, 1)  # 高校生年代まで, 第3子 30,000 yen, no income limit
_LIMIT = 6_220_000
_UPPER = 8_580_000
_STEP = 380_000


@dataclass(frozen=True, slots=True)
class Decision:
    local_id: str
    status: str  # eligible | special | ineligible | no_child | unknown
    monthly_yen: int
    children: int
    reason: str
    answers: tuple[Answer, ...]


def _age(birth: str, on: dt.date) -> int:
    b = dt.date.fromisoformat(birth)
    return on.year - b.year - ((on.month, on.day) < (b.month, b.day))


def _school_year_end_age(birth: str, on: dt.date) -> int:
    """Age on the 1 April that starts the school year containing ``on`` (years completed)."""
    start = dt.date(on.year if on.month >= 4 else on.year - 1, 4, 1)
    b = dt.date.fromisoformat(birth)
    # one is a year older the day before the birthday: born on 1 April, already older on it
    return start.year - b.year - ((start.month, start.day) < (b.month, b.day))


def decide(household: list[dict[str, str]], income: int, on: dt.date) -> tuple[str, int, int, str]:
    """Pure: (status, monthly yen, children paid for, reason) by the rules in force on ``on``."""
    if on >= REFORM:
        return _from_reform(household, on)
    return _before_reform(household, income, on)


def _children(household: list[dict[str, str]], on: dt.date, below: int) -> list[dict[str, str]]:
    """The household's 子 born by ``on`` and under ``below`` on the 1 April starting the school
    year of ``on`` (so until the first 31 March after that birthday), oldest first."""
    return sorted(
        (
            m
            for m in household
            if m["relationship"] == "子"
            and dt.date.fromisoformat(m["birth_date"]) <= on
            and _school_year_end_age(m["birth_date"], on) < below
        ),
        key=lambda m: m["birth_date"],
    )


def _from_reform(household: list[dict[str, str]], on: dt.date) -> tuple[str, int, int, str]:
    counted = _children(household, on, 22)  # the order: children up to 22 (年度末)
    paid = [
        (order, kid)
        for order, kid in enumerate(counted, start=1)
        if _school_year_end_age(kid["birth_date"], on) < 18
    ]
    if not paid:
        return "no_child", 0, 0, "no child of high-school age or younger in the household"
    total = sum(
        30_000 if order >= 3 else 15_000 if _age(kid["birth_date"], on) < 3 else 10_000
        for order, kid in paid
    )
    n = len(paid)
    return "eligible", total, n, f"{n} child(ren) paid for, {len(counted)} counted in the order"


def _before_reform(
    household: list[dict[str, str]], income: int, on: dt.date
) -> tuple[str, int, int, str]:
    kids = sorted(
        (
            m
            for m in household
            if m["relationship"] == "子" and _school_year_end_age(m["birth_date"], on) < 15
        ),
        key=lambda m: m["birth_date"],
    )
    if not kids:
        return "no_child", 0, 0, "no child of junior-high age or younger in the household"
    n = len(kids)
    limit, upper = _LIMIT + _STEP * n, _UPPER + _STEP * n
    if income > upper:
        return "ineligible", 0, n, f"income {income:,} yen is over the upper limit {upper:,}"
    if income > limit:
        return "special", 5_000 * n, n, f"income {income:,} yen is over the limit {limit:,}"
    total = 0
    for order, kid in enumerate(kids, start=1):
        age = _age(kid["birth_date"], on)
        primary = _school_year_end_age(kid["birth_date"], on) < 12
        total += 15_000 if age < 3 or (order >= 3 and primary) else 10_000
    return "eligible", total, n, f"{n} child(ren), income {income:,} yen within the limit {limit:,}"


@dataclass(frozen=True, slots=True)
class Supporting:
    """What was found: the household, the tax figures, and every network answer in order (the
    in-house ones make none: ``code`` ``in_house``, no record id)."""

    household: Answer
    tax: Answer
    answers: tuple[Answer, ...]


def _in_house(data: Mapping[str, Any] | None, what: str) -> Answer:
    """An in-house finding, in the shape of an answer (no network query, no record)."""
    if data is None:
        return Answer(uuid.uuid4(), "not_found", None, IN_HOUSE, f"no {what} in-house")
    return Answer(uuid.uuid4(), "ok", data, IN_HOUSE, "庁内連携")


class ChildAllowance:
    """The office; ``in_house``: its municipality's in-house link (the register and the tax
    office of its own municipality are read there, never asked over the network)."""

    def __init__(self, node: OfficeNode, store: OfficeStore, *, in_house: InHouse) -> None:
        self.node = node
        self.store = store
        self.in_house = in_house

    async def check(self, local_id: str, status_date: dt.date) -> Decision:
        token = await self.store.token("applicants", local_id)
        applicant = await self.store.get("applicants", local_id)
        if token is None or applicant is None:
            return Decision(local_id, "unknown", 0, 0, "applicant not enrolled", ())
        found = await self.supporting(applicant.get(ATENA), token, status_date)
        household, tax = found.household, found.tax
        if household.data is None or tax.data is None:
            failed = household if household.data is None else tax
            reason = f"{failed.status}: {failed.reason}"
            return Decision(local_id, "unknown", 0, 0, reason, found.answers)
        income = int(tax.data["local_tax"]["total_income"])
        status, monthly, n, reason = decide(
            household.data["resident_record"]["household"], income, status_date
        )
        return Decision(local_id, status, monthly, n, reason, found.answers)

    async def supporting(self, atena: str | None, token: str, on: dt.date) -> Supporting:
        """The claim's supporting information (添付書類の省略): the household from the register
        and the fiscal year's tax figures from the tax office, both in-house (庁内連携) for the
        resident ``atena`` — or, when the municipality did not tax them for the year (moved in
        after 1 January), the municipality of 1 January's, asked through the hub (``token``)."""
        fiscal_year = on.year if on.month >= 6 else on.year - 1
        by = self.node.code
        if atena is None:  # not on this register: nothing in-house
            record = tax = None
        else:
            record = await self.in_house.resident_record(atena, by=by)
            tax = await self.in_house.local_tax(atena, fiscal_year, by=by)
        household = _in_house(record, "resident_record")
        if tax is not None:
            return Supporting(household, _in_house(tax, "local_tax"), ())
        # not taxed here on 1 January: the 転入元's, found by the hub
        elsewhere = await self.node.ask(
            AFFAIR, HUB, ("local_tax",), token, {"fiscal_year": fiscal_year}
        )
        return Supporting(household, elsewhere, (elsewhere,))
