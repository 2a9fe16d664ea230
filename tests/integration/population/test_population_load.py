"""The bulk load into a fresh PostgreSQL: every office answers from it, by its own token."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from population_env import ADMIN_DSN, Deployment

from agencies.item_office import ItemOffice
from agencies.jlis.numbers import NumberGenerator
from agencies.jlis.registry import Jlis
from agencies.municipality.child_allowance import ChildAllowance
from agencies.municipality.local_tax import LocalTax
from agencies.municipality.resident_register import ResidentRegister
from agencies.population import iter_households
from agencies.population.households import Household
from hub.directory import PgDirectory
from hub.node import PgStore
from hub.wire import Facts, Presented, Resolved
from renkei.exceptions import GenerateError, LoadError
from renkei.network import identities, load_rules, open_network
from renkei.population.commands import generate
from renkei.secrets import TOKEN, State
from token_service import KeyRing

pytestmark = pytest.mark.postgres

N, SEED, TODAY = 4_000, 5, dt.date(2024, 6, 1)


def args(**overrides: Any) -> argparse.Namespace:
    base = {"residents": N, "seed": SEED, "municipalities": None, "enroll": True,
            "today": TODAY.isoformat(), "workers": 0, "replace": False}  # fmt: skip
    return argparse.Namespace(**(base | overrides))


@pytest.fixture(scope="module")
async def loaded(deployment: Deployment) -> list[Household]:
    assert await generate(deployment.settings, args()) == 0
    return list(iter_households(N, seed=SEED, today=TODAY))


@pytest.fixture(scope="module")
def ring(deployment: Deployment) -> KeyRing:
    return KeyRing(State.load_secret(deployment.state_dir, TOKEN))


def tok(ring: KeyRing, rrc: str, office: str) -> str:
    return ring.token_for(ring.link_id(rrc), office)


async def fingerprint(pool: asyncpg.Pool) -> tuple[int, str]:
    row = await pool.fetchrow(
        "SELECT count(*) AS n, md5(string_agg(collection || key || coalesce(token, '-')"
        " || doc::text, ',' ORDER BY collection, key)) AS digest FROM office_chiyoda_resident.docs"
    )
    return row["n"], row["digest"]


async def test_a_database_without_the_schemas_says_to_migrate(deployment: Deployment) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    name = f"renkei_population_bare_{os.getpid()}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        bare = deployment.settings.model_copy(
            update={"db_url": urlunsplit(urlsplit(ADMIN_DSN)._replace(path=f"/{name}"))}
        )
        with pytest.raises(LoadError, match="run `renkei db migrate` first") as caught:
            await generate(bare, args())
        assert caught.value.code == "population.load_failed"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_every_resident_is_numbered_once_at_jlis(
    loaded: list[Household], pool: asyncpg.Pool, deployment: Deployment
) -> None:
    assert await pool.fetchval("SELECT count(*) FROM office_jlis.docs") == N
    state = State.load(deployment.state_dir, ["jlis"])
    jlis = Jlis(PgStore(pool, "jlis"), NumberGenerator(state.numbering), state.public["token"].seal)
    home = loaded[0]
    person = home.members[0]
    facts = Facts.of({"name": person.name, "address": home.address,
                      "birth_date": person.birth_date, "sex": person.sex})  # fmt: skip
    presented = Presented(number=jlis.numbers.number_for(person.rrc), facts=facts)
    outcome = await jlis.resolve(presented.model_dump_json().encode())
    # enrollment by number works on the loaded registry, its 本人確認情報 the household's
    assert isinstance(outcome, Resolved) and outcome.mismatched == ()


async def test_each_token_has_its_directory_row_and_no_office_holds_a_number(
    loaded: list[Household], pool: asyncpg.Pool
) -> None:
    offices = [r["nspname"] for r in await pool.fetch(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'office\\_%'")]  # fmt: skip
    tokens = 0
    for schema in offices:
        tokens += await pool.fetchval(f"SELECT count(token) FROM {schema}.docs")
        if (
            schema != "office_jlis"
        ):  # a register writes the 住民票コード (11 digits, "rrc"): no other
            long_digits = await pool.fetchval(
                f"SELECT count(*) FROM {schema}.docs WHERE key ~ '[0-9]{{11}}'"
                " OR (doc - 'rrc')::text ~ '[0-9]{11}'"
            )
            assert long_digits == 0, schema
    assert tokens == await pool.fetchval("SELECT count(*) FROM directory.enrollments") > N


async def test_the_resident_register_and_the_tax_office_answer_by_their_tokens(
    loaded: list[Household], pool: asyncpg.Pool, ring: KeyRing
) -> None:
    register = ResidentRegister(PgStore(pool, "chiyoda-resident"))
    tax = LocalTax(PgStore(pool, "chiyoda-tax"))
    sample = [h for h in loaded if h.municipality == "131016" and h.moved_in < "2023-01-01"][:20]
    assert len(sample) == 20
    for h in sample:
        head = h.members[0]
        answer = await register.answer(tok(ring, head.rrc, "chiyoda-resident"),
                                       ("resident_record",), {})  # fmt: skip
        assert answer is not None
        assert answer["resident_record"]["name"] == head.name
        assert len(answer["resident_record"]["household"]) == len(h.members)
        if dt.date.fromisoformat(head.birth_date) < dt.date(2006, 1, 1):
            income = await tax.answer(tok(ring, head.rrc, "chiyoda-tax"), ("local_tax",),
                                      {"fiscal_year": 2024})  # fmt: skip
            assert income is not None
            assert income["local_tax"]["total_income"] == head.income // 1000 * 1000


async def test_national_and_prefectural_offices_answer_their_items(
    loaded: list[Household], pool: asyncpg.Pool, ring: KeyRing
) -> None:
    people = [p for h in loaded for p in h.members]
    elder = next(p for p in people if p.pension)
    pension = await ItemOffice(PgStore(pool, "nenkin"), frozenset({"pension_benefit"})).answer(
        tok(ring, elder.rrc, "nenkin"), ("pension_benefit",), {}
    )
    assert pension is not None and pension["pension_benefit"]["annual_amount"] == elder.pension
    tokyo_old = next(p for h in loaded if h.municipality[:2] == "13" for p in h.members
                     if p.insurance == "koiki")  # fmt: skip
    koiki = ItemOffice(PgStore(pool, "koiki-tokyo"), frozenset({"medical_insurance_benefit"}))
    answer = await koiki.answer(tok(ring, tokyo_old.rrc, "koiki-tokyo"),
                                ("medical_insurance_benefit",), {})  # fmt: skip
    assert answer is not None and answer["medical_insurance_benefit"]["copayment"] in (
        "1割", "2割", "3割")  # fmt: skip


async def test_the_directory_holds_each_office_since_the_move_in(
    loaded: list[Household], pool: asyncpg.Pool, ring: KeyRing
) -> None:
    h = next(h for h in loaded if h.municipality == "131041")
    head = h.members[0]
    holders = await PgDirectory(pool).holders(tok(ring, head.rrc, "hub"))
    by_office = {e.office: e for e in holders}
    assert by_office["shinjuku-resident"].since.date().isoformat() == max(
        h.moved_in, head.birth_date
    )
    assert all(e.until is None for e in holders)


async def test_the_child_allowance_office_decides_through_the_network(
    loaded: list[Household], pool: asyncpg.Pool, deployment: Deployment
) -> None:
    """In-process bus, PostgreSQL stores: the hub routes, translates tokens, offices answer."""
    registry = load_rules(deployment.settings)[1]
    state = State.load(deployment.state_dir, identities(registry))
    async with await open_network(deployment.settings, state) as net:
        child: ChildAllowance = net.apps["chiyoda-child"]
        applicants = (await net.stores["chiyoda-child"].keys("applicants"))[:5]
        assert applicants
        decisions = await asyncio.gather(*(child.check(a, TODAY) for a in applicants))
    known = [d for d in decisions if d.status != "unknown"]
    assert len(known) >= 3, [(d.status, d.reason) for d in decisions]
    assert {d.status for d in known} <= {"eligible", "special", "ineligible", "no_child"}


async def test_loading_again_without_replace_is_refused(
    loaded: list[Household], deployment: Deployment
) -> None:
    with pytest.raises(GenerateError, match="already hold data: pass --replace") as caught:
        await generate(deployment.settings, args())
    assert caught.value.code == "population.cannot_generate"


async def test_replacing_with_worker_processes_gives_the_same_data(
    loaded: list[Household], deployment: Deployment, pool: asyncpg.Pool
) -> None:
    before = await fingerprint(pool)
    env = os.environ | {"RENKEI_DB_URL": deployment.dsn,
                        "RENKEI_STATE_DIR": str(deployment.state_dir)}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("renkei")), "population", "generate", "--residents", str(N),
        "--seed", str(SEED), "--workers", "2", "--replace",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert f"population: {N:,} residents" in out.decode()
    assert "100%" in err.decode()
    assert await fingerprint(pool) == before


async def test_without_enrollment_no_token_and_no_directory(
    loaded: list[Household], deployment: Deployment, pool: asyncpg.Pool
) -> None:
    await generate(deployment.settings, args(enroll=False, replace=True, residents=500))
    assert await pool.fetchval("SELECT count(token) FROM office_chiyoda_resident.docs") == 0
    assert await pool.fetchval("SELECT count(*) FROM directory.enrollments") == 0
    assert await pool.fetchval("SELECT count(*) FROM office_jlis.docs") == 500
