"""Query claims (pure batching over the in-memory store) and the flag log's ends."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.records import (
    Claim,
    Claimer,
    ClaimState,
    ConfigError,
    InvalidRecord,
    MemoryRecordStore,
    RecordDraft,
    disclose,
    verify_flags,
)
from hub.records.claims import settle
from hub.records.flags import encode_flag, make_flag_change

DraftFactory = Callable[..., RecordDraft]
T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
A, B = b"a" * 32, b"b" * 32


def test_a_key_twice_in_one_batch_is_taken_by_its_first_claim() -> None:
    k, other, old = uuid4(), uuid4(), uuid4()
    claims = [Claim(k, A), Claim(other, B), Claim(k, B), Claim(k, A), Claim(old, B), Claim(old, A)]
    taken = ClaimState(False, A)  # what the store says of a key claimed before this batch
    found = [ClaimState(True)] * 4 + [taken, taken]
    assert settle(claims, found) == [
        ClaimState(True),
        ClaimState(True),
        ClaimState(False, A),
        ClaimState(False, A),
        taken,
        taken,
    ]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def test_concurrent_claims_go_in_one_batch_and_each_key_is_fresh_once(
    hub_key: Ed25519PrivateKey,
) -> None:
    store = MemoryRecordStore(signing_key=hub_key)
    claimer = Claimer(store, keep=timedelta(minutes=10), clock=Clock())
    keys = [uuid4() for _ in range(50)]
    first = await asyncio.gather(*(claimer.claim(k, A) for k in keys))
    again = await asyncio.gather(*(claimer.claim(k, B) for k in [*keys, keys[0]]))
    assert all(s.fresh for s in first)
    assert [(s.fresh, s.digest) for s in again] == [(False, A)] * 51
    assert claimer.batches <= 4  # one for the first claim, one for what piled up meanwhile, …
    assert [s.fresh for s in await store.claim([Claim(k, A) for k in (keys[0], uuid4())], T0)] == [
        False,
        True,
    ]


async def test_claims_are_forgotten_after_keep_but_a_record_still_takes_the_key(
    hub_key: Ed25519PrivateKey, draft: DraftFactory
) -> None:
    store, clock = MemoryRecordStore(signing_key=hub_key), Clock()
    claimer = Claimer(store, keep=timedelta(minutes=10), clock=clock, sweep_every=timedelta(0))
    answered, lost = draft(1), draft(2)
    await claimer.claim(answered.query_id, A)
    await claimer.claim(lost.query_id, A)  # its worker died: it never got a record
    await store.append([answered])
    clock.now += timedelta(minutes=10, seconds=1)
    state = await claimer.claim(answered.query_id, B)  # the claim is gone, the record is not
    assert (state.fresh, state.digest, state.recorded) == (False, None, True)
    assert (await claimer.claim(lost.query_id, B)).fresh  # then it is a new query
    assert await store.forget_claims(clock.now + timedelta(microseconds=1)) == 1


async def test_a_claimer_is_configured_sensibly(hub_key: Ed25519PrivateKey) -> None:
    store = MemoryRecordStore(signing_key=hub_key)
    with pytest.raises(ConfigError):
        Claimer(store, keep=timedelta(0), clock=Clock())
    with pytest.raises(ConfigError):
        Claimer(store, keep=timedelta(minutes=1), clock=Clock(), max_batch=0)


# ---- a flag with an end ---------------------------------------------------------------------


def change(key: Ed25519PrivateKey, until: datetime | None, flag: bool = True):  # type: ignore[no-untyped-def]
    return make_flag_change(
        key, None, UUID(int=7), flag, actor="a", reason="r", changed_at=T0, withheld_until=until
    )


def test_a_change_without_an_end_keeps_the_version_1_bytes(hub_key: Ed25519PrivateKey) -> None:
    plain, ended = change(hub_key, None), change(hub_key, T0 + timedelta(days=365))
    assert encode_flag(plain)[0] == 1 and encode_flag(ended)[0] == 2
    assert encode_flag(ended).startswith(b"\x02" + encode_flag(plain)[1:])
    assert len(encode_flag(ended)) == len(encode_flag(plain)) + 8  # the end, in microseconds
    assert plain.hash != ended.hash


def test_a_moved_end_is_caught(hub_key: Ed25519PrivateKey) -> None:
    ended = change(hub_key, T0 + timedelta(days=365))
    assert verify_flags([ended], hub_key.public_key()).ok
    for moved in (T0 + timedelta(days=3650), None):
        forged = dataclasses.replace(ended, withheld_until=moved)
        assert verify_flags([forged], hub_key.public_key()).problem == "hash_mismatch"


def test_an_end_is_for_a_set_flag_only(hub_key: Ed25519PrivateKey, draft: DraftFactory) -> None:
    with pytest.raises(InvalidRecord):
        change(hub_key, T0, flag=False)
    with pytest.raises(InvalidRecord):
        draft(1, withheld_until=T0)  # not marked not_disclosed
    with pytest.raises(InvalidRecord):
        draft(1, not_disclosed=True, withheld_until=datetime(2026, 1, 1))  # naive


async def test_lifting_needs_who_and_why(hub_key: Ed25519PrivateKey, draft: DraftFactory) -> None:
    store = MemoryRecordStore(signing_key=hub_key)
    d = draft(1, not_disclosed=True)
    await store.append([d])
    for actor, reason in (("", "closed"), ("oversight", " ")):
        with pytest.raises(InvalidRecord):
            await disclose(store, d.record_id, actor=actor, reason=reason)
    lifted = await disclose(store, d.record_id, actor="oversight", reason="closed")
    assert (lifted.not_disclosed, lifted.actor, lifted.reason) == (False, "oversight", "closed")
