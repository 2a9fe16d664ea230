"""AckBatch: the acks of one channel, held briefly and sent as few multiple acks."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from hub.bus._acks import AckBatch


class Broker:
    """What RabbitMQ does with acks on one channel: an ack of a tag it does not hold is a
    channel error; a multiple ack settles every outstanding tag up to it."""

    def __init__(self) -> None:
        self.outstanding: set[int] = set()
        self.handled: set[int] = set()
        self.failed: set[int] = set()
        self.sent: list[tuple[int, bool | None]] = []  # (tag, multiple); None: a nack

    def deliver(self, batch: AckBatch, tag: int) -> None:
        self.outstanding.add(tag)
        batch.delivered(tag)

    def batch(self, **kw: Any) -> AckBatch:
        return AckBatch(self.send, self.nack, **kw)  # type: ignore[arg-type]

    async def send(self, tag: int, multiple: bool) -> None:
        await asyncio.sleep(0)  # a real send may yield: the order must hold anyway
        self.sent.append((tag, multiple))
        if tag not in self.outstanding:
            raise AssertionError(f"unknown delivery tag {tag}")
        settled = {t for t in self.outstanding if t <= tag} if multiple else {tag}
        if not settled <= self.handled:
            raise AssertionError(f"acked before handled: {sorted(settled - self.handled)}")
        if settled & self.failed:
            raise AssertionError(f"a failed delivery acked: {sorted(settled & self.failed)}")
        self.outstanding -= settled

    async def nack(self, tag: int, requeue: bool) -> None:
        await asyncio.sleep(0)
        self.sent.append((tag, None))
        if tag not in self.outstanding:
            raise AssertionError(f"nack of an unknown delivery tag {tag}")
        self.outstanding.discard(tag)


async def test_a_run_of_settled_deliveries_goes_as_one_multiple_ack() -> None:
    batch = Broker().batch(linger=60)
    for tag in (1, 2, 3):
        batch.delivered(tag)
    for tag in (2, 1, 3):
        batch.ack(tag)
    assert batch.take() == [(3, True)]
    assert batch.take() == []


async def test_deliveries_settled_behind_one_in_hand_are_acked_each_on_its_own() -> None:
    batch = Broker().batch(linger=60)
    for tag in (1, 2, 3, 4, 5):
        batch.delivered(tag)
    for tag in (1, 3, 5):
        batch.ack(tag)
    assert batch.take() == [(1, True), (3, False), (5, False)]
    batch.ack(2)
    batch.ack(4)
    assert batch.take() == [(4, True)]  # 3 is no longer outstanding; 2 and 4 are


async def test_nacked_and_unknown_and_repeated_acks_are_not_sent() -> None:
    broker = Broker()
    batch = broker.batch(linger=60)
    for tag in (1, 2):
        broker.deliver(batch, tag)
    batch.ack(1)
    batch.ack(1)
    batch.nack(2, requeue=True)
    batch.ack(2)
    batch.nack(2, requeue=True)
    batch.ack(99)  # never delivered on this channel
    assert batch.take() == [(1, True)]
    await batch.flush()
    assert broker.sent == [(2, None)]


async def test_a_nack_goes_out_before_a_multiple_ack_that_would_cover_it() -> None:
    broker = Broker()
    batch = broker.batch(linger=60, most=3)
    for tag in (1, 2, 3, 4):
        broker.deliver(batch, tag)
    broker.failed.add(3)
    batch.nack(3, requeue=True)  # queued first, so it is sent first
    for tag in (1, 2, 4):
        broker.handled.add(tag)
        batch.ack(tag)  # the third reaches `most`: (4, multiple) covers 1–4
    await batch.flush()
    assert broker.sent == [(3, None), (4, True)]
    assert broker.outstanding == set()


async def test_a_closed_batch_sends_nothing_more_and_flush_gives_up_on_a_stuck_channel() -> None:
    stuck = asyncio.Event()
    calls: list[int] = []

    async def never(tag: int, _flag: bool) -> None:
        calls.append(tag)
        await stuck.wait()

    batch = AckBatch(never, never, linger=60)
    batch.delivered(1)
    batch.ack(1)
    await asyncio.wait_for(batch.flush(grace=0.05), 2)  # gives up, cancels the stuck sender
    assert calls == [1]
    for tag in (2, 3):
        batch.delivered(tag)
    batch.ack(2)
    batch.nack(3, requeue=True)
    await batch.flush(grace=0.05)
    assert calls == [1]  # the channel is gone: nothing more goes to it


@dataclass
class Timer:
    delay: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class Timers:
    """The loop's ``call_later``, by hand: what was armed and for how long; the test fires."""

    def __init__(self) -> None:
        self.armed: list[Timer] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> Timer:
        self.armed.append(Timer(delay, callback))
        return self.armed[-1]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_acks_wait_at_most_the_linger() -> None:
    broker, timers = Broker(), Timers()
    batch = broker.batch(linger=0.02, most=100, call_later=timers)
    for tag in (1, 2):
        broker.deliver(batch, tag)
        broker.handled.add(tag)
    batch.ack(1)
    batch.ack(2)  # a later ack does not put off the first one's
    [timer] = timers.armed
    assert timer.delay == 0.02
    await settle()
    assert broker.sent == []  # held until the linger is up
    timer.callback()
    await settle()
    assert broker.sent == [(2, True)]
    assert broker.outstanding == set()


async def test_acks_go_at_once_when_most_are_waiting() -> None:
    broker = Broker()
    batch = broker.batch(linger=60, most=3)
    for tag in (1, 2, 3):
        broker.deliver(batch, tag)
        broker.handled.add(tag)
        batch.ack(tag)
    for _ in range(5):
        await asyncio.sleep(0)
    assert broker.sent == [(3, True)]


async def test_flush_sends_everything_in_order_behind_acks_already_going_out() -> None:
    broker = Broker()
    batch = broker.batch(linger=60, most=2)
    for tag in (1, 2, 3, 4):
        broker.deliver(batch, tag)
    for tag in (2, 4):  # 2 and 4 settle behind 1 and 3, go out on their own
        broker.handled.add(tag)
        batch.ack(tag)
    for tag in (1, 3):
        broker.handled.add(tag)
        batch.ack(tag)
    await batch.flush()
    assert broker.sent == [(2, False), (4, False), (3, True)]
    assert broker.outstanding == set()


@pytest.mark.parametrize("seed", range(40))
async def test_random_interleavings_never_ack_early_or_twice(seed: int) -> None:
    rnd = random.Random(seed)
    broker = Broker()
    batch = broker.batch(linger=0.001, most=(most := rnd.randint(1, 8)))
    next_tag, in_hand = 1, []
    for _ in range(300):
        if rnd.random() < 0.5:
            broker.deliver(batch, next_tag)
            in_hand.append(next_tag)
            next_tag += 1
        elif in_hand:
            tag = in_hand.pop(rnd.randrange(len(in_hand)))
            broker.handled.add(tag)
            if rnd.random() < 0.05:
                broker.failed.add(tag)
                batch.nack(tag, requeue=rnd.random() < 0.5)
            else:
                batch.ack(tag)
        if rnd.random() < 0.1:
            await asyncio.sleep(0.002)
    for tag in in_hand:
        broker.handled.add(tag)
        batch.ack(tag)
    await batch.flush()
    assert broker.outstanding == set()
    acks = [s for s in broker.sent if s[1] is not None]
    if most >= 4:
        assert len(acks) < next_tag - 1 - len(broker.failed)  # coalesced
