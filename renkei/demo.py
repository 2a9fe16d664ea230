"""``renkei demo``: the whole network in one process, one claim season in miniature.

A synthetic population is numbered and enrolled; the child-allowance office checks its
applicants in-house (庁内連携: the household and income read from its own ward's register and
tax office, no network query); a family that moved 新宿区 → 千代田区 after 1 January claims,
and its income comes from 新宿区 over the network (the municipality of 1 January, found by the
hub); benefits ask national and prefectural offices; two refused queries are shown (one the
legal table refuses, one between two offices of the ward: 庁内連携, not the network); then a
summary: queries by outcome, latencies, one resident's access records (what they would see in
やりとり履歴), the chain verified, and one query's trace as the monitor keeps it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TextIO

from agencies.item_office import COLLECTION as PEOPLE
from agencies.jlis.registry import Jlis
from agencies.municipality.child_allowance import ChildAllowance, Decision
from agencies.municipality.in_house import ATENA
from agencies.municipality.moving import move_in
from agencies.population.households import Household, Person, generate
from hub.node import Answer
from hub.numbers import resident_record_code
from hub.records import verify_store
from hub.wire import HUB, Facts
from monitor import Search
from renkei.network import Network, identities, load_quotas_of, load_rules, open_network
from renkei.population.enroll import Loaded, load_population
from renkei.secrets import TOKEN, State
from renkei.settings import Settings
from token_service import KeyRing

__all__ = ["run_demo"]

STATUS_DATE = dt.date(2024, 6, 1)  # 児童手当's status date (6月1日)
MOVE_DATE = dt.date(2024, 7, 1)
MOVED_IN = dt.date(2024, 3, 1)  # a family's move 新宿区 → 千代田区, after 1 January
HELD_SINCE = dt.datetime(2020, 4, 1, tzinfo=dt.UTC)
FAMILY = (  # (resident-record code digits, name, birth date, sex, 続柄)
    ("5000000001", "中村 陽子", "1988-02-14", "2", "世帯主"),
    ("5000000002", "中村 蓮", "2019-09-09", "1", "子"),
)
SHINJUKU_HOME, CHIYODA_HOME = "東京都新宿区西新宿二丁目8番1号", "東京都千代田区九段南一丁目2番1号"
REGISTER, NEW_REGISTER = "chiyoda-resident", "shinjuku-resident"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_demo(
    settings: Settings, state: State | None, *, residents: int, seed: int, out: TextIO = sys.stdout
) -> int:
    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    table, registry = load_rules(settings)
    state = state or State.generate(identities(registry))
    # the initial load is the operator's bulk enrollment: every office enrolls every resident
    quotas = load_quotas_of(settings, table, registry).enrolling(residents)
    async with await open_network(
        settings, state, table=table, registry=registry, quotas=quotas
    ) as net:
        say(f"renkei demo — bus: {net.bus_name} · stores: {net.store_name}")
        households = generate(residents, seed=seed, today=STATUS_DATE)
        loaded = await load_population(
            net, households, fiscal_year=STATUS_DATE.year, progress=lambda m: say(f"  … {m}")
        )
        say(
            f"population: {loaded.residents} residents in {loaded.households} households of"
            f" 千代田区 (seed {seed}); {loaded.enrolled} office records enrolled"
            f" ({loaded.refused} refused) in {loaded.seconds:.1f} s"
        )
        decisions, seconds = await _check_applicants(net)
        _report_decisions(say, decisions, seconds)
        answers = [*await _moved_in_claim(say, net), *await _beyond_the_ward(say, net, households)]
        for title, refusal in await _refused_queries(net):
            answers.append(refusal)
            say(f"\nrefused by the hub ({title}):")
            say(f"  {refusal.status} {refusal.code}: {refusal.reason}")
        _report_outcomes(say, answers)
        subject = loaded.held[("chiyoda-child", decisions[0].local_id)]
        await _move(say, net, loaded, subject)
        await _report_resident(say, net, subject)
        await _report_trace(say, net)
        await _report_oversight(say, net)
    say("\nwhat a resident sees of it: `renkei demo --portal`, then open http://127.0.0.1:8470")
    return 0


async def _move(say: Callable[[str], None], net: Network, loaded: Loaded, subject: Person) -> None:
    """The moving one-stop for one resident: 千代田区 → 新宿区 (引越しワンストップ)."""
    register = next(k for (o, k), p in loaded.held.items() if o == REGISTER and p == subject)
    token = await net.stores[REGISTER].token("residents", register)
    assert token is not None
    out = await net.offices[REGISTER].report_change(
        token, "moved_out", MOVE_DATE, {"to_municipality": "131041"}
    )
    jlis: Jlis = net.apps["jlis"]
    number = jlis.numbers.number_for(subject.rrc, 0)  # the resident shows their card at 新宿区
    kept = await net.stores[REGISTER].get("residents", register)
    assert kept is not None

    async def noted(facts: Facts) -> None:  # 新宿区's 記載, to J-LIS over 住基ネット
        await net.juki[NEW_REGISTER].noted(subject.rrc, facts, municipality="131041")

    done = await move_in(
        net.offices[NEW_REGISTER],
        net.stores[NEW_REGISTER],
        number=number,
        local_id="S0000001",
        resident={
            "name": subject.name,
            "birth_date": subject.birth_date,
            "sex": subject.sex,
            "address": "東京都新宿区西新宿二丁目8番1号",
            "household": "SH000001",
            "relationship": "世帯主",
        },
        previous_address=kept["address"],  # 従前の住所, on the 転入届
        effective=MOVE_DATE,
        noted=noted,
    )
    assert net.directory is not None
    ring = KeyRing(net.state.secret_of(TOKEN))
    holders = await net.directory.holders(ring.token_for(ring.link_id(subject.rrc), "hub"))
    now = ", ".join(h.office for h in holders if h.until is None)
    ended = ", ".join(h.office for h in holders if h.until is not None)
    say(f"\nmoving one-stop (引越しワンストップ), {subject.name}: 千代田区 → 新宿区 on {MOVE_DATE}")
    say(
        f"  the move out was {out.status}, 新宿区's register told; the move in there came from"
        f" {done.from_office}"
    )
    say(f"  directory: held by {now}; ended at {ended}")


async def _moved_in_claim(say: Callable[[str], None], net: Network) -> tuple[Answer, ...]:
    """A family taxed in 新宿区 on 1 January that moved to 千代田区 on 1 March claims 児童手当 at
    千代田区: income is 新宿区's (the municipality of 1 January), which the hub finds — the
    network case of 別表 row r01, between two municipalities."""
    jlis: Jlis = net.apps["jlis"]
    ring = KeyRing(net.state.secret_of(TOKEN))
    people = [(resident_record_code(d), n, b, x, rel) for d, n, b, x, rel in FAMILY]

    def facts(name: str, birth: str, sex: str, home: str) -> Facts:
        return Facts.of({"name": name, "address": home, "birth_date": birth, "sex": sex})

    numbers = await jlis.register(
        {rrc: facts(n, b, x, SHINJUKU_HOME) for rrc, n, b, x, _ in people}, municipality="131041"
    )
    assert net.directory is not None  # the operator's bulk load: 新宿区 has held them since 2020
    tokens = {}
    for rrc, n, b, x, _ in people:
        for office in ("shinjuku-resident", "shinjuku-tax"):
            await net.directory.enrolled(ring.token_for(ring.link_id(rrc), HUB), office, HELD_SINCE)
        tokens[rrc] = await net.offices["shinjuku-resident"].enroll(
            numbers[rrc], facts(n, b, x, SHINJUKU_HOME)
        )
    head = people[0]
    tax_token = await net.offices["shinjuku-tax"].enroll(
        numbers[head[0]], facts(*head[1:4], SHINJUKU_HOME)
    )
    year = {"total_income": 5_200_000, "municipal_income_levy": 286_200}
    await net.stores["shinjuku-tax"].put_many(
        "taxpayers", [("ST0000001", tax_token, {"name": head[1], "years": {"2024": year}})]
    )
    for rrc, *_ in people:  # 転出届 at 新宿区, to 千代田区
        await net.offices["shinjuku-resident"].report_change(
            tokens[rrc], "moved_out", MOVED_IN, {"to_municipality": "131016"}
        )
    ids = [f"RM{i:07d}" for i in range(1, len(people) + 1)]
    for local_id, (rrc, n, b, x, rel) in zip(ids, people, strict=True):  # 転入届 at 千代田区

        async def noted(f: Facts, rrc: str = rrc) -> None:  # the 記載, over 住基ネット
            await net.juki[REGISTER].noted(rrc, f, municipality="131016")

        record = {"name": n, "birth_date": b, "sex": x, "address": CHIYODA_HOME}
        await move_in(
            net.offices[REGISTER],
            net.stores[REGISTER],
            number=numbers[rrc],
            local_id=local_id,
            resident={**record, "household": "HM0000001", "relationship": rel},
            previous_address=SHINJUKU_HOME,
            effective=MOVED_IN,
            noted=noted,
        )
    await net.stores[REGISTER].put_many(
        "households", [("HM0000001", None, {"head": ids[0], "members": ids})]
    )
    child: ChildAllowance = net.apps["chiyoda-child"]
    claimant = await net.offices["chiyoda-child"].enroll(
        numbers[head[0]], facts(*head[1:4], CHIYODA_HOME)
    )
    applicant = {"name": head[1], ATENA: ids[0]}  # the register's record: the in-house key
    await child.store.put_many("applicants", [("CM0000001", claimant, applicant)])
    decision = await child.check("CM0000001", STATUS_DATE)
    say(
        f"\na claim across municipalities: {head[1]} moved 新宿区 → 千代田区 on {MOVED_IN}, after"
        " 1 January; 千代田区's 児童手当 reads the household in-house, finds no 千代田区 tax"
        " figures for the year there, and asks the hub for the municipality of 1 January:"
    )
    assert net.records is not None
    hub_token = ring.token_for(ring.link_id(head[0]), HUB)
    for r in await net.records.for_person(hub_token):
        if r.affair == "child_allowance" and "local_tax" in r.items:
            say(f"  {r.requester} asked {r.provider} for local_tax: {r.outcome}")
    status = f"{decision.status}, {decision.monthly_yen:,} yen/month"
    say(f"  {decision.local_id}: {status} — {decision.reason}")
    return decision.answers


async def _beyond_the_ward(
    say: Callable[[str], None], net: Network, households: list[Household]
) -> list[Answer]:
    """Benefits that ask beyond the ward: 介護保険 asks 日本年金機構 for a pension (r20a), 障害者
    福祉 asks 東京都 for the disability handbook it issued (d03). The national and prefectural
    offices hold data of their own, enrolled with the four facts like every office."""
    jlis: Jlis = net.apps["jlis"]
    home, elder = next(
        (h, p) for h in households for p in h.members if _age(p.birth_date, STATUS_DATE) >= 65
    )
    number = jlis.numbers.number_for(elder.rrc, 0)
    facts = Facts.of({**dataclasses.asdict(elder), "address": home.address})
    held = {
        "nenkin": {"pension_benefit": {"benefits": ["老齢基礎年金"], "annual_amount": 816_000}},
        "tokyo-pref": {"disability": {"handbook": "身体障害者手帳", "grade": "4級"}},
    }
    tokens = {}
    for office in ("nenkin", "tokyo-pref", "chiyoda-care", "chiyoda-disability"):
        tokens[office] = await net.offices[office].enroll(number, facts)
    for office, items in held.items():
        doc = {"items": items}
        await net.stores[office].put_many(PEOPLE, [(f"P{office[:2]}1", tokens[office], doc)])
    age = _age(elder.birth_date, STATUS_DATE)
    say(f"\nbeyond the ward: {elder.name} ({age}), 千代田区 resident")
    answers = []
    for asker, affair, provider, item in (
        ("chiyoda-care", "long_term_care", "nenkin", "pension_benefit"),
        ("chiyoda-disability", "independence_support", "tokyo-pref", "disability"),
    ):
        answer = await net.offices[asker].ask(affair, provider, (item,), tokens[asker])
        got = answer.data[item] if answer.data else answer.reason
        say(f"  {asker} asked {provider} for {item} ({affair}): {answer.status} — {got}")
        answers.append(answer)
    return answers


def _age(birth: str, on: dt.date) -> int:
    b = dt.date.fromisoformat(birth)
    return on.year - b.year - ((on.month, on.day) < (b.month, b.day))


async def _check_applicants(net: Network) -> tuple[list[Decision], float]:
    child: ChildAllowance = net.apps["chiyoda-child"]
    applicants = await child.store.keys("applicants")
    started = time.perf_counter()
    decisions = await asyncio.gather(*(child.check(a, STATUS_DATE) for a in applicants))
    return list(decisions), time.perf_counter() - started


def _report_decisions(
    say: Callable[[str], None], decisions: list[Decision], seconds: float
) -> None:
    counts = Counter(d.status for d in decisions)
    sent = sum(len(d.answers) for d in decisions)
    say(
        f"\nchild allowance (児童手当), status date {STATUS_DATE}: {len(decisions)} applicants"
        f" checked in {seconds:.2f} s, in-house (庁内連携): the household from 千代田区's"
        f" register and the income from its tax office, read inside the ward —"
        f" {sent} network queries"
    )
    say("  " + " · ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for d in decisions[:3]:
        say(f"  {d.local_id}: {d.status}, {d.monthly_yen:,} yen/month — {d.reason}")


async def _refused_queries(net: Network) -> list[tuple[str, Answer]]:
    child: ChildAllowance = net.apps["chiyoda-child"]
    first = (await child.store.keys("applicants"))[0]
    token = await child.store.token("applicants", first)
    assert token is not None
    # 年金給付関係情報 is held by 日本年金機構, but no row lets 児童手当 ask for it; and
    # 千代田区's own tax office is not asked over the network at all: that is 庁内連携
    return [
        (
            "児童手当 asking 日本年金機構 for 年金給付関係情報: the legal table",
            await child.node.ask("child_allowance", "nenkin", ("pension_benefit",), token),
        ),
        (
            "児童手当 asking its own ward's tax office over the network: 庁内連携",
            await child.node.ask(
                "child_allowance", "chiyoda-tax", ("local_tax",), token, {"fiscal_year": 2024}
            ),
        ),
    ]


def _report_outcomes(say: Callable[[str], None], answers: list[Answer]) -> None:
    counts = Counter(a.status for a in answers)
    ms = [a.seconds * 1000 for a in answers]
    say("\nqueries by outcome: " + " · ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    say(
        f"latency: p50 {statistics.median(ms):.1f} ms · p99 {_pct(ms, 0.99):.1f} ms"
        f" · max {max(ms):.1f} ms (n={len(ms)}, all in flight together)"
    )


async def _report_resident(say: Callable[[str], None], net: Network, subject: Person) -> None:
    """The records about one resident, found by the hub's own token (as the portal would)."""
    assert net.records is not None
    ring = KeyRing(net.state.secret_of(TOKEN))
    person = ring.token_for(ring.link_id(subject.rrc), "hub")
    records = await net.records.for_person(person, include_not_disclosed=True)
    say(f"\naccess records of {subject.name} (やりとり履歴, {len(records)}):")
    for r in records:
        say(
            f"  {r.asked_at:%Y-%m-%d %H:%M:%S} {r.requester} asked {r.provider or '-'}"
            f" for {', '.join(r.items)} ({r.affair}): {r.outcome}"
        )
    report = await verify_store(net.records, net.state.public["hub"].verify)
    say(f"\nrecord chain: {report}")


