"""`ReplyHold`: batched holds, a body read back only under its own digest, expired ones swept."""

from __future__ import annotations

import asyncio
import datetime as dt
from uuid import uuid4

import pytest

from hub.records import ConfigError, HeldReply, MemoryRecordStore, ReplyHold, digest

T0 = dt.datetime(2026, 6, 2, 9, 0, tzinfo=dt.UTC)


async def test_concurrent_holds_go_in_one_batch_and_read_back_by_digest() -> None:
    store = MemoryRecordStore()
    calls: list[int] = []
    hold_replies = store.hold_replies

    async def counted(held: list[HeldReply]) -> None:
        calls.append(len(held))
        await hold_replies(held)

    store.hold_replies = counted  # type: ignore[method-assign]
    held = ReplyHold(store, clock=lambda: T0)
    keys = [uuid4() for _ in range(5)]
    found = await asyncio.gather(*(held.hold(k, b"sealed %d" % i, T0) for i, k in enumerate(keys)))
    assert found == [digest(b"sealed %d" % i) for i in range(5)]
    assert calls == [5]  # one store call for the batch
    assert await held.held(keys[2], found[2]) == b"sealed 2"
    assert await held.held(keys[2], found[3]) is None  # another's digest
    assert await held.held(uuid4(), found[2]) is None  # another key (requester, query id)


async def test_a_body_whose_digest_is_not_the_one_asked_for_is_never_returned() -> None:
    store = MemoryRecordStore()
    key, wrong = uuid4(), digest(b"what the record says")
    await store.hold_replies([HeldReply(key, wrong, b"something else", T0)])  # a tampered row
    assert await store.held_reply(key, wrong) == b"something else"
    assert await ReplyHold(store, clock=lambda: T0).held(key, wrong) is None


async def test_expired_replies_are_swept_with_a_later_hold() -> None:
    store, now = MemoryRecordStore(), [T0]
    held = ReplyHold(store, clock=lambda: now[0], sweep_every=dt.timedelta(seconds=30))
    old = await held.hold(key := uuid4(), b"old", T0 + dt.timedelta(seconds=10))
    now[0] = T0 + dt.timedelta(seconds=20)
    await held.hold(uuid4(), b"new", now[0])  # not yet swept: 20 s since the last sweep
    assert await held.held(key, old) == b"old"
    now[0] = T0 + dt.timedelta(seconds=40)
    await held.hold(uuid4(), b"newer", now[0])
    assert await held.held(key, old) is None
    await held.close()


def test_a_batch_of_nothing_is_refused() -> None:
    with pytest.raises(ConfigError):
        ReplyHold(MemoryRecordStore(), clock=lambda: T0, max_batch=0)
