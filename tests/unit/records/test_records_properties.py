"""Property tests: any single mutation of a valid chain is detected, at the right seq."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.records import GENESIS_HASH, AccessRecord, RecordDraft, chain, sign_checkpoint, verify
from hub.records.model import OUTCOMES

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key()

_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
_time = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
_digest = st.binary(min_size=32, max_size=32)

drafts = st.builds(
    RecordDraft,
    query_id=st.uuids(),
    requester=_text.filter(bool),
    provider=_text,
    affair=_text.filter(bool),
    items=st.lists(_text, max_size=4).map(tuple),
    asked_at=_time,
    answered_at=_time,
    outcome=st.sampled_from(sorted(OUTCOMES)),
    query_digest=_digest,
    reason=_text,
    person=_text,
    not_disclosed=st.booleans(),
    reply_digest=st.one_of(st.just(b""), _digest),
    record_id=st.uuids(),
)


@st.composite
def chains(draw: st.DrawFn) -> list[AccessRecord]:
    return chain(GENESIS_HASH, 1, draw(st.lists(drafts, min_size=1, max_size=12)))


def _changed(value: Any, k: int) -> Any:
    """A value of the same type that differs from ``value``."""
    match value:
        case bool():
            raise TypeError("not_disclosed is not hashed")
        case int():
            return value + k
        case str():
            return value + "x" if k % 2 else "y" + value
        case bytes() if value:
            return bytes([value[0] ^ (k % 255 + 1)]) + value[1:]
        case bytes():
            return b"\x01"
        case tuple():
            return (*value, "extra") if k % 2 or not value else value[:-1]
        case datetime():
            return value + timedelta(microseconds=k)
        case _:
            return uuid4()


FLAG = {"not_disclosed", "withheld_reason", "withheld_until"}  # the flag log's, not hashed
HASHED = [f.name for f in dataclasses.fields(AccessRecord) if f.name not in {*FLAG, "seal"}]


def _signed_head(records: list[AccessRecord]) -> list[Any]:
    return [sign_checkpoint(KEY, records[-1].seq, records[-1].hash)]


@settings(max_examples=150, deadline=None)
@given(chains())
def test_intact_chains_verify(records: list[AccessRecord]) -> None:
    report = verify(records, _signed_head(records), PUBLIC)
    assert report.ok, report.detail
    assert report.last_seq == len(records)


@settings(max_examples=300, deadline=None)
@given(chains(), st.data())
def test_any_field_change_is_detected(records: list[AccessRecord], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(records) - 1))
    name = data.draw(st.sampled_from(HASHED))
    k = data.draw(st.integers(1, 10**6))
    original = records[i]
    if name == "outcome":
        new: Any = data.draw(st.sampled_from(sorted(OUTCOMES - {original.outcome})))
    else:
        new = _changed(getattr(original, name), k)
    tampered = [*records[:i], dataclasses.replace(original, **{name: new}), *records[i + 1 :]]
    report = verify(tampered, _signed_head(records), PUBLIC)
    assert not report.ok
    assert report.first_bad_seq == i + 1, report.detail


@settings(max_examples=200, deadline=None)
@given(chains(), st.data())
def test_any_deletion_is_detected(records: list[AccessRecord], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(records) - 1))
    report = verify(records[:i] + records[i + 1 :], _signed_head(records), PUBLIC)
    assert not report.ok
    assert report.first_bad_seq == i + 1, report.detail


@settings(max_examples=200, deadline=None)
@given(chains().filter(lambda r: len(r) >= 2), st.data())
def test_any_swap_or_duplicate_is_detected(
    records: list[AccessRecord], data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(records) - 2))
    j = data.draw(st.integers(i + 1, len(records) - 1))
    swapped = list(records)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    report = verify(swapped, _signed_head(records), PUBLIC)
    assert not report.ok
    assert report.first_bad_seq == i + 1, report.detail
    duplicated = [*records[: j + 1], records[i], *records[j + 1 :]]
    assert not verify(duplicated, _signed_head(records), PUBLIC).ok


@settings(max_examples=100, deadline=None)
@given(chains(), st.data())
def test_a_consistent_rewrite_is_caught_by_the_signed_checkpoint(
    records: list[AccessRecord], data: st.DataObject
) -> None:
    """Someone who recomputes every hash after a change still fails the hub's signature."""
    i = data.draw(st.integers(0, len(records) - 1))
    drafts_again = [
        dataclasses.replace(
            _as_draft(r), reason=r.reason + "!" if n == i else r.reason, record_id=r.record_id
        )
        for n, r in enumerate(records)
    ]
    rewritten = chain(GENESIS_HASH, 1, drafts_again)
    # hashes alone cannot tell; that nothing signs the rewritten chain can
    assert verify(rewritten, [], PUBLIC).problem == "unsigned_tail"
    report = verify(rewritten, _signed_head(records), PUBLIC)
    assert (report.ok, report.problem) == (False, "checkpoint_mismatch")


def _as_draft(r: AccessRecord) -> RecordDraft:
    fields = {f.name: getattr(r, f.name) for f in dataclasses.fields(RecordDraft)}
    return RecordDraft(**fields)