async def _report_trace(say: Callable[[str], None], net: Network) -> None:
    """What the monitor kept: spans by identity, and one query's hops (a waterfall)."""
    monitor = net.monitor
    if monitor is None:
        return
    for tracing in net.tracing.values():
        await tracing.flush()
    sent = sum(t.stats.exported for t in net.tracing.values())
    for _ in range(200):
        if monitor.stats.stored + monitor.stats.dropped_total() >= sent:
            break
        await asyncio.sleep(0.01)
    dropped = sum(sum(t.stats.dropped.values()) for t in net.tracing.values())
    dropped += monitor.stats.dropped_total()
    say(f"\nmonitor: {monitor.stats.stored} spans kept, {dropped} dropped")
    found = await monitor.store.search(Search(affair="child_allowance", outcome="ok", limit=1))
    if not found:
        return
    op = found[0]
    spans = await monitor.store.trace(op.trace_id)
    say(f"  one query's trace ({op.requester} → {op.provider}, {op.outcome}), {op.trace_id}:")
    t0 = spans[0].start_ns
    for s in spans:
        start, took = (s.start_ns - t0) / 1e6, (s.end_ns - s.start_ns) / 1e6
        say(f"  {start:7.2f} ms +{took:6.2f} ms  {s.source:<16} {s.name}")


async def _report_oversight(say: Callable[[str], None], net: Network) -> None:
    """What the oversight saw: the chain as the monitor verified it, and its open alerts."""
    oversight = net.oversight
    if oversight is None:
        return
    await oversight.check()
    state = oversight.chain_state
    verdict = "intact" if state.ok else f"BROKEN at seq {state.broken_at}: {state.detail}"
    say(f"\noversight: the record chain verified up to seq {state.verified_seq}, {verdict}")
    for alert in await oversight.alerts.open():
        say(f"  alert {alert.id} [{alert.severity}] {alert.rule} ×{alert.count}: {alert.summary}")
