"""In-process bus specifics: no state left behind, flat memory, close() returning work."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Callable

from hub.bus import (
    HUB_EXCHANGE,
    HUB_REQUESTS,
    OFFICES_EXCHANGE,
    RK_QUERY,
    Delivery,
    InMemoryBroker,
    OutMessage,
    network_topology,
    office_replies,
)

TOPOLOGY = network_topology(["a"])
REPLIES = office_replies("a")


class Echo:
    """The network's round trip in small: office ``a`` sends queries, the hub sends each back
    to ``a``'s replies queue, ``a`` takes them."""

    def __init__(self, broker: InMemoryBroker) -> None:
        self.office, self.hub = broker.connect("a"), broker.connect("hub")
        self.replies = 0
        self._wanted = 0
        self._done = asyncio.Event()

    async def start(self) -> None:
        await self.hub.consume(HUB_REQUESTS, self._echo)
        await self.office.consume(REPLIES, self._take)

    async def _echo(self, d: Delivery) -> None:
        back = OutMessage(d.body, message_id=d.message_id, correlation_id=d.message_id)
        await self.hub.publish(OFFICES_EXCHANGE, REPLIES, back)
        await d.ack()

    async def _take(self, d: Delivery) -> None:
        self.replies += 1
        await d.ack()
        if self.replies >= self._wanted:
            self._done.set()

    async def rounds(self, n: int, concurrency: int = 50) -> None:
        self._wanted = self.replies + n
        self._done.clear()

        async def sender(count: int) -> None:
            for i in range(count):
                msg = OutMessage(b"q", message_id=str(i))
                await self.office.publish(HUB_EXCHANGE, RK_QUERY, msg)

        await asyncio.gather(*(sender(n // concurrency) for _ in range(concurrency)))
        await asyncio.wait_for(self._done.wait(), 30)

    async def close(self) -> None:
        await self.office.close()
        await self.hub.close()


async def test_no_state_is_left_behind_after_many_messages() -> None:
    broker = InMemoryBroker(TOPOLOGY)
    echo = Echo(broker)
    await echo.start()
    await echo.rounds(10_000)
    await asyncio.sleep(0)
    assert echo.replies == 10_000
    for queue in (HUB_REQUESTS, REPLIES):
        assert broker.depth(queue) == broker.unacked(queue) == 0
    await echo.close()
    assert all(not q.consumers for q in broker._store.queues.values())


async def test_memory_stays_flat_over_a_long_run() -> None:
    echo = Echo(InMemoryBroker(TOPOLOGY))
    await echo.start()
    await echo.rounds(5_000)  # warm up caches and free lists
    gc.collect()
    tracemalloc.start()
    try:
        await echo.rounds(10_000)
        gc.collect()
        before = tracemalloc.take_snapshot()
        await echo.rounds(30_000)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert growth < 64 * 1024, f"grew {growth} bytes over 30k round trips"
    await echo.close()


async def test_close_returns_deliveries_whose_handlers_overrun_the_grace() -> None:
    broker = InMemoryBroker(TOPOLOGY)
    office = broker.connect("a")
    stuck = broker.connect("hub", close_grace=0.1)
    started = asyncio.Event()

    async def hang(_: Delivery) -> None:
        started.set()
        await asyncio.Event().wait()

    await stuck.consume(HUB_REQUESTS, hang)
    await office.publish(HUB_EXCHANGE, RK_QUERY, OutMessage(b"q", message_id="m1"))
    await started.wait()
    await stuck.close()
    assert broker.depth(HUB_REQUESTS) == 1
    again: list[Delivery] = []
    got = asyncio.Event()

    async def take(d: Delivery) -> None:
        again.append(d)
        await d.ack()
        got.set()

    fresh = broker.connect("hub")
    await fresh.consume(HUB_REQUESTS, take)
    await asyncio.wait_for(got.wait(), 2)
    assert (again[0].message_id, again[0].redelivered, again[0].delivery_count) == ("m1", True, 1)
    await fresh.close()
    await office.close()


async def test_a_dead_letter_is_counted_once_and_not_as_an_ack(
    settles: Callable[[], dict[str, float]],
) -> None:
    """``renkei_bus_settled_total`` counts each delivery once, by how it ended (before, a
    delivery its consumer dead-lettered counted as a dead letter and as an ack)."""
    broker = InMemoryBroker(TOPOLOGY)
    office, hub = broker.connect("a"), broker.connect("hub")
    ended = asyncio.Event()

    async def refuse(d: Delivery) -> None:
        await d.dead_letter("malformed")
        ended.set()

    await hub.consume(HUB_REQUESTS, refuse)
    await office.publish(HUB_EXCHANGE, RK_QUERY, OutMessage(b"q", message_id="m1"))
    await asyncio.wait_for(ended.wait(), 2)
    assert settles() == {"dead_letter": 1}
    assert broker.depth(HUB_REQUESTS) == broker.unacked(HUB_REQUESTS) == 0
    await hub.close()
    await office.close()
