"""The pure hash chain: building, canonical encoding, checkpoints and verification."""

from __future__ import annotations

import dataclasses
import itertools
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.records import (
    GENESIS_HASH,
    AccessRecord,
    Checkpoint,
    InvalidRecord,
    RecordDraft,
    RecordsError,
    Verifier,
    VerifyReport,
    chain,
    sign_checkpoint,
    verify,
)
from hub.records.chain import due_checkpoints, encode_record, record_hash, seal, span_intact

DraftFactory = Callable[..., RecordDraft]


def build(draft: DraftFactory, n: int) -> list[AccessRecord]:
    return chain(GENESIS_HASH, 1, [draft(i) for i in range(n)])


def test_chain_assigns_contiguous_seqs_and_links(draft: DraftFactory) -> None:
    records = build(draft, 5)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
    assert all(len(r.hash) == 32 for r in records)


def test_chain_continues_from_a_head(draft: DraftFactory) -> None:
    first = build(draft, 3)
    more = chain(first[-1].hash, 4, [draft(10), draft(11)])
    assert [r.seq for r in more] == [4, 5]
    key = Ed25519PrivateKey.generate()
    assert verify([*first, *more[:-1], seal(key, more[-1])], [], key.public_key()).ok


def test_encoding_is_stable_across_versions() -> None:
    """Pins format version 1: changing the layout must come with a new version byte."""
    d = RecordDraft(
        record_id=UUID(int=1),
        query_id=UUID(int=2),
        requester="welfare-01",
        provider="municipality-02",
        affair="child_allowance.eligibility",
        items=("income", "household"),
        asked_at=datetime(2024, 6, 3, 9, 0, tzinfo=UTC),
        answered_at=datetime(2024, 6, 3, 9, 0, 0, 3000, tzinfo=UTC),
        outcome="ok",
        person="p-1",
        query_digest=bytes(range(32)),
        reply_digest=b"",
    )

    def text(s: str) -> bytes:
        return struct.pack(">I", len(s.encode())) + s.encode()

    t0 = 1717405200 * 1_000_000  # 2024-06-03T09:00:00Z in microseconds
    expected = b"".join(
        [
            b"\x01",
            struct.pack(">Q", 1),
            bytes(32),
            UUID(int=1).bytes,
            UUID(int=2).bytes,
            text("welfare-01"),
            text("municipality-02"),
            text("child_allowance.eligibility"),
            struct.pack(">I", 2),
            text("income"),
            text("household"),
            struct.pack(">qq", t0, t0 + 3000),
            text("ok"),
            text(""),
            text("p-1"),
            struct.pack(">I", 32) + bytes(range(32)),
            struct.pack(">I", 0),
        ]
    )
    assert encode_record(1, GENESIS_HASH, d) == expected
    assert record_hash(1, GENESIS_HASH, d).hex() == (
        "79ba965a2663d0b1733c749f7f16ee02e342027892534a34d5921c79d7499f84"
    )


def test_encoding_is_unambiguous(draft: DraftFactory) -> None:
    a = draft(2, requester="ab", provider="c")
    b = dataclasses.replace(a, requester="a", provider="bc")
    c = dataclasses.replace(a, items=("income,household",))
    d = dataclasses.replace(a, items=("income", "household"))
    hashes = {record_hash(1, GENESIS_HASH, x) for x in (a, b, c, d)}
    assert len(hashes) == 4


def test_time_zone_of_input_does_not_change_the_hash(draft: DraftFactory) -> None:
    jst = timezone(timedelta(hours=9))
    utc = draft(1)
    local = dataclasses.replace(
        utc, asked_at=utc.asked_at.astimezone(jst), answered_at=utc.answered_at.astimezone(jst)
    )
    assert local.asked_at.tzinfo is UTC
    assert record_hash(1, GENESIS_HASH, utc) == record_hash(1, GENESIS_HASH, local)


