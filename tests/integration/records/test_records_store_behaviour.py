"""One behaviour suite, run against MemoryRecordStore and PgRecordStore alike."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.records import (
    Claim,
    ClaimState,
    ConfigError,
    HeldReply,
    InvalidRecord,
    MemoryRecordStore,
    PgRecordStore,
    RecordDraft,
    RecordNotFound,
    RecordStore,
    disclose,
    verify_store,
)

pytestmark = pytest.mark.postgres

DraftFactory = Callable[..., RecordDraft]
StoreFactory = Callable[..., Awaitable[RecordStore]]


async def test_append_round_trips_in_chain_order(
    make_store: StoreFactory, draft: DraftFactory, hub_key: Ed25519PrivateKey
) -> None:
    store = await make_store(every=3)
    ds = [draft(i, reply_digest=b"" if i == 1 else draft(i).reply_digest) for i in range(5)]
    assert await store.append(ds) == [True] * 5
    assert await store.append([]) == []
    records = [r async for r in store.iter_all()]
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    for d, r in zip(ds, records, strict=True):
        as_draft = {f.name: getattr(r, f.name) for f in dataclasses.fields(RecordDraft)}
        assert RecordDraft(**as_draft) == d
    assert [cp.seq for cp in await store.checkpoints()] == [3]
    assert await store.count() == 5
    assert await store.exists([ds[0].query_id, uuid4()]) == {ds[0].query_id}
    assert (await verify_store(store, hub_key.public_key())).ok


async def test_the_first_outcome_wins_and_duplicates_write_nothing(
    make_store: StoreFactory, draft: DraftFactory
) -> None:
    store = await make_store()
    ds = [draft(i) for i in range(3)]
    await store.append(ds)
    redelivered = [dataclasses.replace(d, record_id=uuid4(), outcome="error") for d in ds]
    assert await store.append(redelivered) == [False, False, False]
    fresh = draft(9)
    twin = dataclasses.replace(fresh, record_id=uuid4())
    assert await store.append([ds[0], fresh, twin]) == [False, True, False]
    assert [r.outcome async for r in store.iter_all()] == ["ok"] * 4
    assert await store.count() == 4


async def test_residents_lookups(make_store: StoreFactory, draft: DraftFactory) -> None:
    store = await make_store()
    ds = [draft(i, person="p-1") for i in range(6)]
    await store.append([*ds, draft(7, person="p-2")])
    assert [r.seq for r in await store.for_person("p-1")] == [1, 2, 3, 4, 5, 6]
    assert [r.seq for r in await store.for_person("p-1", newest=2)] == [5, 6]
    assert [r.seq for r in await store.for_person("p-1", newest=10)] == [1, 2, 3, 4, 5, 6]
    assert [r.seq for r in await store.for_person("p-1", since=ds[3].asked_at)] == [4, 5, 6]
    assert [r.seq for r in await store.for_person("p-1", until=ds[1].asked_at)] == [1]
    office = ds[4].provider
    found = await store.for_person("p-1", office=office)
    assert 5 in {r.seq for r in found}
    assert all(office in (r.requester, r.provider) for r in found)
    assert await store.for_person("nobody") == []
    with pytest.raises(InvalidRecord):
        await store.for_person("p-1", since=datetime(2024, 1, 1))  # naive


async def test_disclosure_flag_hides_lifts_and_verifies(
    make_store: StoreFactory, draft: DraftFactory, hub_key: Ed25519PrivateKey
) -> None:
    store = await make_store()
    ds = [draft(i, person="p-1", not_disclosed=i == 2) for i in range(5)]
    await store.append(ds)
    assert [r.seq for r in await store.for_person("p-1")] == [1, 2, 4, 5]
    everything = await store.for_person("p-1", include_not_disclosed=True)
    assert [r.not_disclosed for r in everything] == [False, False, True, False, False]
    assert [r.not_disclosed async for r in store.iter_all()] == [False, False, True, False, False]

    await store.set_not_disclosed(ds[0].record_id, True, actor="police-01", reason="case 7")
    lifted = await store.set_not_disclosed(ds[2].record_id, False, actor="police-01")
    assert lifted.change_seq == 3
    assert [r.seq for r in await store.for_person("p-1")] == [2, 3, 4, 5]
    assert [(c.actor, c.not_disclosed) for c in await store.flag_changes()] == [
        ("hub.records", True),
        ("police-01", True),
        ("police-01", False),
    ]
    with pytest.raises(RecordNotFound):
        await store.set_not_disclosed(uuid4(), True)
    report = await verify_store(store, hub_key.public_key())
    assert report.ok, str(report)
    assert report.flags.last_seq == 3


async def test_signing_the_head(
    make_store: StoreFactory, draft: DraftFactory, hub_key: Ed25519PrivateKey
) -> None:
    store = await make_store(every=4)
    assert await store.sign_head() is None
    await store.append([draft(i) for i in range(6)])
    head = await store.sign_head()
    assert head is not None
    assert (head.seq, head.flag_seq) == (6, 0)
    assert await store.sign_head() == head
    assert [cp.seq for cp in await store.checkpoints()] == [4, 6]
    report = await verify_store(store, hub_key.public_key())
    assert report.records.checkpoints_checked == 2


async def test_settings_are_checked(make_store: StoreFactory) -> None:
    with pytest.raises(ConfigError):
        await make_store(every=0)


async def test_a_flag_with_an_end_withholds_until_then_and_can_be_lifted_before(
    make_store: StoreFactory, draft: DraftFactory, hub_key: Ed25519PrivateKey
) -> None:
    store = await make_store()
    d = draft(1, person="p-1")
    end = d.asked_at + timedelta(days=365)
    withheld = dataclasses.replace(
        d, not_disclosed=True, withheld_until=end, withheld_reason="r08: 調査 (model)"
    )
    await store.append([withheld, draft(2, person="p-1")])
    assert [r.seq for r in await store.for_person("p-1", at=end - timedelta(seconds=1))] == [2]
    assert [r.seq for r in await store.for_person("p-1", at=end)] == [1, 2]  # it ended
    [first, _] = await store.for_person("p-1", include_not_disclosed=True, at=d.asked_at)
    assert (first.not_disclosed, first.withheld_until) == (True, end)
    assert first.withheld_reason == "r08: 調査 (model)"
    [change] = await store.flag_changes()
    assert (change.actor, change.withheld_until, change.reason) == (
        "hub.records",
        end,
        "r08: 調査 (model)",
    )
    assert [r.not_disclosed async for r in store.iter_all()] == [False, False]  # ended by now
    later = datetime.now(end.tzinfo) + timedelta(days=30)
    await store.set_not_disclosed(
        d.record_id, True, actor="op", reason="again", withheld_until=later
    )
    assert [r.not_disclosed async for r in store.iter_all()] == [True, False]
    await disclose(store, d.record_id, actor="oversight", reason="closed")
    assert [r.seq for r in await store.for_person("p-1")] == [1, 2]
    [shown, _] = await store.for_person("p-1")
    assert (shown.not_disclosed, shown.withheld_until, shown.withheld_reason) == (False, None, "")
    report = await verify_store(store, hub_key.public_key())
    assert report.ok, str(report)
    assert report.flags.last_seq == 3


async def test_a_key_is_claimed_once_and_a_record_keeps_it_taken(
    make_store: StoreFactory, draft: DraftFactory
) -> None:
    store = await make_store()
    a, b = b"a" * 32, b"b" * 32
    k1, k2 = uuid4(), uuid4()
    t0 = datetime.fromisoformat("2025-06-02T09:00:00+00:00")
    assert await store.claim([Claim(k1, a), Claim(k2, a), Claim(k2, b)], t0) == [
        ClaimState(True),
        ClaimState(True),
        ClaimState(False, a),  # twice in one batch: the first claim takes it
    ]
    assert await store.claim([Claim(k1, b)], t0) == [ClaimState(False, a)]
    recorded = draft(3)
    await store.append([recorded])
    assert await store.claim([Claim(recorded.query_id, a)], t0) == [
        ClaimState(False, None, recorded=True)  # a record takes its key, claim or not
    ]
    assert await store.forget_claims(t0) == 0
    assert await store.forget_claims(t0 + timedelta(seconds=1)) == 2
    assert await store.claim([Claim(k1, b)], t0) == [ClaimState(True)]  # forgotten


async def test_a_held_reply_is_kept_once_per_key_and_digest_until_its_time(
    make_store: StoreFactory,
) -> None:
    store = await make_store()
    a, b = b"a" * 32, b"b" * 32
    k1, k2 = uuid4(), uuid4()
    t0 = datetime.fromisoformat("2025-06-02T09:00:00+00:00")
    later = t0 + timedelta(minutes=5)
    await store.hold_replies([HeldReply(k1, a, b"first", t0), HeldReply(k1, b, b"other", later)])
    await store.hold_replies([HeldReply(k1, a, b"again", later), HeldReply(k2, a, b"k2", t0)])
    assert await store.held_reply(k1, a) == b"first"  # kept as it was first held
    assert await store.held_reply(k1, b) == b"other"
    assert await store.held_reply(k2, b) is None
    assert await store.forget_held(t0) == 0
    assert await store.forget_held(t0 + timedelta(seconds=1)) == 2
    assert [await store.held_reply(k, d) for k, d in ((k1, a), (k1, b), (k2, a))] == [
        None,
        b"other",
        None,
    ]


async def test_two_workers_claim_a_key_once(
    make_store: StoreFactory,
    pool: asyncpg.Pool,
    schema: str,
    hub_key: Ed25519PrivateKey,
) -> None:
    first = await make_store()
    second = first
    if isinstance(first, PgRecordStore):  # another worker: its own store on the same tables
        second = PgRecordStore(pool, schema, signing_key=hub_key)
    else:
        assert isinstance(first, MemoryRecordStore)
    at = datetime.fromisoformat("2025-06-02T09:00:00+00:00")
    keys = [uuid4() for _ in range(200)]
    claims = [
        store.claim([Claim(k, bytes([n]) * 32)], at)
        for k in keys
        for n, store in enumerate((first, second))
    ]
    states = [s for batch in await asyncio.gather(*claims) for s in batch]
    assert sum(s.fresh for s in states) == len(keys)  # one of each pair, whichever came first
