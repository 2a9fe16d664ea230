"""Natural batching: many concurrent callers, one downstream call per batch, no timers.

When nothing is in flight the first caller's item goes out at once (lowest latency at one in
flight); while a batch is in flight, new items wait and go out together in the next one. Each
caller awaits its own result; a failed batch fails every caller in it.

``inline``: an item submitted while nothing is in flight is flushed in its caller's own task,
not in a task of the batcher's (at one in flight, every item: no task to create, start and
hear from), together with what the other tasks of that turn of the loop submit (a bundle's
items, delivered at once, are looked up at once and answered at once); the items submitted
meanwhile go in the next batch once it has ended, so flushes stay one at a time. A caller
cancelled during its own flush cuts that flush short and the others of it go again in the
next batch — for reads only (an office's look-ups), where going again is harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batcher"]

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(
        self,
        flush: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int,
        inline: bool = False,
    ) -> None:
        self._flush = flush
        self._max = max_batch
        self._inline = inline
        self._items: list[T] = []
        self._futures: list[asyncio.Future[R]] = []
        self._running: asyncio.Task[None] | None = None
        self._alone: asyncio.Future[None] | None = None  # an inline flush: done when it ends

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._items.append(item)
        self._futures.append(future)
        if self._running is None and self._alone is None:
            if self._inline:
                await self._flush_inline(future)
            else:
                self._running = asyncio.create_task(self._drain())
        return await future

    async def _flush_inline(self, own: asyncio.Future[R]) -> None:
        """The first item while nothing is in flight: this turn's items flushed in this task."""
        self._alone = alone = asyncio.get_running_loop().create_future()
        try:
            await asyncio.sleep(0)  # what the other tasks of this turn submit joins it
        except asyncio.CancelledError:
            at = self._futures.index(own)
            del self._items[at], self._futures[at]
            self._ended(alone)
            raise
        items, taken = self._items[: self._max], self._futures[: self._max]
        del self._items[: self._max], self._futures[: self._max]
        try:
            results = await self._flush(items)
            _check_count(len(items), len(results))
        except asyncio.CancelledError:  # a read: the others go again in the next batch
            again = [
                (i, f) for i, f in zip(items, taken, strict=True) if f is not own and not f.done()
            ]
            self._items[:0] = [i for i, _ in again]
            self._futures[:0] = [f for _, f in again]
            raise
        except Exception as exc:  # noqa: BLE001 - every caller of the batch hears of it
            _fail(taken, exc)
        else:
            for f, r in zip(taken, results, strict=True):
                if not f.done():
                    f.set_result(r)
        finally:
            self._ended(alone)

    def _ended(self, alone: asyncio.Future[None]) -> None:
        self._alone = None
        alone.set_result(None)
        if self._items:  # submitted meanwhile: their batch now
            self._running = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._items:
                items, futures = self._items[: self._max], self._futures[: self._max]
                del self._items[: self._max], self._futures[: self._max]
                try:
                    results = await self._flush(items)
                    _check_count(len(items), len(results))
                except asyncio.CancelledError:  # nobody may be left waiting forever
                    _fail(futures + self._futures, RuntimeError("the batch flush was cancelled"))
                    self._items, self._futures = [], []
                    raise
                except Exception as exc:  # noqa: BLE001 - every caller of the batch hears of it
                    _fail(futures, exc)
                    continue
                for f, r in zip(futures, results, strict=True):
                    if not f.done():
                        f.set_result(r)
        finally:
            self._running = None

    async def close(self) -> None:
        """Wait for everything submitted so far to be flushed."""
        while (busy := self._running or self._alone) is not None:
            await asyncio.shield(busy)


def _fail(futures: list[asyncio.Future[R]], exc: BaseException) -> None:
    for f in futures:
        if not f.done():
            f.set_exception(exc)


def _check_count(sent: int, got: int) -> None:
    if sent != got:
        raise RuntimeError(f"batch of {sent} got {got} results")