def test_not_disclosed_is_outside_the_hashed_content(draft: DraftFactory) -> None:
    d = draft(1)
    assert record_hash(1, GENESIS_HASH, d) == record_hash(
        1, GENESIS_HASH, dataclasses.replace(d, not_disclosed=True)
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"outcome": "maybe"},
        {"asked_at": datetime(2024, 1, 1)},  # naive on purpose
        {"query_digest": b"short"},
        {"reply_digest": b"x" * 31},
        {"requester": ""},
        {"reason": "nul\x00byte"},
        {"items": "income"},
        {"items": ("ok", "\ud800")},
        {"person": 12},
    ],
)
def test_invalid_drafts_are_refused(draft: DraftFactory, overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidRecord) as info:
        draft(1, **overrides)
    assert isinstance(info.value, RecordsError)
    assert info.value.code == "records.invalid"


def test_due_checkpoints() -> None:
    assert list(due_checkpoints(0, 999, 1000)) == []
    assert list(due_checkpoints(999, 1000, 1000)) == [1000]
    assert list(due_checkpoints(990, 3010, 1000)) == [1000, 2000, 3000]
    assert list(due_checkpoints(1000, 1999, 1000)) == []


def test_intact_chain_with_checkpoints_verifies(draft: DraftFactory) -> None:
    key = Ed25519PrivateKey.generate()
    records = build(draft, 10)
    records[-1] = seal(key, records[-1])
    cps = [sign_checkpoint(key, r.seq, r.hash) for r in records[2::3]]
    report = verify(iter(records), cps, key.public_key())
    assert report.ok, report.detail
    assert (report.records_checked, report.checkpoints_checked, report.seals_checked) == (10, 3, 1)
    assert (report.last_seq, report.last_hash) == (10, records[-1].hash)
    assert verify([], [], key.public_key()).ok


def test_changed_record_is_named(draft: DraftFactory) -> None:
    records = build(draft, 6)
    records[3] = dataclasses.replace(records[3], outcome="refused")
    report = verify(records, [], Ed25519PrivateKey.generate().public_key())
    assert not report.ok
    assert (report.first_bad_seq, report.problem) == (4, "hash_mismatch")
    assert "record seq 4 was changed" in str(report)


def test_rehashed_record_breaks_the_next_link(draft: DraftFactory) -> None:
    records = build(draft, 6)
    forged = dataclasses.replace(records[3], person="someone-else")
    records[3] = dataclasses.replace(forged, hash=record_hash(4, forged.prev_hash, forged))
    report = verify(records, [], Ed25519PrivateKey.generate().public_key())
    assert (report.first_bad_seq, report.problem) == (5, "broken_link")


def test_removed_and_reordered_records_are_named(draft: DraftFactory) -> None:
    key = Ed25519PrivateKey.generate().public_key()
    records = build(draft, 6)
    gap = verify(records[:2] + records[3:], [], key)
    assert (gap.first_bad_seq, gap.problem) == (3, "seq_gap")
    assert "record seq 3 is missing" in gap.detail
    first = verify(records[1:], [], key)
    assert (first.first_bad_seq, first.problem) == (1, "seq_gap")
    swapped = [*records[:2], records[3], records[2], *records[4:]]
    assert verify(swapped, [], key).first_bad_seq == 3
    duplicated = [*records[:3], records[2], *records[3:]]
    assert verify(duplicated, [], key).problem == "out_of_order"


def test_removal_from_the_end_is_caught_by_a_checkpoint(draft: DraftFactory) -> None:
    key = Ed25519PrivateKey.generate()
    records = build(draft, 6)
    cps = [sign_checkpoint(key, 6, records[-1].hash)]
    report = verify(records[:4], cps, key.public_key())
    assert (report.first_bad_seq, report.problem) == (5, "truncated")
    assert "removed from the end" in report.detail


def test_known_head_catches_truncation_and_rewrites(draft: DraftFactory) -> None:
    hub_key = Ed25519PrivateKey.generate()
    key = hub_key.public_key()
    records = [seal(hub_key, r) for r in build(draft, 6)]  # every record a batch of its own
    head = (6, records[-1].hash)
    assert verify(records, [], key, known_head=head).ok
    assert verify(records[:5], [], key, known_head=head).problem == "truncated"
    rewritten = chain(GENESIS_HASH, 1, [draft(100 + i) for i in range(8)])
    report = verify(rewritten, [], key, known_head=head)
    assert (report.first_bad_seq, report.problem) == (6, "head_mismatch")


