"""hub.batch.Batcher: one downstream call per batch of concurrent callers, no timers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hub.batch import Batcher


class Downstream:
    """A flush that records each batch; it can be held open, fail, or answer short."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_on: set[int] = set()  # batch numbers (0-based) that raise
        self.short_on: set[int] = set()  # batch numbers that return one result too few

    async def __call__(self, items: Sequence[int]) -> Sequence[str]:
        n = len(self.batches)
        self.batches.append(list(items))
        await self.gate.wait()
        if n in self.fail_on:
            raise ConnectionError(f"batch {n} failed")
        results = [f"r{i}" for i in items]
        return results[:-1] if n in self.short_on else results


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lone_item_goes_out_at_once() -> None:
    down = Downstream()
    batcher = Batcher(down, max_batch=10)
    assert await batcher.submit(7) == "r7"
    assert down.batches == [[7]]


async def test_items_submitted_while_a_batch_is_in_flight_go_out_together() -> None:
    down = Downstream()
    down.gate.clear()
    batcher = Batcher(down, max_batch=10)
    first = asyncio.create_task(batcher.submit(0))
    await settle()
    assert down.batches == [[0]]  # in flight, held open
    rest = [asyncio.create_task(batcher.submit(i)) for i in range(1, 6)]
    await settle()
    assert down.batches == [[0]]  # the others wait for the flight to land
    down.gate.set()
    assert await asyncio.gather(first, *rest) == [f"r{i}" for i in range(6)]
    assert down.batches == [[0], [1, 2, 3, 4, 5]]


async def test_callers_submitting_at_the_same_moment_share_one_flush() -> None:
    down = Downstream()
    batcher = Batcher(down, max_batch=100)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
    assert results == [f"r{i}" for i in range(20)]
    assert len(down.batches) == 1


async def test_max_batch_splits_a_backlog() -> None:
    down = Downstream()
    batcher = Batcher(down, max_batch=4)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    assert results == [f"r{i}" for i in range(10)]
    assert down.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


async def test_a_failing_flush_fails_every_caller_of_that_batch_only() -> None:
    down = Downstream()
    down.fail_on = {0}
    batcher = Batcher(down, max_batch=3)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
    assert [type(r) for r in results[:3]] == [ConnectionError] * 3
    assert all(str(r) == "batch 0 failed" for r in results[:3])
    assert results[3:] == ["r3", "r4"]
    assert down.batches == [[0, 1, 2], [3, 4]]


async def test_the_batcher_works_again_after_a_failure() -> None:
    down = Downstream()
    down.fail_on = {0}
    batcher = Batcher(down, max_batch=3)
    with pytest.raises(ConnectionError):
        await batcher.submit(1)
    assert await batcher.submit(2) == "r2"


async def test_a_flush_returning_the_wrong_count_fails_its_batch() -> None:
    down = Downstream()
    down.short_on = {0}
    batcher = Batcher(down, max_batch=2)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert [type(r) for r in results[:2]] == [RuntimeError] * 2
    assert str(results[0]) == "batch of 2 got 1 results"
    assert results[2] == "r2"


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    down = Downstream()
    down.gate.clear()
    batcher = Batcher(down, max_batch=10)
    first = asyncio.create_task(batcher.submit(0))
    await settle()
    leaving = asyncio.create_task(batcher.submit(1))
    staying = asyncio.create_task(batcher.submit(2))
    await settle()
    leaving.cancel()
    down.gate.set()
    assert await first == "r0"
    assert await staying == "r2"
    assert leaving.cancelled()


async def test_close_waits_for_everything_submitted() -> None:
    down = Downstream()
    down.gate.clear()
    batcher = Batcher(down, max_batch=2)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(5)]
    await settle()
    closing = asyncio.create_task(batcher.close())
    await settle()
    assert not closing.done()
    down.gate.set()
    await asyncio.wait_for(closing, 1)
    assert all(t.done() for t in tasks)
    assert sum(len(b) for b in down.batches) == 5
    assert [t.result() for t in tasks] == [f"r{i}" for i in range(5)]


