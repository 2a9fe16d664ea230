"""Tracing across the whole network: one trace per query over every hop, and no personal
data in any span — checked against the demo's own values (tokens, numbers, resident-record
codes, local ids, names, addresses, figures)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from e2e_env import Env

from agencies.municipality.child_allowance import ChildAllowance
from agencies.population.households import generate
from hub.bus import SPANS_EXCHANGE, OutMessage
from hub.bus.amqp import AmqpBus
from hub.bus.memory import InMemoryBus
from monitor import Operation, Search, StoredSpan
from renkei.network import Network
from renkei.population.enroll import load_population

# the population's ward, and another ward's tax office: the ward's own offices read each other
# in-house (庁内連携), not over the network
CHILD, TAX, RESIDENT = "chiyoda-child", "shinjuku-tax", "chiyoda-resident"
HUB = "hub"


async def settled(net: Network, began: int) -> int:
    """Every process's spans sent, and all of them stored by the monitor: how many.

    Counted by source. The hub's count may be higher than what this network's traces hold:
    the module's networks share the hub's database, so this hub's sweeper also times out an
    earlier network's unanswered queries (each a span, in that network's trace). So the hub's
    stored spans are at most those it sent; every other participant's, exactly."""
    assert net.monitor is not None
    sent: dict[str, int] = {}
    got: Counter[str] = Counter()
    for _ in range(600):  # up to 30 s on a busy machine
        for tracing in net.tracing.values():
            await tracing.flush()
        sent = {name: t.stats.exported for name, t in net.tracing.items()}
        got = Counter(s.source for s in await _spans_since(net, began))
        if got[HUB] <= sent[HUB] and all(got[n] == k for n, k in sent.items() if n != HUB):
            break
        await asyncio.sleep(0.05)
    assert not any(t.stats.dropped for t in net.tracing.values())
    assert net.monitor.stats.dropped_total() == 0, net.monitor.stats
    assert set(got) <= set(sent)
    assert got[HUB] <= sent[HUB] and all(got[n] == k for n, k in sent.items() if n != HUB)
    return sum(got.values())


async def _spans_since(net: Network, began: int) -> list[StoredSpan]:
    assert net.monitor is not None
    store = net.monitor.store
    ops = await store.search(Search(since_ns=began, limit=100_000))
    traces = {op.trace_id for op in ops}
    return [s for t in traces for s in await store.trace(t) if s.start_ns >= began]


async def season(env: Env) -> tuple[Network, Any, int]:
    """The demo in small: a population enrolled, the allowance office checking its applicants
    (in-house), asking another ward's tax office about one over the network (1 January's), a
    refused query, a move (change events); and when it began (the real backend's store is the
    test module's)."""
    began = time.time_ns()
    net = await env.network(run=None)
    loaded = await load_population(net, generate(12, seed=3), fiscal_year=2024)
    child: ChildAllowance = net.apps[CHILD]
    applicants = await child.store.keys("applicants")
    await asyncio.gather(*(child.check(a, loaded_date()) for a in applicants))
    token = await child.store.token("applicants", applicants[0])
    assert token is not None
    taxed = loaded.held[(CHILD, applicants[0])]  # 新宿区 taxed them for 2024
    year = {"2024": {"total_income": 3_000_000, "municipal_income_levy": 1}}
    await net.stores[TAX].put_many(
        "taxpayers", [("ST1", env.token(taxed.rrc, TAX), {"name": "x", "years": year})]
    )
    asked = ("child_allowance", TAX, ("local_tax",), token, {"fiscal_year": 2024})
    assert (await child.node.ask(*asked)).status == "ok"
    refused = await child.node.ask("child_allowance", "nenkin", ("pension_benefit",), token)
    assert refused.status == "refused"
    register = next(k for (o, k) in loaded.held if o == RESIDENT)  # the first one
    moved = await net.stores[RESIDENT].token("residents", register)
    assert moved is not None
    await net.offices[RESIDENT].report_change(moved, "moved_out", loaded_date(), {})
    return net, loaded, began


