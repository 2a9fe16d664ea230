"""Put a synthetic population into the offices, then let each office enroll its people.

J-LIS numbers every resident from their resident-record code; each office stores its own
records under its own local ids, the municipality's offices naming the register's record as
the in-house person key (``atena``, 庁内連携); the hub's directory gets, as the operator's bulk load
(`renkei population generate`) writes it, the date each office began holding each person
(the hub dates an enrollment itself, at the enrollment); then each office presents each
person's number once (符号取得), stores the token it gets back and keeps no number.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agencies.jlis.registry import Jlis
from agencies.municipality.in_house import ATENA
from agencies.municipality.issuance import seal_registration
from agencies.population.households import Household, Person
from hub.node import EnrollmentRefused
from hub.wire import HUB, Facts
from renkei.network import Network
from renkei.secrets import TOKEN
from token_service import KeyRing

__all__ = ["Loaded", "load_population"]

ENROLL_CONCURRENCY = 256


@dataclass(frozen=True, slots=True)
class Loaded:
    residents: int
    households: int
    enrolled: int
    refused: int
    seconds: float
    held: dict[tuple[str, str], Person]  # (office, local id) → the person, for the demo's report


def _levy(income: int, dependants: int) -> int:
    """A model of the municipal income levy (所得割, 6 %) after basic deductions."""
    taxable = max(0, income - 430_000 - 330_000 * dependants)
    return taxable * 6 // 100 // 100 * 100


def _age(person: Person, on: dt.date) -> int:
    b = dt.date.fromisoformat(person.birth_date)
    return on.year - b.year - ((on.month, on.day) < (b.month, b.day))


async def load_population(
    net: Network,
    households: list[Household],
    *,
    fiscal_year: int,
    progress: Callable[[str], None] = lambda _: None,
) -> Loaded:
    started = time.perf_counter()
    on = dt.date(fiscal_year, 6, 1)
    jlis: Jlis = net.apps["jlis"]
    people = [p for h in households for p in h.members]
    numbers, facts = await _number(jlis, households)

    register, tax, child = (
        _code(net, k) for k in ("resident_record", "local_tax", "child_allowance")
    )
    # who each office holds, under its own local ids: (office, collection, local id, person)
    holds: list[tuple[str, str, str, Person, dt.date]] = []
    Row = tuple[str, None, dict[str, Any]]
    residents: list[Row] = []
    homes: list[Row] = []
    taxpayers: list[Row] = []
    applicants: list[Row] = []
    for h in households:
        since = dt.date.fromisoformat(h.moved_in)
        ids = []
        for person in h.members:
            rid = f"R{len(holds) + 1:07d}"
            ids.append(rid)
            holds.append((register, "residents", rid, person, since))
            doc: dict[str, Any] = {
                "name": person.name,
                "birth_date": person.birth_date,
                "sex": person.sex,
                "address": h.address,
                "household": h.id,
                "relationship": person.relationship,
                "rrc": person.rrc,  # the 住民票コード the register writes (住基法 第7条第13号)
                "number": numbers[person.rrc],  # as designated (住基法 第7条第8号の2)
                "seal": seal_registration(rid, person.birth_date, since, on),
            }
            residents.append((rid, None, doc))
            if _age(person, on) >= 18:
                tid = f"T{len(taxpayers) + 1:07d}"
                kids = (
                    sum(1 for m in h.members if m.relationship == "子")
                    if person is h.members[0]
                    else 0
                )
                year = {
                    "total_income": person.income,
                    "municipal_income_levy": _levy(person.income, kids),
                }
                doc = {"name": person.name, "years": {str(fiscal_year): year}, ATENA: rid}
                taxpayers.append((tid, None, doc))
                holds.append((tax, "taxpayers", tid, person, since))
        homes.append((h.id, None, {"head": ids[0], "members": ids, "address": h.address}))
        if any(m.relationship == "子" for m in h.members):
            cid = f"C{len(applicants) + 1:07d}"
            applicants.append((cid, None, {"name": h.members[0].name, ATENA: ids[0]}))
            holds.append((child, "applicants", cid, h.members[0], since))
    await net.stores[register].put_many("residents", residents)
    await net.stores[register].put_many("households", homes)
    await net.stores[tax].put_many("taxpayers", taxpayers)
    await net.stores[child].put_many("applicants", applicants)
    progress(f"{len(people)} residents numbered by J-LIS; enrolling {len(holds)} office records")
    await _held_since(net, holds)

    gate = asyncio.Semaphore(ENROLL_CONCURRENCY)
    refused = 0

    async def enroll(office: str, collection: str, key: str, person: Person) -> None:
        nonlocal refused
        async with gate:
            try:
                token = await net.offices[office].enroll(numbers[person.rrc], facts[person.rrc])
            except EnrollmentRefused:
                refused += 1
                return
            await net.stores[office].set_token(collection, key, token)

    await asyncio.gather(*(enroll(*h[:4]) for h in holds))
    held = {(office, key): person for office, _, key, person, _ in holds}
    seconds = time.perf_counter() - started
    return Loaded(len(people), len(households), len(holds) - refused, refused, seconds, held)


def _facts(person: Person, address: str) -> Facts:
    return Facts.of({**dataclasses.asdict(person), "address": address})


async def _number(
    jlis: Jlis, households: list[Household]
) -> tuple[dict[str, str], dict[str, Facts]]:
    """J-LIS numbers each resident at the request of the municipality they live in, keeping
    the four facts it notified (本人確認情報); the numbers, and the facts, by resident code."""
    numbers: dict[str, str] = {}
    facts: dict[str, Facts] = {}
    for municipality in sorted({h.municipality for h in households}):
        here = {
            p.rrc: _facts(p, h.address)
            for h in households
            if h.municipality == municipality
            for p in h.members
        }
        numbers |= await jlis.register(here, municipality=municipality)
        facts |= here
    return numbers, facts


async def _held_since(net: Network, holds: list[tuple[str, str, str, Person, dt.date]]) -> None:
    """The operator's bulk load of the directory: who held whom since when (the hub's token)."""
    if net.directory is None:
        raise LookupError("loading a population needs the hub's directory in this process")
    ring = KeyRing(net.state.secret_of(TOKEN))
    for office, _, _, person, since in holds:
        hub_token = ring.token_for(ring.link_id(person.rrc), HUB)
        await net.directory.enrolled(
            hub_token, office, dt.datetime.combine(since, dt.time(), dt.UTC)
        )


def _code(net: Network, what: str) -> str:
    for office in net.registry:
        if what in office.provides or what in office.affairs:
            return office.code
    raise LookupError(f"no office for {what}")
