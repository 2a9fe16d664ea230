"""Every row of the legal table, asked end to end: each item of each row gets an answer; and a
sample of what no row allows is refused by the running hub with the reason."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import random

from e2e_env import REGISTRY, TABLE, Env

from agencies.item_office import COLLECTION
from agencies.jlis.numbers import generate_rrc
from agencies.municipality.local_tax import LocalTax
from agencies.municipality.resident_register import ResidentRegister
from hub.numbers import individual_number
from hub.routing import authorize
from hub.routing.offices import in_house, kind_asking, kind_providing
from renkei.network import Network

TODAY = dt.date(2025, 6, 1)


async def seed(net: Network, env: Env, provider: str, item: str, rrc: str, n: int) -> None:
    """Put one person into the provider's own store, under its own local id and token."""
    store, token, app = net.stores[provider], env.token(rrc, provider), net.apps[provider]
    if isinstance(app, LocalTax):
        years = {"2025": {"total_income": 2_400_000, "municipal_income_levy": 96_000}}
        await store.put_many("taxpayers", [(f"T{n}", token, {"name": "山田 太郎", "years": years})])
    elif isinstance(app, ResidentRegister):
        doc = {
            "name": "山田 太郎",
            "birth_date": "1970-01-01",
            "sex": "1",
            "address": "東京都千代田区麹町一丁目1番1号",
            "household": f"H{n}",
            "relationship": "世帯主",
            "seal": {"number": f"印R{n}", "registered": "2000-01-01"},  # 印鑑登録 (row c02)
            "number": individual_number(f"{n:011d}"),  # the number designated (row c04)
        }
        await store.put_many("residents", [(f"R{n}", token, doc)])
        await store.put_many("households", [(f"H{n}", None, {"members": [f"R{n}"]})])
    else:
        await store.put_many(COLLECTION, [(f"P{n}", token, {"items": {item: {"on_record": True}}})])


def cases() -> list[tuple[str, str, str, str, str]]:
    """(row, requester office, affair, provider office, item): one per item of every row,
    between two bodies where the registry has such a pair (one municipality's offices are
    in-house: :func:`in_house_only`)."""
    out = []
    for row in TABLE.rows():
        askers = [
            o
            for o in REGISTRY
            if row.affair in o.affairs and kind_asking(TABLE, o, row.affair)[0] == row.requester
        ]
        for item in row.items:
            givers = [
                o
                for o in REGISTRY
                if item in o.provides and kind_providing(TABLE, o, (item,))[0] == row.provider
            ]
            pairs = [(a, g) for a in askers for g in givers]
            asker, giver = next(((a, g) for a, g in pairs if in_house(a, g) is None), pairs[0])
            out.append((row.id, asker.code, row.affair, giver.code, item))
    return out


def in_house_only(case: tuple[str, str, str, str, str]) -> bool:
    """A row whose requester and provider are, in this registry, offices of one municipality
    only: inside it the data moves in-house (庁内連携), and the hub refuses it on the network."""
    _, asker, _, giver, _ = case
    return in_house(REGISTRY.get(asker), REGISTRY.get(giver)) is not None


async def test_every_row_of_the_legal_table_is_answered(env: Env) -> None:
    net = await env.network(run=None)
    rng = random.Random(42)
    todo = cases()
    rrcs = [generate_rrc(rng) for _ in todo]
    for n, ((_, _, _, provider, item), rrc) in enumerate(zip(todo, rrcs, strict=True)):
        await seed(net, env, provider, item, rrc, n)
    answers = await asyncio.gather(
        *(
            net.offices[asker].ask(
                affair, provider, (item,), env.token(rrc, asker), {"fiscal_year": 2025}
            )
            for (_, asker, affair, provider, item), rrc in zip(todo, rrcs, strict=True)
        )
    )
    expected = {True: ("refused", "routing.in_house"), False: ("ok", "")}
    failed = [
        (c[0], a.status, a.code, a.reason)
        for c, a in zip(todo, answers, strict=True)
        if (a.status, a.code) != expected[in_house_only(c)]
    ]
    assert failed == []
    assert sum(not in_house_only(c) for c in todo) > len(todo) // 2  # most cross the network
    assert len({c[0] for c in todo}) == len(TABLE.rows()) >= 30


async def test_what_no_row_allows_is_refused_by_the_running_hub(env: Env) -> None:
    net = await env.network(run=None)
    offices = [o for o in REGISTRY if o.affairs]
    combos = [
        (asker.code, affair, giver.code, item)
        for asker, giver in itertools.product(offices, REGISTRY)
        for affair in TABLE.affairs
        for item in TABLE.items
        if not authorize(TABLE, REGISTRY, asker.code, affair, giver.code, (item,), TODAY).allowed
    ]
    sample = random.Random(7).sample(combos, 60)
    rrc = generate_rrc(random.Random(3))
    answers = await asyncio.gather(
        *(net.offices[a].ask(af, p, (i,), env.token(rrc, a)) for a, af, p, i in sample)
    )
    assert {a.status for a in answers} == {"refused"}
    assert all(a.code.startswith("routing.") and a.reason for a in answers)