def in_order(op: Operation) -> bool:
    """X-Road's six instants of ``op`` all known, and each no earlier than the one before."""
    instants = (
        op.requester_out,
        op.hub_in,
        op.provider_in,
        op.provider_out,
        op.hub_out,
        op.requester_in,
    )
    return None not in instants and list(instants) == sorted(instants)  # type: ignore[type-var]


def loaded_date() -> dt.date:
    return dt.date(2024, 6, 1)


async def test_a_query_is_one_trace_across_requester_hub_token_service_and_provider(
    env: Env,
) -> None:
    net, _, began = await season(env)
    await settled(net, began)
    assert net.monitor is not None
    store = net.monitor.store
    q = Search(office=TAX, affair="child_allowance", outcome="ok", since_ns=began, limit=1)
    (op,) = await store.search(q)
    assert (op.requester, op.provider, op.kind, op.items) == (CHILD, TAX, "query", ("local_tax",))
    spans = {s.name: s for s in await store.trace(op.trace_id)}
    assert {s.source for s in spans.values()} == {CHILD, "hub", "token", TAX}
    asked, hub_in, token = spans["query"], spans["process hub.requests"], spans["translate"]
    served, hub_back = spans["process office.in"], spans["process hub.replies"]
    # one trace, each hop the child of the one that sent it
    assert asked.parent_id == ""
    assert hub_in.parent_id == asked.span_id
    assert token.parent_id == hub_in.span_id
    assert served.parent_id == hub_in.span_id
    assert hub_back.parent_id == served.span_id
    events = [e[0] for e in hub_in.events]
    # the translation is the desk's head start, beside the claim: over the token channel it
    # may well finish first (over the broker it came after the claim, by timing alone)
    assert events[0] == "validated" and events[-2:] == ["authorized", "forwarded"]
    assert sorted(events[1:4]) == ["checked", "claimed", "translated"]
    assert events.index("claimed") < events.index("checked")
    # X-Road's operational data: six instants in order, the sizes and the outcome
    assert in_order(op)
    assert op.request_size and op.response_size
    assert (op.outcome, op.told_by) == ("ok", "hub")


async def test_refusals_change_events_and_enrollments_have_their_traces(env: Env) -> None:
    net, loaded, began = await season(env)
    await settled(net, began)
    assert net.monitor is not None
    store = net.monitor.store
    (refusal,) = await store.search(Search(outcome="refused", office="nenkin", since_ns=began))
    assert refusal.error == "routing.no_row"
    assert refusal.provider_in is None and refusal.hub_out is not None
    enrolled = await store.search(Search(affair="enrollment", since_ns=began, limit=1000))
    assert enrolled and all(op.outcome == "enrolled" for op in enrolled)
    assert all("jlis" in op.sources and "token" in op.sources for op in enrolled)
    (change,) = await store.search(Search(affair="change_notice", since_ns=began))
    moved = next(p for (o, _), p in loaded.held.items() if o == RESIDENT)
    holders = {o for (o, _), p in loaded.held.items() if p == moved and o != RESIDENT}
    told: set[str] = set()
    for _ in range(1500):  # the hub has sent the event; a holder may not have taken it yet
        fanout = await store.trace(change.trace_id)
        told = {s.source for s in fanout if s.name == "process office.in"}
        if holders <= told:
            break
        await asyncio.sleep(0.02)
        for tracing in net.tracing.values():
            await tracing.flush()
    assert holders and holders <= told  # each holder's delivery is in the event's trace


def _values(span: StoredSpan) -> Iterator[Any]:
    yield span.name
    yield from span.attributes.keys()
    for value in span.attributes.values():
        yield from (value if isinstance(value, tuple | list) else (value,))
    for name, _, attrs in span.events:
        yield name
        yield from attrs.keys()
        yield from attrs.values()