async def test_close_with_nothing_in_flight_returns_at_once() -> None:
    batcher = Batcher(Downstream(), max_batch=2)
    closing = asyncio.create_task(batcher.close())
    await settle()
    assert closing.done()  # nothing to wait for: done within a few turns of the loop


# ---- inline: an item with nothing in flight is flushed in its caller's task -------------------


class Where(Downstream):
    """A Downstream that also records the task each batch was flushed in."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[asyncio.Task[object] | None] = []

    async def __call__(self, items: Sequence[int]) -> Sequence[str]:
        self.tasks.append(asyncio.current_task())
        return await super().__call__(items)


async def test_inline_flushes_a_lone_item_in_its_callers_task() -> None:
    down = Where()
    batcher = Batcher(down, max_batch=10, inline=True)
    for i in range(3):
        assert await batcher.submit(i) == f"r{i}"
    assert down.tasks == [asyncio.current_task()] * 3
    assert Batcher(Where(), max_batch=10)._inline is False  # only when asked for


async def test_inline_items_submitted_meanwhile_go_together_after_it_one_flush_at_a_time() -> None:
    down = Where()
    down.gate.clear()
    batcher = Batcher(down, max_batch=10, inline=True)
    first = asyncio.create_task(batcher.submit(0))
    await settle()
    rest = [asyncio.create_task(batcher.submit(i)) for i in range(1, 4)]
    await settle()
    assert down.batches == [[0]]  # the others wait for it to end
    down.gate.set()
    assert await asyncio.gather(first, *rest) == [f"r{i}" for i in range(4)]
    assert down.batches == [[0], [1, 2, 3]]
    assert down.tasks[0] is first and down.tasks[1] not in (first, *rest)  # then a batch task


async def test_inline_a_failing_flush_fails_its_caller_and_the_others_still_go() -> None:
    down = Downstream()
    down.gate.clear()
    down.fail_on = {0}
    batcher = Batcher(down, max_batch=10, inline=True)
    first = asyncio.create_task(batcher.submit(0))
    await settle()
    second = asyncio.create_task(batcher.submit(1))
    await settle()
    down.gate.set()
    with pytest.raises(ConnectionError):
        await first
    assert await second == "r1"


async def test_inline_close_waits_for_the_callers_flush_and_what_queued_behind_it() -> None:
    down = Downstream()
    down.gate.clear()
    batcher = Batcher(down, max_batch=10, inline=True)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
    await settle()
    closing = asyncio.create_task(batcher.close())
    await settle()
    assert not closing.done()
    down.gate.set()
    await asyncio.wait_for(closing, 1)
    assert all(t.done() for t in tasks)
    assert down.batches == [[0, 1, 2]]  # one turn's, in the first caller's flush


async def test_inline_the_items_of_one_turn_share_the_first_callers_flush() -> None:
    """A bundle's items reach the batcher in one turn of the loop: one flush for them all, in
    the first caller's task, so they are answered at once (before: the first alone, then the
    rest — a bundle cut in two at every office)."""
    down = Where()
    batcher = Batcher(down, max_batch=2, inline=True)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
    assert await asyncio.gather(*tasks) == ["r0", "r1", "r2"]
    assert down.batches == [[0, 1], [2]]  # max_batch still holds: the rest in the next
    assert down.tasks[0] is tasks[0]


@pytest.mark.parametrize("while_", ["gathering", "flushing"])
async def test_inline_a_cancelled_first_caller_leaves_the_others_to_the_next_batch(
    while_: str,
) -> None:
    down = Downstream()
    down.gate.clear()
    batcher = Batcher(down, max_batch=10, inline=True)
    first = asyncio.create_task(batcher.submit(0))
    others = [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
    if while_ == "flushing":
        await settle()
        assert down.batches == [[0, 1, 2]]
    else:
        await asyncio.sleep(0)  # the first is in its turn's wait, the others submitted
    first.cancel()
    down.gate.set()
    assert await asyncio.gather(*others) == ["r1", "r2"]
    assert down.batches[-1] == [1, 2]
    with pytest.raises(asyncio.CancelledError):
        await first
