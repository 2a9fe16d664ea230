"""Which office holds what about a household, under the office's own local id (pure).

Each row is ``(office, collection, key, holder, doc, since)`` (`plan.Row`): ``holder`` is the
person's resident-record code when the office holds the person (and so gets a token for
them), None for a row about no one person (a household); ``since`` is the ISO date the office
started holding the person (the directory's ``since``: the household's move-in date for a
municipal office, the date a benefit or insurance began for the others). The rrc is the
generator's handle to compute each office's token; it is written into J-LIS's store, whose key
it is, and into the resident register's record, which bears it (住民票コード, 住基法 第7条第13号:
what the register's desk notifies J-LIS under over 住基ネット) — into no other office's. The
individual number is J-LIS's (derived from the rrc with its secret when asked): the bulk load
does not compute it, so a generated 住民票 bears none (``municipality.no_number`` for a copy
with the number; the desk's events and a number change work, by the rrc).

Document formats are those the offices read: ``residents`` and ``households`` of
`agencies.municipality.resident_register`, ``taxpayers`` (with ``years``) of
`agencies.municipality.local_tax`, ``applicants`` of `agencies.municipality.child_allowance`,
``people`` (`benefits`) of `agencies.item_office`; ``insured`` for a national-health-insurance
office, which holds its members but provides nothing on the network. A municipality's
taxpayers and applicants name the register's record of the person (``atena``, its in-house key
of 庁内連携).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from agencies.municipality.in_house import ATENA
from agencies.municipality.issuance import seal_registration
from agencies.population.benefits import item_rows
from agencies.population.households import Household
from agencies.population.plan import LocalIds, Plan, Row, age_on, fiscal_year
from hub.identity import person_key

__all__ = ["came_from", "place"]


def _levy(income: int, dependants: int) -> int:
    """A model of the municipal income levy (所得割, 6 %) after basic deductions."""
    return max(0, income - 430_000 - 330_000 * dependants) * 6 // 100 // 100 * 100


def _register(h: Household, office: str, ids: LocalIds, moved: dt.date) -> list[Row]:
    rows: list[Row] = []
    local = [ids.next(office, "R") for _ in h.members]
    for p, rid in zip(h.members, local, strict=True):
        since = max(moved, dt.date.fromisoformat(p.birth_date)).isoformat()
        doc: dict[str, Any] = {
            "name": p.name,
            "birth_date": p.birth_date,
            "sex": p.sex,
            "address": h.address,
            "postal_code": h.postal_code,
            "household": h.id,
            "relationship": p.relationship,
            "rrc": p.rrc,  # the 住民票コード the 住民票 bears (住基法 第7条第13号)
            "resident_since": since,
            "seal": seal_registration(rid, p.birth_date, dt.date.fromisoformat(since), moved),
        }
        rows.append((office, "residents", rid, p.rrc, doc, since))
    house = {"head": local[0], "members": local, "address": h.address}
    rows.append((office, "households", h.id, None, house, None))
    return rows


def _taxpayers(
    rng: random.Random,
    h: Household,
    office: str,
    ids: LocalIds,
    *,
    today: dt.date,
    kids: int,
    atena: dict[str, str],
    came_from: bool = False,
) -> list[Row]:
    """Adults assessed here: for each fiscal year, if they lived here on 1 January (賦課期日) —
    here since ``h.moved_in``, or (``came_from``: the 転入元's rows) until then."""
    rows: list[Row] = []
    fy = fiscal_year(today)
    moved = dt.date.fromisoformat(h.moved_in)
    since = dt.date(fy - 1, 1, 1).isoformat() if came_from else h.moved_in
    for i, p in enumerate(h.members):
        years = {}
        for year, income in ((fy, p.income), (fy - 1, p.income * rng.uniform(0.9, 1.05))):
            levy_day = dt.date(year, 1, 1)
            if age_on(p, levy_day) >= 18 and (moved > levy_day if came_from else moved <= levy_day):
                total = int(income) // 1000 * 1000
                levy = _levy(total, kids if i == 0 else 0)
                years[str(year)] = {"total_income": total, "municipal_income_levy": levy}
        if years:
            doc: dict[str, Any] = {"name": p.name, "years": years}
            if p.rrc in atena:  # the register's record: the ward's in-house key (庁内連携)
                doc[ATENA] = atena[p.rrc]
            rows.append((office, "taxpayers", ids.next(office, "T"), p.rrc, doc, since))
    return rows


def came_from(h: Household, plan: Plan, today: dt.date) -> str | None:
    """The municipality with offices on the network that a household of one of them lived in
    on 1 January of this fiscal year, when it moved in after that day: the 転入元, which taxes
    it for the year (賦課期日) and is asked through the network for its figures (FACTS.md §3.1
    June and July, "for 転入者 to 転入元" [V]). A model: half of such movers come from another
    municipality with offices (as `places` puts half the people in them), the rest from where
    the network has no office; drawn from a stream of the household's own, so the rest of
    the population is the same with or without it."""
    levy_day = dt.date(fiscal_year(today), 1, 1)
    if h.municipality not in plan.municipal or dt.date.fromisoformat(h.moved_in) <= levy_day:
        return None
    others = sorted(
        m for m, roles in plan.municipal.items() if m != h.municipality and "tax" in roles
    )
    rng = random.Random(f"renkei.population.came-from/{h.members[0].rrc}")  # noqa: S311 -- test data
    if not others or rng.random() >= 0.5:
        return None
    return rng.choice(others)


def place(rng: random.Random, h: Household, plan: Plan, ids: LocalIds, today: dt.date) -> list[Row]:
    """Every office row about household ``h``."""
    roles = plan.municipal.get(h.municipality, {})
    moved = dt.date.fromisoformat(h.moved_in)
    kids = sum(1 for p in h.members if p.relationship == "子" and age_on(p, today) < 18)
    rows: list[Row] = []
    if plan.jlis:  # numbered at the request of the municipality they live in (本人確認情報)
        for p in h.members:
            facts = {"name": p.name, "address": h.address, "birth_date": p.birth_date}
            numbered = {
                "generation": 0,
                "changes": [],
                "municipality": h.municipality,
                "facts": {**facts, "sex": p.sex},
                "who": person_key(p.name, p.birth_date, p.sex),  # J-LIS finds them at an entry
            }
            rows.append((plan.jlis, "residents", p.rrc, None, numbered, None))
    atena: dict[str, str] = {}  # rrc → the register's record (the in-house key, 庁内連携)
    if "resident" in roles:
        registered = _register(h, roles["resident"], ids, moved)
        atena = {str(r[3]): r[2] for r in registered if r[1] == "residents"}
        rows += registered
    if "tax" in roles:
        rows += _taxpayers(rng, h, roles["tax"], ids, today=today, kids=kids, atena=atena)
    previous = came_from(h, plan, today)
    if previous is not None:  # the 転入元's figures for the year (no longer on its register)
        own = random.Random(f"renkei.population.came-from/{h.id}/{h.members[0].rrc}")  # noqa: S311
        office = plan.municipal[previous]["tax"]
        rows += _taxpayers(own, h, office, ids, today=today, kids=kids, atena={}, came_from=True)
    if kids and "child" in roles:
        head, office = h.members[0], roles["child"]
        doc = {"name": head.name, "children": kids}
        if head.rrc in atena:
            doc[ATENA] = atena[head.rrc]
        rows.append((office, "applicants", ids.next(office, "C"), head.rrc, doc, h.moved_in))
    if "nhi" in roles:
        office = roles["nhi"]
        for p in h.members:
            if p.insurance == "nhi":
                since = max(moved, dt.date.fromisoformat(p.birth_date)).isoformat()
                doc = {"name": p.name, "household": h.id, "qualified": since}
                rows.append((office, "insured", ids.next(office, "N"), p.rrc, doc, since))
    rows += item_rows(rng, h, plan=plan, roles=roles, ids=ids, today=today, kids=kids)
    return rows
