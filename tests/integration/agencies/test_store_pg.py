"""An office's own PostgreSQL store: look-ups by token, one at a time and many at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from pg_env import fresh_database

from hub.node import PgStore

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[asyncpg.Pool]:
    async with (
        fresh_database("renkei_store") as dsn,
        asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool,
    ):
        yield pool


@pytest.fixture(scope="module")
async def store(pool: asyncpg.Pool) -> PgStore:
    office = PgStore(pool, "chiyoda-tax")
    await office.migrate()
    rows = [(f"k{i}", f"t{i}", {"income": i}) for i in range(100)]
    await office.put_many("taxpayers", rows)
    await office.put_many("residents", [("r1", "t-r1", {"name": "住民"})])
    return office


def version_2(token: str) -> str:
    """What the token keys would do: the same person's token at version 2 (and 2 → 2)."""
    return "2-" + token.removeprefix("1-").removeprefix("2-")


async def tokens(pool: asyncpg.Pool) -> dict[str, tuple[str | None, str | None]]:
    rows = await pool.fetch("SELECT key, token, token_alt FROM office_rotating.docs")
    return {r["key"]: (r["token"], r["token_alt"]) for r in rows}


async def test_a_token_key_rotation_finds_everyone_by_either_version(pool: asyncpg.Pool) -> None:
    """docs/operations.md §5: written beside, promoted, settled — and each step run twice."""
    office = PgStore(pool, "rotating")
    await office.migrate()
    people = [("k1", "1-a", {"n": 1}), ("k2", "1-b", {"n": 2}), ("k3", None, {"n": 3})]
    await office.put_many("taxpayers", people)
    assert await office.retoken(version_2, batch=1) == 2  # in batches
    assert await office.retoken(version_2) == 0
    for token in ("1-a", "2-a"):
        assert await office.by_token("taxpayers", token) == ("k1", {"n": 1})
    found = await asyncio.gather(*(office.by_token("taxpayers", t) for t in ("2-a", "1-b", "x")))
    assert found == [("k1", {"n": 1}), ("k2", {"n": 2}), None]  # one batch, either version
    await office.put_many("taxpayers", [("k4", "1-d", {"n": 4})])  # filed since step 1
    await office.put_many("taxpayers", [("k2", "1-bb", {"n": 2})])  # filed anew: redone
    assert (await tokens(pool))["k2"] == ("1-bb", None)

    assert await office.promote(version_2) == 3
    assert await tokens(pool) == {
        "k1": ("2-a", "1-a"),
        "k2": ("2-bb", "1-bb"),
        "k3": (None, None),
        "k4": ("2-d", "1-d"),
    }
    assert await office.promote(version_2) == 0  # run again: never swapped back
    assert await office.retoken(version_2) == 0
    assert (await tokens(pool))["k1"] == ("2-a", "1-a")
    assert await office.by_token("taxpayers", "1-a") == ("k1", {"n": 1})
    asked = ("1-a", "1-bb", "1-d")  # the first alone; the others miss by token in one batch
    found = await asyncio.gather(*(office.by_token("taxpayers", t) for t in asked))
    assert found == [("k1", {"n": 1}), ("k2", {"n": 2}), ("k4", {"n": 4})]  # by token_alt
    assert await office.token_of("k1") == "2-a"  # what the office asks with from now on

    await office.put_many("taxpayers", [("k5", "1-e", {"n": 5})])  # made before the switch
    assert await office.settle(version_2) == 3
    assert await tokens(pool) == {
        "k1": ("2-a", None),
        "k2": ("2-bb", None),
        "k3": (None, None),
        "k4": ("2-d", None),
        "k5": ("2-e", None),
    }
    assert await office.by_token("taxpayers", "1-a") is None
    assert await office.by_token("taxpayers", "2-e") == ("k5", {"n": 5})


async def test_copies_of_one_office_migrate_its_store_at_once(pool: asyncpg.Pool) -> None:
    """Copies of one office started together take turns at the DDL (it deadlocked)."""
    copies = [PgStore(pool, "copied") for _ in range(4)]
    for _ in range(3):  # a new store, then one migrated already
        await asyncio.gather(*(copy.migrate() for copy in copies))


async def test_one_look_up_finds_the_key_and_document(store: PgStore) -> None:
    assert await store.by_token("taxpayers", "t7") == ("k7", {"income": 7})
    assert await store.by_token("taxpayers", "t-unknown") is None
    assert await store.by_token("residents", "t7") is None  # another collection's token
    assert await store.by_token("taxpayers", "t-r1") is None


