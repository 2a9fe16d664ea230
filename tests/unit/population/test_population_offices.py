"""What each office holds: its own local ids and tokens, in the formats the offices answer from."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict

import orjson
import pytest

import renkei.population.chunks as population_chunks
from agencies.item_office import ItemOffice
from agencies.municipality.local_tax import LocalTax
from agencies.municipality.resident_register import ResidentRegister
from agencies.population import (
    LocalIds,
    Plan,
    Row,
    came_from,
    chunk_households,
    place,
    records,
    records_rng,
    select,
)
from agencies.population.households import Household
from hub.node import MemoryStore
from renkei.network import load_rules
from renkei.population.chunks import DIRECTORY, Job, encode_chunk, set_ring, target
from renkei.population.commands import plan_for
from renkei.settings import Settings
from token_service import KeyRing

TODAY = dt.date(2024, 6, 1)
RING = KeyRing(b"population-test-master-secret-32b")


@pytest.fixture(scope="module")
def plan() -> Plan:
    return plan_for(load_rules(Settings(_env_file=None))[1])


@pytest.fixture(scope="module")
def placed(plan: Plan) -> list[tuple[Household, list[Row]]]:
    ids = LocalIds(3)
    out = []
    rng = records_rng(9, 3)
    for h in chunk_households(9, 3, 6_000, today=TODAY, municipalities=select()):
        out.append((h, place(rng, h, plan, ids, TODAY)))
    return out


@pytest.fixture(scope="module")
async def stores(placed: list[tuple[Household, list[Row]]]) -> dict[str, MemoryStore]:
    """Every office's store, filled as the bulk load fills it (token = that office's own)."""
    by_office: dict[str, MemoryStore] = defaultdict(MemoryStore)
    for _, rows in placed:
        for office, collection, key, holder, doc, _ in rows:
            token = None if holder is None else RING.token_for(RING.link_id(holder), office)
            await by_office[office].put_many(collection, [(key, token, doc)])
    return dict(by_office)


def token(rrc: str, office: str) -> str:
    return RING.token_for(RING.link_id(rrc), office)


def test_the_plan_maps_the_registry_offices_to_their_roles(plan: Plan) -> None:
    assert plan.jlis == "jlis" and plan.pension == "nenkin" and plan.health == "kenpo"
    assert plan.municipal["131016"]["welfare"] == "chiyoda-welfare"
    assert plan.municipal["131041"] == {"resident": "shinjuku-resident", "tax": "shinjuku-tax"}
    assert plan.prefectural["13"] == {"prefecture": "tokyo-pref", "koiki": "koiki-tokyo"}
    assert "141003" not in plan.municipal  # 横浜市 has no office on the network


def test_local_ids_are_unique_per_office(placed: list[tuple[Household, list[Row]]]) -> None:
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for _, rows in placed:
        for office, collection, key, *_ in rows:
            assert key not in seen[office, collection], (office, key)
            seen[office, collection].add(key)
    assert all(re.fullmatch(r"R003\d{5}", k) for k in seen["chiyoda-resident", "residents"])
    assert all(re.fullmatch(r"\d{4}-\d{6}", k) for k in seen["nenkin", "people"])


def test_no_office_but_jlis_and_the_register_stores_a_resident_record_code(
    placed: list[tuple[Household, list[Row]]], plan: Plan
) -> None:
    """J-LIS keeps the person by it; the 住民票 bears it (住基法 第7条第13号), which the desk
    notifies J-LIS under; no other office holds it."""
    registers = {roles["resident"] for roles in plan.municipal.values() if "resident" in roles}
    bearing = 0
    for h, rows in placed:
        codes = {p.rrc for p in h.members}
        for office, collection, key, holder, doc, _ in rows:
            if office == "jlis":
                assert key in codes
                continue
            if office in registers and collection == "residents":
                assert doc["rrc"] == holder and holder in codes
                bearing += 1
                continue
            text = key + orjson.dumps(doc).decode()
            assert not codes & set(re.findall(r"\d{11}", text)), office
    assert bearing > 0


def test_people_outside_the_offices_municipalities_are_held_nationally_only(
    placed: list[tuple[Household, list[Row]]],
) -> None:
    national = {"jlis", "nenkin", "kenpo", "hellowork"}
    for h, rows in placed:
        offices = {r[0] for r in rows}
        if h.municipality[:2] != "13":
            assert offices <= national, (h.municipality, offices)
        elif h.municipality not in ("131016", "131041"):
            assert offices <= national | {"tokyo-pref", "koiki-tokyo"}


async def test_the_resident_register_answers_by_its_own_token(
    placed: list[tuple[Household, list[Row]]], stores: dict[str, MemoryStore]
) -> None:
    h = next(h for h, _ in placed if h.municipality == "131016" and len(h.members) >= 3)
    register = ResidentRegister(stores["chiyoda-resident"])
    answer = await register.answer(
        token(h.members[1].rrc, "chiyoda-resident"), ("resident_record",), {}
    )
    assert answer is not None
    record = answer["resident_record"]
    assert record["name"] == h.members[1].name and record["address"] == h.address
    assert [m["name"] for m in record["household"]] == [p.name for p in h.members]
    wrong = await register.answer(token(h.members[1].rrc, "chiyoda-tax"), ("resident_record",), {})
    assert wrong is None  # another office's token means nothing here


async def test_the_tax_office_answers_the_fiscal_year(
    placed: list[tuple[Household, list[Row]]], stores: dict[str, MemoryStore]
) -> None:
    h = next(
        h for h, _ in placed
        if h.municipality == "131041" and h.moved_in < "2023-01-01" and h.members[0].income > 0
    )  # fmt: skip
    tax = LocalTax(stores["shinjuku-tax"])
    answer = await tax.answer(token(h.members[0].rrc, "shinjuku-tax"), ("local_tax",),
                              {"fiscal_year": 2024})  # fmt: skip
    assert answer is not None
    assert answer["local_tax"]["total_income"] == h.members[0].income // 1000 * 1000
    assert answer["local_tax"]["fiscal_year"] == 2024


async def test_item_offices_answer_pensions_insurance_and_assistance(
    placed: list[tuple[Household, list[Row]]], stores: dict[str, MemoryStore]
) -> None:
    elder = next(p for h, _ in placed for p in h.members if p.pension > 0)
    nenkin = ItemOffice(stores["nenkin"], frozenset({"pension_benefit"}))
    answer = await nenkin.answer(token(elder.rrc, "nenkin"), ("pension_benefit",), {})
    assert answer is not None and answer["pension_benefit"]["annual_amount"] == elder.pension
    worker = next(p for h, _ in placed for p in h.members if p.insurance == "kenpo")
    kenpo = ItemOffice(stores["kenpo"], frozenset({"medical_insurance_benefit"}))
    answer = await kenpo.answer(token(worker.rrc, "kenpo"), ("medical_insurance_benefit",), {})
    assert answer is not None and answer["medical_insurance_benefit"]["insured"] == "本人"
    case = next(h for h, _ in placed if h.public_assistance and h.municipality == "131016")
    welfare = ItemOffice(stores["chiyoda-welfare"], frozenset({"public_assistance"}))
    for p in case.members:
        answer = await welfare.answer(token(p.rrc, "chiyoda-welfare"), ("public_assistance",), {})
        assert answer is not None
        assert answer["public_assistance"]["household_members"] == len(case.members)


def test_a_chunk_encodes_to_copy_text_that_parses_back(plan: Plan) -> None:
    set_ring(RING)
    try:
        job = Job(9, 3, 2_000, TODAY, ("131016", "472018"), plan)
        out = encode_chunk(job)
        again = encode_chunk(job)
    finally:
        set_ring(None)
    assert out.data == again.data and out.residents == 2_000
    lines = out.data[target("chiyoda-resident")].decode().splitlines()
    assert len(lines) == out.rows[target("chiyoda-resident")]
    for line in lines:
        collection, _, tok, doc = line.split("\t")
        assert collection in ("residents", "households")
        assert (tok == "\\N") == (collection == "households")
        orjson.loads(doc.replace("\\\\", "\\"))
    pairs = [tuple(line.split("\t")[:2]) for line in out.data[DIRECTORY].decode().splitlines()]
    assert len(pairs) == len(set(pairs))  # (person, office) is the directory's key


def test_encoding_without_enrollment_files_no_tokens(plan: Plan) -> None:
    out = encode_chunk(Job(9, 3, 500, TODAY, ("131016",), plan, enroll=False))
    assert DIRECTORY not in out.data
    for data in out.data.values():
        assert all(line.split("\t")[2] == "\\N" for line in data.decode().splitlines())


def test_enrollment_needs_the_key_ring(plan: Plan, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(population_chunks, "_ring", None)  # whatever another test here set
    with pytest.raises(RuntimeError, match="key ring"):
        encode_chunk(Job(9, 3, 10, TODAY, ("131016",), plan))


def test_a_wards_child_rearing_allowance_is_the_wards_and_handbooks_the_prefectures(
    plan: Plan, placed: list[tuple[Household, list[Row]]]
) -> None:
    # 児童扶養手当法 第4条: the ward pays it; 身体障害者福祉法 第15条: the governor issues 手帳
    assert plan.municipal["131016"]["child_rearing"] == "chiyoda-childrearing"
    by_item: dict[str, set[str]] = defaultdict(set)
    for _, rows in placed:
        for office, _, _, _, doc, _ in rows:
            for item in doc.get("items", {}):
                by_item[item].add(office)
    assert by_item["child_rearing_allowance"] == {"chiyoda-childrearing"}
    assert by_item["disability"] == {"tokyo-pref"}
    assert by_item["public_assistance"] == {"chiyoda-welfare"}


async def test_the_municipality_of_1_january_taxes_who_moved_in_after_it(
    plan: Plan, placed: list[tuple[Household, list[Row]]], stores: dict[str, MemoryStore]
) -> None:
    # 賦課期日: a household that moved to 千代田区 after 1 January 2024 is taxed for FY2024 by
    # the 転入元 (新宿区 here), which the child-allowance office asks through the network
    movers = [(h, rows) for h, rows in placed if came_from(h, plan, TODAY) == "131041"]
    assert movers and all(h.municipality == "131016" for h, _ in movers)
    assert all(h.moved_in > "2024-01-01" for h, _ in movers)
    h, rows = next((h, r) for h, r in movers if h.members[0].income > 0)
    held = {(office, collection) for office, collection, _, holder, _, _ in rows if holder}
    assert ("shinjuku-tax", "taxpayers") in held and ("chiyoda-tax", "taxpayers") not in held
    tax = LocalTax(stores["shinjuku-tax"])
    answer = await tax.answer(token(h.members[0].rrc, "shinjuku-tax"), ("local_tax",),
                              {"fiscal_year": 2024})  # fmt: skip
    assert answer is not None and answer["local_tax"]["fiscal_year"] == 2024
    # no one living before 1 January, nor outside the offices' municipalities, has a 転入元 row
    for h, _ in placed:
        if h.moved_in <= "2024-01-01" or h.municipality not in plan.municipal:
            assert came_from(h, plan, TODAY) is None
    share = len(movers) / sum(1 for h, _ in placed if came_from(h, plan, TODAY) is not None)
    assert 0.3 < share < 0.7  # of the movers with a 転入元 on the network, from 新宿区 to 千代田区


def test_the_municipality_moved_from_is_its_own_draw(
    plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the rest of the population is the same with or without the 転入元's rows: they do not
    # draw from the records' stream
    def rows() -> Counter[tuple[str, str, str | None, str, str | None]]:
        rng, ids, out = records_rng(9, 4), LocalIds(4), Counter()
        for h in chunk_households(9, 4, 2_000, today=TODAY, municipalities=select()):
            for office, collection, _, holder, doc, since in place(rng, h, plan, ids, TODAY):
                out[office, collection, holder, orjson.dumps(doc).decode(), since] += 1
        return out

    with_them = rows()
    monkeypatch.setattr(records, "came_from", lambda *_: None)
    extra = with_them - rows()
    assert extra and sum(extra.values()) == with_them.total() - rows().total()
    assert {(office, collection, since) for office, collection, _, _, since in extra} == {
        ("shinjuku-tax", "taxpayers", "2023-01-01"),
        ("chiyoda-tax", "taxpayers", "2023-01-01"),
    }
