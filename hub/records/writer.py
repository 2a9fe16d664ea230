"""`RecordWriter`: group concurrent `record` calls into store batches, without timers.

When no flush is running, the first caller's draft is flushed at once (lowest latency at one
query in flight).  While a flush runs, new drafts queue up and go together in the next flush
(natural batching: the busier the hub, the larger the batches, up to ``max_batch``).  A
caller's ``await`` returns only once its record is durable; if a flush fails, every caller in
that batch gets a `RecordWriteError` whose ``__cause__`` is the store's error.  Cancelling a
caller does not withdraw its draft (it may already be in flight; the store is idempotent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self
from uuid import UUID

from hub.batch import Batcher
from hub.metrics import METRICS
from hub.records.exceptions import ConfigError, RecordWriteError, WriterClosed
from hub.records.model import RecordDraft, Recorded
from hub.records.store import RecordStore

__all__ = ["RecordWriter"]


class RecordWriter:
    """The batcher the hub uses in front of a `RecordStore` (one per event loop)."""

    def __init__(self, store: RecordStore, *, max_batch: int = 500) -> None:
        if max_batch < 1:
            raise ConfigError("max_batch must be at least 1")
        self._store = store
        self._batcher: Batcher[RecordDraft, bool] = Batcher(self._append, max_batch=max_batch)
        self._closed = False
        self.batches = 0
        """Flushes done so far (for metrics and tests)."""

    async def record(self, draft: RecordDraft) -> bool:
        """Record ``draft``; True if newly recorded, False if its query already had a record."""
        if self._closed:
            raise WriterClosed("the record writer is closed")
        try:
            with METRICS.hop("records"):  # from draft to durable: the writer's lag
                return await self._batcher.submit(draft)
        except RecordWriteError:
            raise
        except Exception as exc:
            raise RecordWriteError(f"access records were not written: {exc!r}") from exc

    async def recorded(self, query_id: UUID) -> Recorded | None:
        """What the record of ``query_id`` says of its outcome, if any (read at once)."""
        return await self._store.recorded(query_id)

    async def _append(self, drafts: Sequence[RecordDraft]) -> list[bool]:
        self.batches += 1
        results = await self._store.append(list(drafts))
        if len(results) != len(drafts):
            raise RecordWriteError(f"the store answered {len(results)} of {len(drafts)}")
        return results

    async def close(self) -> None:
        """Refuse new drafts and wait until every queued one is durable (or has failed)."""
        self._closed = True
        await self._batcher.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