async def test_concurrent_look_ups_share_queries_and_each_gets_its_own(store: PgStore) -> None:
    wanted = [("taxpayers", f"t{i}") for i in range(0, 100, 3)] + [
        ("taxpayers", "t-nobody"),
        ("residents", "t-r1"),
        ("residents", "t5"),
    ]
    found = await asyncio.gather(*(store.by_token(c, t) for c, t in wanted))
    expected = [(f"k{i}", {"income": i}) for i in range(0, 100, 3)]
    assert found == [*expected, None, ("r1", {"name": "住民"}), None]


async def test_find_by_a_field_for_the_in_house_link(store: PgStore) -> None:
    """``find`` (庁内連携): the documents whose field is the value, as text, in key order; a
    field or value that is SQL, a number or missing finds nothing and breaks nothing."""
    await store.put_many(
        "taxpayers", [("a2", None, {"atena": "R1"}), ("a1", None, {"atena": "R1"})]
    )
    assert [k for k, _ in await store.find("taxpayers", "atena", "R1")] == ["a1", "a2"]
    assert await store.find("taxpayers", "atena", "R9") == []
    assert await store.find("residents", "atena", "R1") == []  # another collection
    assert [k for k, _ in await store.find("taxpayers", "income", "7")] == ["k7"]  # as text
    for field in ("atena' OR '1'='1", "x" * 10_000, ""):
        assert await store.find("taxpayers", field, "R1") == []
    assert await store.find("taxpayers", "atena", "R1' OR '1'='1") == []
    assert await store.get("taxpayers", "a1") == {"atena": "R1"}  # nothing was harmed


async def test_delete_removes_one_document_and_its_token(pool: asyncpg.Pool) -> None:
    office = PgStore(pool, "deleting")
    await office.migrate()
    await office.put_many("outbox", [("a", None, {"n": 1}), ("b", "t-b", {"n": 2})])
    await office.put_many("other", [("b", None, {"n": 3})])
    await office.delete("outbox", "b")
    await office.delete("outbox", "missing")  # none: no error
    assert await office.keys("outbox") == ["a"]
    assert await office.by_token("outbox", "t-b") is None
    assert await office.get("other", "b") == {"n": 3}  # another collection's: kept


async def test_look_ups_keep_one_connection_between_batches_and_give_it_back(
    pool: asyncpg.Pool, store: PgStore
) -> None:
    """bench/README.md, issue 19, the office nodes: no acquire and release per look-up."""
    before = await settled(pool)
    keeping = PgStore(pool, "chiyoda-tax", idle=0.2)
    assert await keeping.by_token("taxpayers", "t1") == ("k1", {"income": 1})
    assert await keeping.by_token("taxpayers", "t2") == ("k2", {"income": 2})
    assert in_use(pool) == before + 1  # kept, not released, between the two batches
    found = await asyncio.gather(*(keeping.by_token("taxpayers", f"t{i}") for i in range(5)))
    assert found == [(f"k{i}", {"income": i}) for i in range(5)]
    assert in_use(pool) == before + 1  # one connection still, whatever the batch
    await asyncio.sleep(0.5)  # idle past its 0.2 s: back in the pool
    assert in_use(pool) == before
    assert await keeping.by_token("taxpayers", "t3") == ("k3", {"income": 3})
    await keeping.close()
    assert in_use(pool) == before
    assert await keeping.by_token("taxpayers", "t4") == ("k4", {"income": 4})  # works after
    await keeping.close()


async def test_a_failed_look_up_gives_its_connection_back(pool: asyncpg.Pool) -> None:
    missing = PgStore(pool, "never-migrated")
    before = await settled(pool)
    with pytest.raises(asyncpg.UndefinedTableError):
        await missing.by_token("taxpayers", "t1")
    assert in_use(pool) == before  # not kept: the pool checks and resets it
    await missing.migrate()
    assert await missing.by_token("taxpayers", "t1") is None
    await missing.close()
    assert in_use(pool) == before


