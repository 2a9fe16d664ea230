"""Interactive before batch, within a hub worker (``router.Lanes``): a batch request waits at
the door while an interactive one is in hand, and goes once none is."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from hub.routing.router import Lanes


async def test_batch_waits_while_interactive_is_in_hand() -> None:
    lanes, order = Lanes(), []
    release = asyncio.Event()

    async def handle(d: Any) -> None:
        order.append(f"start {d}")
        if d == "i1":
            await release.wait()
        order.append(f"end {d}")

    interactive, batch = lanes.first(handle), lanes.then(handle)
    i1 = asyncio.create_task(interactive("i1"))
    await asyncio.sleep(0)
    b1 = asyncio.create_task(batch("b1"))
    i2 = asyncio.create_task(interactive("i2"))  # another interactive one goes at once
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == ["start i1", "start i2", "end i2"]  # b1 waits at the door
    release.set()
    await asyncio.gather(i1, b1, i2)
    assert order[3:] == ["end i1", "start b1", "end b1"]


async def test_batch_goes_at_once_when_no_interactive_is_in_hand() -> None:
    lanes, seen = Lanes(), []

    async def handle(d: Any) -> None:
        seen.append(d)

    await lanes.first(handle)("i")
    await asyncio.wait_for(lanes.then(handle)("b"), 1)
    assert seen == ["i", "b"]


async def test_a_failing_interactive_request_does_not_block_the_batch_lane() -> None:
    lanes = Lanes()

    async def boom(d: Any) -> None:
        raise RuntimeError(d)

    async def done(d: Any) -> None:
        return None

    with contextlib.suppress(RuntimeError):
        await lanes.first(boom)("i")
    await asyncio.wait_for(lanes.then(done)("b"), 1)
