"""In-process bus specifics: no state left behind, flat memory, close() returning work."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

from rpc_route import RPC_EXCHANGE, RPC_QUEUE, with_rpc

from hub.bus import (
    HUB_EXCHANGE,
    HUB_REQUESTS,
    RK_QUERY,
    Delivery,
    InMemoryBroker,
    InMemoryBus,
    OutMessage,
    network_topology,
)

TOPOLOGY = with_rpc(network_topology(["a"]))


async def rpc_rounds(hub: InMemoryBus, rounds: int, concurrency: int = 50) -> None:
    async def worker(n: int) -> None:
        for i in range(n):
            assert await hub.call(RPC_EXCHANGE, RPC_QUEUE, b"%d" % i, timeout=5) == b"ok"

    await asyncio.gather(*(worker(rounds // concurrency) for _ in range(concurrency)))


async def relay_rounds(office: InMemoryBus, done: asyncio.Event, n: int) -> None:
    for i in range(n):
        await office.publish(HUB_EXCHANGE, RK_QUERY, OutMessage(b"q", message_id=str(i)))
    await done.wait()


async def test_no_state_is_left_behind_after_many_messages() -> None:
    broker = InMemoryBroker(TOPOLOGY)
    office, hub, token = broker.connect("a"), broker.connect("hub"), broker.connect("token")
    seen: list[int] = []
    done = asyncio.Event()

    async def handle(d: Delivery) -> None:
        seen.append(1)
        await d.ack()
        if len(seen) == 10_000:
            done.set()

    async def ok(_: bytes) -> bytes:
        return b"ok"

    sub = await hub.consume(HUB_REQUESTS, handle)
    await token.serve(RPC_QUEUE, ok)
    await asyncio.gather(relay_rounds(office, done, 10_000), rpc_rounds(hub, 10_000))
    await asyncio.sleep(0)
    assert broker.depth(HUB_REQUESTS) == broker.unacked(HUB_REQUESTS) == 0
    assert broker.depth(RPC_QUEUE) == broker.unacked(RPC_QUEUE) == 0
    assert len(hub._calls) == 0
    await sub.cancel()
    for bus in (office, hub, token):
        await bus.close()
    assert broker._store.replies == {}


async def test_memory_stays_flat_over_a_long_run() -> None:
    broker = InMemoryBroker(TOPOLOGY)
    hub, token = broker.connect("hub"), broker.connect("token")

    async def ok(_: bytes) -> bytes:
        return b"ok"

    await token.serve(RPC_QUEUE, ok)
    await rpc_rounds(hub, 5_000)  # warm up caches and free lists
    gc.collect()
    tracemalloc.start()
    try:
        await rpc_rounds(hub, 10_000)
        gc.collect()
        before = tracemalloc.take_snapshot()
        await rpc_rounds(hub, 30_000)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert growth < 64 * 1024, f"grew {growth} bytes over 30k calls"
    await hub.close()
    await token.close()


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