async def test_a_look_up_cancelled_mid_query_gives_its_connection_back(
    pool: asyncpg.Pool,
) -> None:
    """A caller that gives up leaves the batch to end; the batch itself cancelled (the office
    stopping) hands its connection back to the pool, which resets or replaces it."""
    slow = PgStore(pool, "slow")
    await slow.migrate()
    before = await settled(pool)
    async with pool.acquire() as conn, conn.transaction():  # holds the table: the look-up waits
        await conn.execute("LOCK TABLE office_slow.docs IN ACCESS EXCLUSIVE MODE")
        batch = asyncio.ensure_future(slow._look_up([("taxpayers", "t1")]))
        await asyncio.sleep(0.2)
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
    await asyncio.sleep(0.2)
    assert in_use(pool) == before
    assert await slow.by_token("taxpayers", "t1") is None  # a fresh connection works
    await slow.close()
    assert in_use(pool) == before


async def test_a_closed_store_lets_the_pool_close_at_once(pool: asyncpg.Pool) -> None:
    async with fresh_database("renkei_store_close") as dsn:
        own = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        office = PgStore(own, "chiyoda-tax", idle=60.0)  # only close gives it back in time
        await office.migrate()
        assert await office.by_token("taxpayers", "t1") is None
        await office.close()
        await asyncio.wait_for(own.close(), 5)


def in_use(pool: asyncpg.Pool) -> int:
    """Connections of ``pool`` acquired and not released."""
    return pool.get_size() - pool.get_idle_size()


async def test_two_look_ups_at_once_outside_the_batcher_keep_one_connection(
    pool: asyncpg.Pool, store: PgStore
) -> None:
    office = PgStore(pool, "chiyoda-tax")
    before = await settled(pool)
    found = await asyncio.gather(*(office._look_up([("taxpayers", f"t{i}")]) for i in (1, 2)))
    assert found == [[("k1", {"income": 1})], [("k2", {"income": 2})]]
    await asyncio.sleep(0.1)
    assert in_use(pool) == before + 1  # the second kept is given back, not leaked
    await office.close()
    assert in_use(pool) == before


async def settled(pool: asyncpg.Pool) -> int:
    """Connections in use once the other tests' stores have given theirs back (idle)."""
    for _ in range(50):
        if in_use(pool) == 0:
            break
        await asyncio.sleep(0.1)
    return in_use(pool)


async def test_a_look_up_with_none_in_flight_runs_in_its_callers_task(
    pool: asyncpg.Pool, store: PgStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At one in flight (every look-up then): no batch task, no hand-over between tasks."""
    office = PgStore(pool, "chiyoda-tax")
    looking = office._look_up
    ran_in: list[asyncio.Task[Any] | None] = []

    async def where(wanted: list[tuple[str, str]]) -> list[Any]:
        ran_in.append(asyncio.current_task())
        return await looking(wanted)

    monkeypatch.setattr(office._lookups, "_flush", where)
    for i in range(3):
        assert await office.by_token("taxpayers", f"t{i}") == (f"k{i}", {"income": i})
    assert ran_in == [asyncio.current_task()] * 3  # no batch task: the caller's own
    await office.close()


async def test_look_ups_asked_meanwhile_go_in_one_batch_after_it_never_two_at_once(
    pool: asyncpg.Pool, store: PgStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    office = PgStore(pool, "chiyoda-tax")
    looking = office._look_up
    batches: list[int] = []
    at_once = [0, 0]  # now, most

    async def counted(wanted: list[tuple[str, str]]) -> list[Any]:
        at_once[0] += 1
        at_once[1] = max(at_once)
        batches.append(len(wanted))
        try:
            if len(batches) == 1:  # still in flight when the others ask, then fails
                await asyncio.sleep(0.05)
                raise asyncpg.PostgresError("the first one fails")
            return await looking(wanted)
        finally:
            at_once[0] -= 1

    monkeypatch.setattr(office._lookups, "_flush", counted)
    first = asyncio.ensure_future(office.by_token("taxpayers", "t0"))
    await asyncio.sleep(0)  # running alone
    rest = [asyncio.ensure_future(office.by_token("taxpayers", f"t{i}")) for i in range(1, 6)]
    with pytest.raises(asyncpg.PostgresError):
        await first
    assert await asyncio.gather(*rest) == [(f"k{i}", {"income": i}) for i in range(1, 6)]
    assert batches == [1, 5]  # the one alone, then the others together
    assert at_once[1] == 1
    assert await office.by_token("taxpayers", "t7") == ("k7", {"income": 7})  # alone again
    assert batches == [1, 5, 1]
    await office.close()
