"""`RecordWriter`: group concurrent `record` calls into store batches, without timers.

When no flush is running, the first caller's draft is flushed at once (lowest latency at one
query in flight).  While a flush runs, new drafts queue up and go together in the next flush
(natural batching: the busier the hub, the larger the batches, up to ``max_batch``).  A
caller's ``await`` returns only once its record is durable; if a flush fails, every caller in
that batch gets a `RecordWriteError` whose ``__cause__`` is the store's error.  Cancelling a
caller does not withdraw its draft (it may already be in flight; the store is idempotent).
"""

from __future__ import annotations

import asyncio
from typing import Self

from hub.records.exceptions import ConfigError, RecordWriteError, WriterClosed
from hub.records.model import RecordDraft
from hub.records.store import RecordStore

__all__ = ["RecordWriter"]

_Waiter = tuple[RecordDraft, "asyncio.Future[bool]"]


def _fail(batch: list[_Waiter], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            error = RecordWriteError(f"access records were not written: {exc!r}")
            error.__cause__ = exc
            future.set_exception(error)


class RecordWriter:
    """The batcher the hub uses in front of a `RecordStore` (one per event loop)."""

    def __init__(self, store: RecordStore, *, max_batch: int = 500) -> None:
        if max_batch < 1:
            raise ConfigError("max_batch must be at least 1")
        self._store = store
        self._max = max_batch
        self._queue: list[_Waiter] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        """Flushes done so far (for metrics and tests)."""

    async def record(self, draft: RecordDraft) -> bool:
        """Record ``draft``; True if newly recorded, False if its query already had a record."""
        if self._closed:
            raise WriterClosed("the record writer is closed")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((draft, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_all(), name="records-flush")
        return await future

    async def _flush_all(self) -> None:
        batch: list[_Waiter] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
                await self._flush(batch)
        except BaseException as exc:  # cancelled: nobody may be left waiting forever
            waiting, self._queue = batch + self._queue, []
            _fail(waiting, exc)
            raise
        finally:
            self._flusher = None

    async def _flush(self, batch: list[_Waiter]) -> None:
        self.batches += 1
        try:
            results = await self._store.append([draft for draft, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every caller of the batch must hear of it
            _fail(batch, exc)
            return
        if len(results) != len(batch):
            _fail(batch, RecordWriteError(f"the store answered {len(results)} of {len(batch)}"))
            return
        for (_, future), new in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(new)

    async def close(self) -> None:
        """Refuse new drafts and wait until every queued one is durable (or has failed)."""
        self._closed = True
        while self._flusher is not None:
            await asyncio.wait({self._flusher})

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
