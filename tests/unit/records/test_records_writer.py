"""RecordWriter: immediate flush when idle, natural batching under load, errors per batch."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.records import (
    AccessRecord,
    Checkpoint,
    ConfigError,
    FlagChange,
    MemoryRecordStore,
    RecordDraft,
    RecordWriteError,
    RecordWriter,
    WriterClosed,
)

DraftFactory = Callable[..., RecordDraft]


class GatedStore:
    """A MemoryRecordStore whose appends wait for a gate and can be made to fail."""

    def __init__(self) -> None:
        self.inner = MemoryRecordStore()
        self.gate = asyncio.Event()
        self.gate.set()
        self.batches: list[int] = []
        self.fail_next: Exception | None = None

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.inner.public_key

    async def append(self, drafts: Sequence[RecordDraft]) -> list[bool]:
        self.batches.append(len(drafts))
        await self.gate.wait()
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        return await self.inner.append(drafts)

    async def exists(self, query_ids: Iterable[UUID]) -> set[UUID]:
        return await self.inner.exists(query_ids)

    async def for_person(
        self,
        person: str,
        *,
        include_not_disclosed: bool = False,
        since: datetime | None = None,
        until: datetime | None = None,
        office: str | None = None,
    ) -> list[AccessRecord]:
        raise NotImplementedError

    async def set_not_disclosed(
        self, record_id: UUID, flag: bool, *, actor: str = "", reason: str = ""
    ) -> FlagChange:
        raise NotImplementedError

    def iter_all(self) -> AsyncIterator[AccessRecord]:
        return self.inner.iter_all()

    async def checkpoints(self) -> list[Checkpoint]:
        return await self.inner.checkpoints()

    async def flag_changes(self) -> list[FlagChange]:
        return await self.inner.flag_changes()

    async def sign_head(self) -> Checkpoint | None:
        return await self.inner.sign_head()

    async def count(self) -> int:
        return await self.inner.count()


async def test_one_caller_is_flushed_at_once(draft: DraftFactory) -> None:
    store = GatedStore()
    writer = RecordWriter(store)
    assert await writer.record(draft(1)) is True
    assert store.batches == [1]
    assert await store.count() == 1


async def test_drafts_arriving_during_a_flush_go_together_in_the_next(
    draft: DraftFactory,
) -> None:
    store = GatedStore()
    store.gate.clear()
    writer = RecordWriter(store)
    first = asyncio.create_task(writer.record(draft(0)))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert store.batches == [1]  # the first flush started alone, at once
    rest = [asyncio.create_task(writer.record(draft(i))) for i in range(1, 11)]
    await asyncio.sleep(0)
    assert not first.done()  # not durable yet, so not answered yet
    store.gate.set()
    assert await asyncio.gather(first, *rest) == [True] * 11
    assert store.batches == [1, 10]
    assert writer.batches == 2


async def test_batches_are_capped(draft: DraftFactory) -> None:
    store = GatedStore()
    store.gate.clear()
    writer = RecordWriter(store, max_batch=4)
    tasks = [asyncio.create_task(writer.record(draft(i))) for i in range(11)]
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(*tasks)
    assert store.batches == [4, 4, 3]
    assert [r.seq async for r in store.iter_all()] == list(range(1, 12))


async def test_redelivered_queries_are_recorded_once(draft: DraftFactory) -> None:
    store = GatedStore()
    writer = RecordWriter(store)
    d = draft(1)
    twin = dataclasses.replace(d, record_id=uuid4(), outcome="timed_out")
    results = await asyncio.gather(writer.record(d), writer.record(twin))
    assert sorted(results) == [False, True]
    assert await writer.record(dataclasses.replace(d, record_id=uuid4())) is False
    assert await store.count() == 1


async def test_a_failed_flush_fails_every_caller_of_that_batch_only(
    draft: DraftFactory,
) -> None:
    store = GatedStore()
    store.gate.clear()
    writer = RecordWriter(store)
    first = asyncio.create_task(writer.record(draft(0)))
    await asyncio.sleep(0)
    batch = [asyncio.create_task(writer.record(draft(i))) for i in range(1, 4)]
    await asyncio.sleep(0)
    boom = ConnectionResetError("database went away")
    store.fail_next = boom
    store.gate.set()
    results = await asyncio.gather(first, *batch, return_exceptions=True)
    assert isinstance(results[0], RecordWriteError)
    assert results[0].__cause__ is boom
    assert results[0].code == "records.write_failed"
    assert results[1:] == [True, True, True]
    assert await writer.record(draft(9)) is True  # the writer carries on


async def test_close_flushes_and_then_refuses(draft: DraftFactory) -> None:
    store = GatedStore()
    store.gate.clear()
    writer = RecordWriter(store)
    tasks = [asyncio.create_task(writer.record(draft(i))) for i in range(5)]
    await asyncio.sleep(0)
    closing = asyncio.create_task(writer.close())
    await asyncio.sleep(0)
    assert not closing.done()
    store.gate.set()
    await closing
    assert all(t.done() and t.result() for t in tasks)
    with pytest.raises(WriterClosed):
        await writer.record(draft(6))
    async with RecordWriter(store) as other:
        assert await other.record(draft(7)) is True


async def test_a_cancelled_caller_does_not_withdraw_its_record(draft: DraftFactory) -> None:
    store = GatedStore()
    store.gate.clear()
    writer = RecordWriter(store)
    d = draft(1)
    task = asyncio.create_task(writer.record(d))
    await asyncio.sleep(0)
    task.cancel()
    store.gate.set()
    await writer.close()
    assert await store.exists([d.query_id]) == {d.query_id}


async def test_many_concurrent_callers_form_few_batches(draft: DraftFactory) -> None:
    store = GatedStore()
    writer = RecordWriter(store)

    async def caller(k: int) -> None:
        for i in range(20):
            assert await writer.record(draft(k * 100 + i))
            await asyncio.sleep(0)

    await asyncio.gather(*(caller(k) for k in range(32)))
    assert await store.count() == 640
    assert len(store.batches) < 640 / 4
    assert max(store.batches) <= 500


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="max_batch"):
        RecordWriter(MemoryRecordStore(), max_batch=0)


async def test_callers_are_not_left_hanging_if_the_flush_is_cancelled(
    draft: DraftFactory,
) -> None:
    store = GatedStore()
    store.gate.clear()
    writer = RecordWriter(store)
    first = asyncio.create_task(writer.record(draft(0)))
    await asyncio.sleep(0)
    queued = asyncio.create_task(writer.record(draft(1)))
    await asyncio.sleep(0)
    flusher = writer._batcher._running
    assert flusher is not None
    flusher.cancel()  # e.g. the event loop shutting down
    results = await asyncio.gather(first, queued, return_exceptions=True)
    assert all(isinstance(r, RecordWriteError) for r in results)
    store.gate.set()
    assert await writer.record(draft(2)) is True
