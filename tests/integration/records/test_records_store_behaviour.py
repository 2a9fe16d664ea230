"""One behaviour suite, run against MemoryRecordStore and PgRecordStore alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.records import (
    ConfigError,
    InvalidRecord,
    RecordDraft,
    RecordNotFound,
    RecordStore,
    verify_store,
)

pytestmark = pytest.mark.integration

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