def test_bad_checkpoints_are_named(draft: DraftFactory) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    records = build(draft, 6)
    good = sign_checkpoint(key, 3, records[2].hash)
    forged = sign_checkpoint(other, 3, records[2].hash)
    altered = dataclasses.replace(good, signed_at=good.signed_at + timedelta(seconds=1))
    for cp in (forged, altered, dataclasses.replace(good, signature=b"\x00" * 5)):
        report = verify(records, [cp], key.public_key())
        assert (report.first_bad_seq, report.problem) == (3, "bad_checkpoint_signature")
    # A whole rewrite with recomputed hashes: the signed checkpoint no longer matches.
    rewritten = chain(GENESIS_HASH, 1, [draft(100 + i) for i in range(6)])
    report = verify(rewritten, [good], key.public_key())
    assert (report.first_bad_seq, report.problem) == (3, "checkpoint_mismatch")


# ---- one record, proved to a resident (span_intact) ------------------------------------------


def test_a_span_up_to_its_signed_checkpoint_is_intact(
    draft: DraftFactory, hub_key: Ed25519PrivateKey
) -> None:
    records = chain(GENESIS_HASH, 1, [draft(i) for i in range(6)])
    cp = sign_checkpoint(hub_key, records[4].seq, records[4].hash)
    public = hub_key.public_key()
    assert span_intact(records[1:5], cp, public)  # record 3's predecessor to checkpoint 5
    assert span_intact(records[1:3], None, public)  # no checkpoint yet: the links alone
    assert not span_intact(records[1:4], cp, public)  # stops short of the checkpoint
    assert not span_intact([records[1], records[3], records[4]], cp, public)  # a gap
    altered = dataclasses.replace(records[2], affair="something_else")
    assert not span_intact([records[1], altered, records[3], records[4]], cp, public)
    forged = sign_checkpoint(Ed25519PrivateKey.generate(), records[4].seq, records[4].hash)
    assert not span_intact(records[1:5], forged, public)
    assert not span_intact([], None, public)


def test_a_verifier_continues_after_a_verified_head(draft: DraftFactory) -> None:
    """``start``: the records after a head verified before, as the monitor reads them."""
    key = Ed25519PrivateKey.generate()
    records = build(draft, 8)
    records[4], records[7] = seal(key, records[4]), seal(key, records[7])
    cps = [sign_checkpoint(key, r.seq, r.hash) for r in (records[2], records[6])]
    head = (5, records[4].hash)

    def cont(rs: list[AccessRecord], checkpoints: list[Checkpoint] = cps) -> VerifyReport:
        v = Verifier(checkpoints, key.public_key(), start=head, every=1000)
        for r in rs:
            v.feed(r)
        return v.finish()

    report = cont(records[5:])
    assert report.ok, report.detail
    assert (report.records_checked, report.checkpoints_checked, report.last_seq) == (3, 1, 8)
    assert cont([], cps[:1]).ok  # nothing new, and no checkpoint beyond the head
    assert cont([]).problem == "truncated"  # the checkpoint at seq 7 names a record gone
    assert cont(records[6:]).problem == "seq_gap"  # seq 6 missing
    changed = dataclasses.replace(records[5], outcome="refused")
    assert cont([changed, *records[6:]]).problem == "hash_mismatch"
    other = chain(records[3].hash, 6, [draft(20)])  # links to seq 4, not the head
    assert cont(other).problem == "broken_link"
    assert cont(records[5:6], cps[:1]).problem == "unsigned_tail"  # no seal on seq 6
    forged = sign_checkpoint(Ed25519PrivateKey.generate(), 7, records[6].hash)
    assert cont(records[5:], [forged]).problem == "bad_checkpoint_signature"
