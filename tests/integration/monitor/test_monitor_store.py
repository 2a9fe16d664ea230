"""The span store on real PostgreSQL (and in memory, the same behaviour): searches by trace id,
office, affair, outcome and period, a trace's waterfall, retention; ``renkei monitor export``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import pytest
from pg_env import fresh_database

from hub.tracing import names as tn
from monitor import MemorySpanStore, PgSpanStore, Search, SpanStore, StoredSpan

pytestmark = pytest.mark.postgres
T0 = 1_780_000_000 * 10**9  # 2026-05-28, in Unix nanoseconds
MS = 10**6


@pytest.fixture(scope="module")
async def pg_dsn() -> AsyncIterator[str]:
    async with fresh_database("renkei_monitor") as dsn:
        yield dsn


@pytest.fixture(params=["memory", "pg"])
async def store(request: pytest.FixtureRequest, pg_dsn: str) -> AsyncIterator[SpanStore]:
    if request.param == "memory":
        yield MemorySpanStore()
        return
    async with asyncpg.create_pool(pg_dsn, min_size=1, max_size=2) as pool:
        pg = PgSpanStore(pool)
        await pg.migrate()
        async with pool.acquire() as conn:
            await conn.execute("TRUNCATE monitor.span")
        yield pg


def flow(
    n: int, requester: str, provider: str, affair: str, outcome: str, at: int
) -> list[StoredSpan]:
    """The spans of one query: requester, hub, token service, provider, hub again."""
    trace, qid = f"{n:032x}", str(uuid.UUID(int=n))
    ids = [f"{n:08x}{i:08x}" for i in range(1, 6)]
    common = {tn.CONVERSATION_ID: qid, tn.AFFAIR: affair, tn.ITEMS: ("local_tax",)}
    who = {tn.REQUESTER: requester, tn.PROVIDER: provider, tn.KIND: "query"}

    def span(i: int, source: str, name: str, kind: int, parent: str, start: int, end: int,
             attrs: dict[str, Any], events: tuple[Any, ...] = ()) -> StoredSpan:  # fmt: skip
        return StoredSpan(source, trace, ids[i], parent, name, kind, 0, at + start, at + end,
                          {**common, **attrs}, events)  # fmt: skip

    done = {tn.OUTCOME: outcome}
    return [
        span(0, requester, "query", 2, "", 0, 9 * MS, who),
        span(1, "hub", "process hub.requests", 4, ids[0], 1 * MS, 3 * MS,
             {**who, tn.BODY_SIZE: 500}, (("forwarded", at + 2 * MS, {tn.BODY_SIZE: 700}),)),
        span(2, "token", "translate", 1, ids[1], 1 * MS, 2 * MS, {tn.OUTCOME: "ok"}),
        span(3, provider, "process office.in", 4, ids[1], 3 * MS, 5 * MS, {},
             (("replied", at + 5 * MS, {tn.BODY_SIZE: 800}),)),
        span(4, "hub", "process hub.replies", 4, ids[3], 6 * MS, 8 * MS, {**who, **done},
             (("recorded", at + 7 * MS, {}), ("replied", at + 8 * MS, {tn.BODY_SIZE: 900}))),
    ]  # fmt: skip


FLOWS = [
    (1, "chiyoda-child", "chiyoda-tax", "child_allowance", "ok", T0),
    (2, "chiyoda-child", "chiyoda-resident", "child_allowance", "ok", T0 + 1000 * MS),
    (3, "chiyoda-welfare", "chiyoda-tax", "public_assistance", "refused", T0 + 2000 * MS),
]


async def filled(store: SpanStore) -> SpanStore:
    for f in FLOWS:
        await store.add(flow(*f))
    return store


async def test_search_by_office_affair_outcome_period_and_trace_id(store: SpanStore) -> None:
    await filled(store)
    assert [o.trace_id for o in await store.search(Search())] == [f"{n:032x}" for n in (3, 2, 1)]
    by_tax = await store.search(Search(office="chiyoda-tax", oldest_first=True))
    assert [o.query_id for o in by_tax] == [str(uuid.UUID(int=n)) for n in (1, 3)]
    assert [o.trace_id[-1] for o in await store.search(Search(affair="child_allowance"))] == [
        "2",
        "1",
    ]
    (refused,) = await store.search(Search(outcome="refused"))
    assert refused.requester == "chiyoda-welfare"
    period = Search(since_ns=T0 + 500 * MS, until_ns=T0 + 1500 * MS)
    assert [o.trace_id[-1] for o in await store.search(period)] == ["2"]
    (one,) = await store.search(Search(trace_id=f"{1:032x}"))
    assert one.provider == "chiyoda-tax"
    assert await store.search(Search(office="nobody")) == []
    assert len(await store.search(Search(limit=2))) == 2


async def test_an_operation_has_x_roads_six_instants_sizes_and_outcome(store: SpanStore) -> None:
    await filled(store)
    (op,) = await store.search(Search(trace_id=f"{1:032x}"))
    assert (op.requester_out, op.hub_in, op.provider_in) == (T0, T0 + MS, T0 + 3 * MS)
    assert (op.provider_out, op.hub_out, op.requester_in) == (T0 + 5 * MS, T0 + 8 * MS, T0 + 9 * MS)
    assert (op.request_size, op.response_size, op.outcome) == (500, 900, "ok")
    assert op.sources == ("chiyoda-child", "chiyoda-tax", "hub", "token")
    assert op.items == ("local_tax",) and op.told_by == "hub"


async def test_a_trace_is_its_spans_by_start_with_their_parents(store: SpanStore) -> None:
    await filled(store)
    spans = await store.trace(f"{1:032x}")
    assert [s.name for s in spans] == [
        "query",
        "process hub.requests",
        "translate",
        "process office.in",
        "process hub.replies",
    ]
    assert spans[1].parent_id == spans[0].span_id
    assert spans[4].events[1][0] == "replied"
    assert dict(spans[0].attributes)[tn.ITEMS] == ("local_tax",)


async def test_retention_removes_spans_older_than_the_cut(store: SpanStore) -> None:
    await filled(store)
    assert await store.expire(T0 + 1500 * MS) == 10
    assert [o.trace_id[-1] for o in await store.search(Search())] == ["3"]
    assert await store.trace(f"{1:032x}") == []


async def _fill(dsn: str) -> None:
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        pg = PgSpanStore(pool)
        await pg.migrate()
        async with pool.acquire() as conn:
            await conn.execute("TRUNCATE monitor.span")
        await filled(pg)


def test_renkei_monitor_export_writes_json_lines(renkei: Any, pg_dsn: str) -> None:
    """(A plain test: the command runs its own event loop.)"""
    asyncio.run(_fill(pg_dsn))
    code, out, err = renkei(
        "--db", pg_dsn, "monitor", "export", "--since", "2026-05-28", "--office", "chiyoda-tax"
    )
    assert code == 0, err
    lines = [orjson.loads(line) for line in out.splitlines()]
    assert [line["trace_id"][-1] for line in lines] == ["1", "3"]
    assert lines[0]["hub_in"].startswith("2026-05-28T") and lines[1]["outcome"] == "refused"
    assert "2 flow(s) exported" in err
    code, out, _ = renkei("--db", pg_dsn, "monitor", "export", "--since", "2026-05-28", "--spans")
    assert code == 0 and len(out.splitlines()) == 15
    code, _, err = renkei("--db", pg_dsn, "monitor", "export", "--since", "yesterday")
    assert code == 2 and "renkei.bad_date" in err
    code, _, err = renkei("monitor", "export", "--since", "2026-05-28")
    assert code == 2 and "renkei.no_database" in err
