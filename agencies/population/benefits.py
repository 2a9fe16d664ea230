"""The item offices' documents: pensions, insurance, care, disability, assistance (pure).

One document per person per office in the ``people`` collection of `agencies.item_office`,
``{"items": {item: {...}}}``; a person an office holds under two items has one document with
both. Who holds what follows the law: the disability handbook (障害者関係情報) the prefecture
that issued it (身体障害者福祉法 第15条; the seed's 「障害者関係情報（都道府県知事）」); the
child-rearing allowance (児童扶養手当) the city or ward that pays it (児童扶養手当法 第4条:
市長, 特別区の区長を含む — every municipality of the generator is a 市 or 区). Amounts and
rules are MODELS: 老齢基礎年金 full amount 816,000 yen (2024), 児童扶養手当 45,500 yen a month
for one child plus 10,750 for each further child (full), income limits recalled [R].
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from typing import Any

from agencies.item_office import COLLECTION as PEOPLE
from agencies.population.households import Household, Person
from agencies.population.names import between, pick
from agencies.population.plan import LocalIds, Plan, Row, age_on

__all__ = ["item_rows"]


class _Held:
    """Documents per (office, person), merged by item; rows in first-seen order."""

    def __init__(self, ids: LocalIds) -> None:
        self.ids = ids
        self.docs: dict[tuple[str, str], tuple[str, dict[str, Any], str]] = {}

    def put(
        self, office: str, key: str | None, p: Person, item: str, *, doc: dict[str, Any], since: str
    ) -> None:
        found = self.docs.get((office, p.rrc))
        if found is None:
            local = key or self.ids.next(office, "P")
            self.docs[office, p.rrc] = (local, {item: doc}, since)
        else:
            found[1][item] = doc
            self.docs[office, p.rrc] = (found[0], found[1], min(found[2], since))

    def rows(self) -> list[Row]:
        return [
            (office, PEOPLE, key, rrc, {"items": items}, since)
            for (office, rrc), (key, items, since) in self.docs.items()
        ]


def _between(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=between(rng, 0, max(0, (end - start).days)))


def _birthday(p: Person, years: int) -> dt.date:
    b = dt.date.fromisoformat(p.birth_date)
    if not years:
        return b
    return dt.date(b.year + years, b.month, 28 if (b.month, b.day) == (2, 29) else b.day)


def _kenpo(rng: random.Random, h: Household, office: str, held: _Held, today: dt.date) -> None:
    covered = [p for p in h.members if p.insurance in ("kenpo", "kenpo_dependant")]
    insured = [p for p in covered if p.insurance == "kenpo"]
    if not insured:
        return
    main = max(insured, key=lambda p: p.income)
    qualified: dict[str, dt.date] = {}
    numbers: dict[str, tuple[str, str]] = {}
    for p in insured:
        start = max(_birthday(p, 18), today - dt.timedelta(days=20 * 365))
        qualified[p.rrc] = _between(rng, start, today - dt.timedelta(days=30))
        numbers[p.rrc] = (f"{between(rng, 0, 10**8 - 1):08d}", held.ids.next(office, "")[-8:])
    branch = 0
    for p in covered:
        symbol, number = numbers[p.rrc] if p.rrc in numbers else numbers[main.rrc]
        if p.insurance == "kenpo_dependant":
            branch += 1
        own = p.insurance == "kenpo"
        since = qualified[p.rrc] if own else max(qualified[main.rrc], _birthday(p, 0))
        key = f"{symbol}-{number}-{0 if own else branch:02d}"
        doc = {
            "insurer": "全国健康保険協会",
            "symbol": symbol,
            "number": number,
            "branch": f"{0 if own else branch:02d}",
            "insured": "本人" if own else "家族",
            "qualified": since.isoformat(),
        }
        held.put(office, key, p, "medical_insurance_benefit", doc=doc, since=since.isoformat())


def _person_rows(  # noqa: PLR0917 -- one person's context, spelled out
    rng: random.Random,
    h: Household,
    p: Person,
    i: int,
    held: _Held,
    roles: Mapping[str, str],
    pref: Mapping[str, str],
    today: dt.date,
) -> None:
    age = age_on(p, today)
    settled = max(dt.date.fromisoformat(h.moved_in), _birthday(p, 0))
    if "care" in roles and age >= 65:
        since = max(settled, _birthday(p, 65)).isoformat()
        doc: dict[str, Any] = {"certified": bool(p.care_level), "care_level": p.care_level or None}
        held.put(roles["care"], None, p, "long_term_care_benefit", doc=doc, since=since)
    office = pref.get("prefecture")  # the 手帳's issuer
    if p.disability and office:
        issued = _between(rng, settled, today - dt.timedelta(days=7)).isoformat()
        handbook, grade, category = p.disability
        doc = {"handbook": handbook, "grade": grade, "category": category, "issued": issued}
        held.put(office, None, p, "disability", doc=doc, since=issued)
    if p.insurance == "koiki" and "koiki" in pref:
        since = max(settled, _birthday(p, 75)).isoformat()
        share = "3割" if p.income >= 3_700_000 else "2割" if p.income >= 2_000_000 else "1割"
        doc = {"insurer": "後期高齢者医療広域連合", "copayment": share, "qualified": since}
        held.put(pref["koiki"], None, p, "medical_insurance_benefit", doc=doc, since=since)


def _national(rng: random.Random, p: Person, plan: Plan, held: _Held, today: dt.date) -> None:
    if plan.pension and p.pension > 0:
        number = "10" + held.ids.next(plan.pension, "")
        number = f"{number[:4]}-{number[4:]}"  # 基礎年金番号: 4 + 6 digits
        benefits = ["老齢基礎年金"] + (["老齢厚生年金"] if p.pension > 816_000 else [])
        since = _birthday(p, 65).isoformat()
        doc = {
            "basic_pension_number": number,
            "benefits": benefits,
            "annual_amount": p.pension,
            "since": since,
        }
        held.put(plan.pension, number, p, "pension_benefit", doc=doc, since=since)
    if plan.employment and p.employment == "unemployed" and rng.random() < 0.4:
        started = (today - dt.timedelta(days=between(rng, 7, 200))).isoformat()
        doc = {
            "daily_yen": between(rng, 2_300, 8_000),
            "days": pick(rng, (90, 120, 150, 180)),
            "started": started,
        }
        held.put(plan.employment, None, p, "employment_insurance_benefit", doc=doc, since=started)


def _assistance(rng: random.Random, h: Household, office: str, held: _Held, today: dt.date) -> None:
    """A 生活保護 case: one case number for the household, one document per member."""
    case = held.ids.next(office, "W")
    moved = dt.date.fromisoformat(h.moved_in)
    start = _between(rng, moved, today - dt.timedelta(days=30))
    for i, p in enumerate(h.members, start=1):
        aid = ["生活扶助", "住宅扶助"] + (["医療扶助"] if p.insurance == "medical_aid" else [])
        doc = {
            "case_number": case,
            "started": start.isoformat(),
            "household_members": len(h.members),
            "assistance": aid,
        }
        since = max(start, _birthday(p, 0)).isoformat()
        held.put(office, f"{case}-{i:02d}", p, "public_assistance", doc=doc, since=since)


def _child_rearing(h: Household, office: str, held: _Held, kids: int) -> None:
    """児童扶養手当 for a single parent under the income limit (model amounts)."""
    head = h.members[0]
    if any(p.relationship in ("妻", "夫") for p in h.members) or head.income >= 3_650_000:
        return
    full = head.income < 1_600_000
    monthly = 45_500 + 10_750 * (kids - 1) if full else 25_000 + 5_000 * (kids - 1)
    doc = {"children": kids, "monthly_yen": monthly, "status": "全部支給" if full else "一部支給"}
    held.put(office, None, head, "child_rearing_allowance", doc=doc, since=h.moved_in)


def item_rows(
    rng: random.Random,
    h: Household,
    *,
    plan: Plan,
    roles: Mapping[str, str],
    ids: LocalIds,
    today: dt.date,
    kids: int,
) -> list[Row]:
    held = _Held(ids)
    pref = plan.prefectural.get(h.municipality[:2], {})
    if plan.health:
        _kenpo(rng, h, plan.health, held, today)
    for i, p in enumerate(h.members):
        _person_rows(rng, h, p, i, held, roles, pref, today)
        _national(rng, p, plan, held, today)
    if h.public_assistance and "welfare" in roles:
        _assistance(rng, h, roles["welfare"], held, today)
    if kids and "child_rearing" in roles:
        _child_rearing(h, roles["child_rearing"], held, kids)
    return held.rows()
