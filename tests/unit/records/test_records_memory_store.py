"""MemoryRecordStore: idempotent appends, lookups, the disclosure-flag log, checkpoints."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.records import (
    InvalidRecord,
    MemoryRecordStore,
    RecordDraft,
    RecordNotFound,
    RecordStore,
    verify_flags,
    verify_store,
)

DraftFactory = Callable[..., RecordDraft]


@pytest.fixture
def store(hub_key: Ed25519PrivateKey) -> MemoryRecordStore:
    return MemoryRecordStore(signing_key=hub_key, checkpoint_every=4)


def test_memory_store_satisfies_the_port(store: MemoryRecordStore) -> None:
    port: RecordStore = store
    assert port.public_key is not None


async def test_append_chains_and_is_idempotent_per_query(
    store: MemoryRecordStore, draft: DraftFactory
) -> None:
    a, b = draft(1), draft(2)
    assert await store.append([a, b]) == [True, True]
    again = dataclasses.replace(a, outcome="error", record_id=uuid4())
    assert await store.append([again, draft(3), draft(3, query_id=b.query_id)]) == [
        False,
        True,
        False,
    ]
    assert await store.count() == 3
    records = [r async for r in store.iter_all()]
    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0].outcome == "ok"  # the first outcome wins
    assert await store.exists([a.query_id, uuid4()]) == {a.query_id}


async def test_same_query_twice_in_one_batch_records_once(
    store: MemoryRecordStore, draft: DraftFactory
) -> None:
    d = draft(1)
    assert await store.append([d, dataclasses.replace(d, record_id=uuid4())]) == [True, False]
    assert await store.append([]) == []
    assert await store.count() == 1


async def test_reused_record_id_is_refused(store: MemoryRecordStore, draft: DraftFactory) -> None:
    d = draft(1)
    await store.append([d])
    with pytest.raises(InvalidRecord):
        await store.append([draft(2, record_id=d.record_id)])


async def test_checkpoints_every_n_and_on_demand(
    store: MemoryRecordStore, draft: DraftFactory, hub_key: Ed25519PrivateKey
) -> None:
    assert await store.sign_head() is None
    await store.append([draft(i) for i in range(3)])
    assert await store.checkpoints() == []
    await store.append([draft(i) for i in range(3, 10)])
    assert [cp.seq for cp in await store.checkpoints()] == [4, 8]
    head = await store.sign_head()
    assert head is not None
    assert head.seq == 10
    assert await store.sign_head() == head
    report = await verify_store(store, hub_key.public_key())
    assert report.ok, str(report)
    assert report.records.checkpoints_checked == 3


async def test_for_person_filters(store: MemoryRecordStore, draft: DraftFactory) -> None:
    ds = [draft(i, person="p-1" if i % 2 else "p-2") for i in range(8)]
    await store.append(ds)
    mine = await store.for_person("p-1")
    assert [r.query_id for r in mine] == [d.query_id for d in ds if d.person == "p-1"]
    since = ds[3].asked_at
    assert [r.seq for r in await store.for_person("p-1", since=since)] == [4, 6, 8]
    until = ds[5].asked_at
    assert [r.seq for r in await store.for_person("p-1", until=until)] == [2, 4]
    office = ds[1].provider
    by_office = await store.for_person("p-1", office=office)
    assert by_office
    assert all(office in (r.requester, r.provider) for r in by_office)
    assert await store.for_person("nobody") == []
    assert await store.for_person("p-1", since=since + timedelta(days=1)) == []


async def test_not_disclosed_flag_hides_and_lifts_without_breaking_the_chain(
    store: MemoryRecordStore, draft: DraftFactory, hub_key: Ed25519PrivateKey
) -> None:
    ds = [draft(0, person="p"), draft(1, person="p", not_disclosed=True), draft(2, person="p")]
    await store.append(ds)
    assert [r.seq for r in await store.for_person("p")] == [1, 3]
    everything = await store.for_person("p", include_not_disclosed=True)
    assert [r.not_disclosed for r in everything] == [False, True, False]

    await store.set_not_disclosed(ds[2].record_id, True, actor="police-01", reason="case 42")
    assert [r.seq for r in await store.for_person("p")] == [1]
    lifted = await store.set_not_disclosed(ds[1].record_id, False, actor="police-01")
    assert lifted.change_seq == 3
    assert [r.seq for r in await store.for_person("p")] == [1, 2]

    changes = await store.flag_changes()
    assert [(c.actor, c.not_disclosed) for c in changes] == [
        ("hub.records", True),
        ("police-01", True),
        ("police-01", False),
    ]
    report = await verify_store(store, hub_key.public_key())
    assert report.ok, str(report)
    with pytest.raises(RecordNotFound):
        await store.set_not_disclosed(uuid4(), True)


async def test_flag_log_tampering_is_detected(
    store: MemoryRecordStore, draft: DraftFactory, hub_key: Ed25519PrivateKey
) -> None:
    ds = [draft(i) for i in range(3)]
    await store.append(ds)
    for d in ds:
        await store.set_not_disclosed(d.record_id, True, actor="police-01")
    changes = await store.flag_changes()
    key = hub_key.public_key()
    assert verify_flags(changes, key).ok
    flipped = [changes[0], dataclasses.replace(changes[1], not_disclosed=False), changes[2]]
    assert verify_flags(flipped, key).problem == "hash_mismatch"
    assert verify_flags([changes[0], changes[2]], key).problem == "seq_gap"
    forged = dataclasses.replace(changes[2], signature=bytes(64))
    report = verify_flags([*changes[:2], forged], key)
    assert (report.first_bad_seq, report.problem) == (3, "bad_signature")


async def test_cutting_the_flag_log_short_is_caught_by_checkpoints(
    store: MemoryRecordStore, draft: DraftFactory, hub_key: Ed25519PrivateKey
) -> None:
    ds = [draft(i) for i in range(3)]
    await store.append(ds)
    await store.set_not_disclosed(ds[0].record_id, True, actor="police-01")
    await store.set_not_disclosed(ds[0].record_id, False, actor="police-01")
    key = hub_key.public_key()
    changes, cps = await store.flag_changes(), await store.checkpoints()
    assert [(cp.seq, cp.flag_seq) for cp in cps] == [(3, 1), (3, 2)]
    assert verify_flags(changes, key, cps).ok
    report = verify_flags(changes[:1], key, cps)  # "lifted" removed: the record hides again
    assert (report.first_bad_seq, report.problem) == (2, "truncated")
    assert verify_flags([], key, cps).problem == "truncated"
    other = dataclasses.replace(changes[1], hash=bytes(32))
    assert not verify_flags([changes[0], other], key, cps).ok


async def test_tampering_inside_the_store_is_detected(
    store: MemoryRecordStore, draft: DraftFactory, hub_key: Ed25519PrivateKey
) -> None:
    await store.append([draft(i) for i in range(6)])
    store._records[2] = dataclasses.replace(store._records[2], person="other")
    report = await verify_store(store, hub_key.public_key())
    assert not report.ok
    assert report.records.first_bad_seq == 3
    assert "record seq 3 was changed" in str(report)