async def test_no_span_carries_a_token_number_local_id_name_or_content(env: Env) -> None:
    """Every exported span (all of them reach the store: none dropped) against every value of
    the demo a span must never show."""
    net, loaded, began = await season(env)
    stored = await settled(net, began)
    spans = await _spans_since(net, began)
    assert len({s.span_id for s in spans}) == len(spans) >= stored  # each stored once, read

    secrets_: set[str] = set()
    figures: set[int] = set()
    jlis = net.apps["jlis"]
    for (office, local_id), person in loaded.held.items():
        secrets_ |= {local_id, person.rrc, person.name, jlis.numbers.number_for(person.rrc, 0)}
        secrets_.add(env.token(person.rrc, office))
        secrets_.add(env.token(person.rrc, "hub"))
    for store in net.stores.values():
        for collection in ("residents", "taxpayers", "applicants", "households"):
            for key in await store.keys(collection):
                secrets_.add(key)
                doc = await store.get(collection, key)
                for value in _leaves(doc):
                    if isinstance(value, str) and len(value) >= 4:
                        secrets_.add(value)
                    elif isinstance(value, int) and value >= 100_000:
                        figures.add(value)
    secrets_ -= {"2024", "世帯主", "本人"}  # words, not anyone's data
    assert len(secrets_) > 100 and figures
    seen = [v for s in spans for v in _values(s)]
    text = orjson.dumps([v for v in seen if isinstance(v, str)]).decode()
    leaked = sorted(v for v in secrets_ if v in text)
    assert not leaked, f"spans carry the demo's data: {leaked[:10]}"
    numbers = {v for v in seen if type(v) is int}
    assert not numbers & figures


def _leaves(doc: Any) -> Iterator[Any]:
    if isinstance(doc, dict):
        for v in doc.values():
            yield from _leaves(v)
    elif isinstance(doc, list | tuple):
        for v in doc:
            yield from _leaves(v)
    else:
        yield doc


async def test_a_dishonest_office_cannot_speak_for_the_hub_or_carry_a_token_into_the_monitor(
    env: Env,
) -> None:
    """An office, with its own broker user and nothing more, publishes to the span exchange a
    batch holding a span under the hub's name, one carrying a person's token and one of its own:
    the monitor keeps only the last, under the broker-vouched sender, and counts the others."""
    net = await env.network(run=None)
    assert net.monitor is not None
    trace_id, now = os.urandom(16).hex(), time.time_ns()

    def span(name: str, **attrs: str) -> list[Any]:
        return [trace_id, os.urandom(8).hex(), "", name, 4, now, now + 10, 0, attrs, []]

    body = orjson.dumps(
        {
            "v": 1,
            "spans": [
                span("process hub.requests"),  # the hub's, not the tax office's to say
                span("query", person=env.token("0" * 11, TAX)),  # not an allowed attribute
                span("query"),
            ],
        }
    )
    office = await env.connect(net, TAX)
    await office.publish(SPANS_EXCHANGE, "", OutMessage(body, message_id=os.urandom(8).hex()))
    kept: list[StoredSpan] = []
    for _ in range(1500):  # up to 30 s on a busy machine
        kept = await net.monitor.store.trace(trace_id)
        if kept:
            break
        await asyncio.sleep(0.02)
    assert [(s.source, s.name) for s in kept] == [(TAX, "query")]
    dropped = net.monitor.stats.dropped
    assert dropped[(TAX, "monitor.wrong_source")] == 1
    assert dropped[(TAX, "attribute_key")] == 1


async def test_the_six_instants_stay_in_order_when_confirms_come_late(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message's receiver may hear it before its sender hears the broker's confirm: "sent"
    is when it left (before, the hub's reply could be timed after the requester received it)."""
    for bus in (InMemoryBus, AmqpBus):
        publish = bus.publish

        async def confirmed_late(self: Any, *args: Any, _publish: Any = publish, **kw: Any) -> None:
            await _publish(self, *args, **kw)
            await asyncio.sleep(0.02)

        monkeypatch.setattr(bus, "publish", confirmed_late)
    net, _, began = await season(env)
    await settled(net, began)
    assert net.monitor is not None
    q = Search(affair="child_allowance", outcome="ok", since_ns=began, limit=100)
    ops = [op for op in await net.monitor.store.search(q) if op.kind == "query"]
    assert ops
    assert all(in_order(op) for op in ops), ops
