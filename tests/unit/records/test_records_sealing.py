"""Seals, due checkpoints, the unsigned tail and the witness in the pure verifier; the stores
refusing to build on a head the hub did not sign (memory store here, PostgreSQL in
tests/integration/records)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.records import (
    GENESIS_HASH,
    AccessRecord,
    MemoryRecordStore,
    RecordDraft,
    UnsignedHead,
    chain,
    sign_checkpoint,
    verify,
    verify_flags,
    verify_store,
)
from hub.records.checkpoints import check_head, checkpoint_seqs, seal

DraftFactory = Callable[..., RecordDraft]


def batches(key: Ed25519PrivateKey, draft: DraftFactory, *sizes: int) -> list[AccessRecord]:
    """Records as the stores write them: the last of each batch sealed."""
    out: list[AccessRecord] = []
    for size in sizes:
        prev = out[-1].hash if out else GENESIS_HASH
        more = chain(prev, len(out) + 1, [draft(len(out) + i) for i in range(size)])
        more[-1] = seal(key, more[-1])
        out += more
    return out


def test_a_sealed_chain_verifies_and_counts_its_seals(
    hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    records = batches(hub_key, draft, 3, 1, 4)
    report = verify(records, [], hub_key.public_key())
    assert report.ok, report.detail
    assert (report.records_checked, report.seals_checked) == (8, 3)


def test_records_after_the_last_seal_are_an_unsigned_tail(
    hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    records = batches(hub_key, draft, 3, 4)
    forged = chain(records[-1].hash, 8, [draft(80), draft(81)])
    report = verify([*records, *forged], [], hub_key.public_key())
    assert (report.ok, report.problem, report.first_bad_seq) == (False, "unsigned_tail", 8)
    assert report.detail.startswith("unsigned tail, 2 records (seq 8–9)")
    assert (report.last_seq, report.last_hash) == (9, forged[-1].hash)
    cut = verify(records[:5], [], hub_key.public_key())  # cut inside a batch
    assert (cut.problem, cut.first_bad_seq) == ("unsigned_tail", 4)
    assert verify([], [], hub_key.public_key()).ok  # nothing written, nothing to sign


def test_a_checkpoint_at_the_head_signs_it_as_a_seal_does(
    hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    """Chains written before seals existed end at a checkpoint (``sign_head``) or not at all."""
    records = chain(GENESIS_HASH, 1, [draft(i) for i in range(5)])
    head = sign_checkpoint(hub_key, 5, records[-1].hash)
    assert verify(records, [head], hub_key.public_key()).ok
    assert verify(records, [], hub_key.public_key()).problem == "unsigned_tail"


def test_a_bad_seal_is_named(hub_key: Ed25519PrivateKey, draft: DraftFactory) -> None:
    records = batches(hub_key, draft, 3, 3)
    key = hub_key.public_key()
    other = seal(Ed25519PrivateKey.generate(), records[2])
    late = dataclasses.replace(records[2].seal, signed_at=records[2].seal.signed_at + timedelta(1))  # type: ignore[union-attr]
    moved = dataclasses.replace(records[5].seal, seq=3, hash=records[2].hash)  # type: ignore[union-attr]
    for bad in (
        other,
        dataclasses.replace(records[2], seal=late),
        dataclasses.replace(records[2], seal=moved),
    ):
        report = verify([*records[:2], bad, *records[3:]], [], key)
        assert (report.problem, report.first_bad_seq) == ("bad_seal", 3), report.detail
        assert "the hub's seal on record seq 3 does not verify" in report.detail


def test_every_due_checkpoint_is_required(hub_key: Ed25519PrivateKey, draft: DraftFactory) -> None:
    records = batches(hub_key, draft, 7, 6)
    key = hub_key.public_key()
    due = [sign_checkpoint(hub_key, s, records[s - 1].hash) for s in (4, 8, 12)]
    assert verify(records, due, key, every=4).ok
    report = verify(records, [due[0], due[2]], key, every=4)
    assert (report.problem, report.first_bad_seq) == ("missing_checkpoint", 8)
    assert "the checkpoint due at seq 8 (the hub signs one every 4 records) is missing" in str(
        report
    )
    flag_only = sign_checkpoint(hub_key, 8, records[7].hash, flag_head=(1, bytes(32)))
    assert verify(records, [due[0], flag_only, due[2]], key, every=4).ok  # any signed one at 8


def test_the_witness_must_be_a_signed_head_of_the_chain(
    hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    records = batches(hub_key, draft, 3, 4, 2)
    key = hub_key.public_key()
    head = records[6].seal
    assert head is not None
    assert verify(records, [], key, witnessed=[head]).ok  # the chain has grown since: fine

    cut = verify(records[:3], [], key, witnessed=[head])  # ends sealed at 3, witness saw 7
    assert (cut.problem, cut.first_bad_seq) == ("truncated", 4)
    assert "the witness holds the hub's signed head at seq 7" in cut.detail

    rewritten = batches(hub_key, draft, 9)  # whatever the hub itself signed later ...
    report = verify(rewritten, [], key, witnessed=[head])  # ... must still contain it
    assert (report.problem, report.first_bad_seq) == ("witness_mismatch", 7)

    forged = sign_checkpoint(Ed25519PrivateKey.generate(), 7, records[6].hash)
    report = verify(records, [], key, witnessed=[forged])
    assert (report.problem, report.first_bad_seq) == ("bad_witness", 7)
    assert "the witness file was altered" in report.detail


async def test_the_witness_anchors_the_flag_log(
    hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    store = MemoryRecordStore(signing_key=hub_key)
    key = hub_key.public_key()
    ds = [draft(i) for i in range(3)]
    await store.append(ds)
    await store.set_not_disclosed(ds[0].record_id, True, actor="police-01")
    await store.set_not_disclosed(ds[1].record_id, True, actor="police-01")
    changes, newest = await store.flag_changes(), (await store.checkpoints())[-1]
    assert verify_flags(changes, key, (), [newest]).ok
    report = verify_flags(changes[:1], key, (), [newest])
    assert (report.problem, report.first_bad_seq) == ("truncated", 2)
    assert "the witness holds the hub's signed head after change 2" in report.detail
    altered = dataclasses.replace(newest, flag_hash=bytes(32))
    assert verify_flags(changes, key, (), [altered]).ok  # unsigned: the record check names it
    other = sign_checkpoint(hub_key, newest.seq, newest.hash, flag_head=(2, bytes(32)))
    report = verify_flags(changes, key, (), [other])
    assert (report.problem, report.first_bad_seq) == ("witness_mismatch", 2)


def test_checkpoint_seqs_and_check_head(hub_key: Ed25519PrivateKey, draft: DraftFactory) -> None:
    assert checkpoint_seqs(990, 3010, 1000, flags_changed=False) == [1000, 2000, 3000]
    assert checkpoint_seqs(990, 3010, 1000, flags_changed=True) == [1000, 2000, 3000, 3010]
    assert checkpoint_seqs(990, 1000, 1000, flags_changed=True) == [1000]
    assert checkpoint_seqs(3, 7, 1000, flags_changed=False) == []
    (r,) = chain(GENESIS_HASH, 1, [draft(1)])
    key = hub_key.public_key()
    check_head(r.seq, r.hash, (seal(hub_key, r).seal,), key)
    check_head(r.seq, r.hash, (None, sign_checkpoint(hub_key, 1, r.hash)), key)
    for signatures in ((None,), (sign_checkpoint(hub_key, 1, bytes(32)),), ()):
        with pytest.raises(UnsignedHead) as refused:
            check_head(r.seq, r.hash, signatures, key)
        assert refused.value.code == "records.unsigned_head"


async def test_the_memory_store_will_not_seal_over_a_record_it_did_not_write(
    hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    store = MemoryRecordStore(signing_key=hub_key, checkpoint_every=10)
    ds = [draft(i) for i in range(3)]
    await store.append(ds)
    (forged,) = chain(store._records[-1].hash, 4, [draft(40)])
    store._records.append(forged)  # as INSERT alone would add it
    for attempt in (
        store.append([draft(5)]),
        store.sign_head(),
        store.set_not_disclosed(ds[0].record_id, True, actor="police-01"),
    ):
        with pytest.raises(UnsignedHead):
            await attempt
    assert (len(store._records), await store.flag_changes(), await store.checkpoints()) == (
        4,
        [],
        [],
    )
    report = await verify_store(store, hub_key.public_key())
    assert (report.records.problem, report.records.first_bad_seq) == ("unsigned_tail", 4)


async def test_the_stores_seal_each_batch_and_anchor_each_flag_change(
    hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    noted: list[object] = []

    class Notebook:
        def note(self, checkpoints: object) -> None:
            noted.append(checkpoints)

    store = MemoryRecordStore(signing_key=hub_key, checkpoint_every=4, witness=Notebook())
    await store.append([draft(0), draft(1, not_disclosed=True), draft(2)])
    await store.append([draft(i) for i in range(3, 6)])
    records = [r async for r in store.iter_all()]
    assert [r.seq for r in records if r.seal] == [3, 6]
    cps = await store.checkpoints()
    assert [(cp.seq, cp.flag_seq) for cp in cps] == [(3, 1), (4, 1)]  # flag change; due at 4
    assert [[(cp.seq, cp.flag_seq) for cp in batch] for batch in noted] == [  # type: ignore[attr-defined]
        [(3, 0), (3, 1)],
        [(6, 0), (4, 1)],
    ]
    report = await verify_store(store, hub_key.public_key())
    assert report.ok, str(report)
    assert (report.records.seals_checked, report.records.checkpoints_checked) == (2, 2)
