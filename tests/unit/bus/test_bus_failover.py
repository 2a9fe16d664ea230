"""The AMQP bus on a cluster, the parts that need no broker: moving to the next node, keeping
a reopened channel, pausing before a redelivery the bus itself caused (tests/integration/
cluster kills a real node)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiormq
import pytest
from pamqp.commands import Basic

from hub.bus import AmqpBus, BrokerUrl, BusError, NotConfirmed, OutMessage, Rejected
from hub.bus._amqp_connection import FailoverConnection, open_connection
from hub.bus._common import retry_pause, run_handler

NODES = BrokerUrl.parse("amqp://u:p@h1:5681,h2:5682,h3:5683/v")


def lost() -> asyncio.Future[None]:
    closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    closing.set_exception(ConnectionResetError("reset by peer"))
    closing.exception()
    return closing


async def test_each_lost_connection_or_failed_attempt_moves_to_the_next_node() -> None:
    connection = FailoverConnection(NODES, 1, reconnect_interval=0.1)
    assert connection.url.port == 5682
    seen = []
    for _ in range(4):
        await connection._on_connection_close(lost())
        seen.append(connection.url.port)
    assert seen == [5683, 5681, 5682, 5683]
    assert (connection.url.user, connection.url.password, connection.url.path) == ("u", "p", "/v")
    await connection.close()


async def test_a_closed_connection_stays_where_it_was() -> None:
    connection = FailoverConnection(NODES, 0, reconnect_interval=0.1)
    await connection.close()
    await connection._on_connection_close(lost())
    assert connection.url.port == 5681


class Raw:
    """An aiormq channel whose publishes the broker refuses (basic.nack)."""

    is_closed = False

    def __init__(self) -> None:
        self.closes = 0

    async def basic_publish(self, *_: Any, **__: Any) -> None:
        raise aiormq.exceptions.DeliveryError(None, Basic.Nack())

    async def close(self) -> None:
        self.closes += 1


async def test_a_late_close_of_the_old_channel_keeps_the_reopened_one() -> None:
    """aio-pika may run an old channel's close callbacks after the channel reopened (a
    failover is that fast); the bus then keeps publishing on the new one."""
    bus = AmqpBus(None, "hub", "renkei.dlx", close_grace=1.0, ready_timeout=1.0)
    old, new = Raw(), Raw()
    bus._raw = new  # type: ignore[assignment]
    bus._on_channel_close(old)  # type: ignore[arg-type]
    assert bus._raw is new
    bus._on_channel_close(new)  # type: ignore[arg-type]
    assert bus._raw is None


@pytest.mark.parametrize("on_cluster", [True, False])
async def test_on_a_cluster_a_refused_publish_renews_the_channel_now_and_then(
    on_cluster: bool,
) -> None:
    """RabbitMQ 3.10 keeps refusing a channel's publishes to a quorum queue whose first one
    came while the queue's record named a lost leader: the bus closes that channel (aio-pika
    opens a new one) — once in RENEW_EVERY seconds, since a full queue refuses too. On one
    node a refusal is a full queue: the channel stays."""
    bus = AmqpBus(None, "hub", "renkei.dlx", close_grace=1.0, ready_timeout=1.0)
    bus.on_cluster = on_cluster
    bus._raw = raw = Raw()  # type: ignore[assignment]
    for n in range(3):
        with pytest.raises(Rejected):
            await bus.publish("renkei.dlx", "x", OutMessage(b"{}", message_id=f"m-{n}"))
    await asyncio.gather(*bus._background)
    assert raw.closes == (1 if on_cluster else 0)


def test_the_pause_doubles_from_a_quarter_second_up_to_five() -> None:
    assert [retry_pause(n) for n in range(8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


class Delivery:
    queue, message_id, settled = "q", "m-1", False

    def __init__(self, count: int) -> None:
        self.delivery_count = count
        self.nacked = False

    async def nack(self, *, requeue: bool = True) -> None:
        self.settled = self.nacked = True

    async def ack(self) -> None:
        self.settled = True


@pytest.mark.parametrize(
    ("error", "pause"),
    [
        (Rejected("full or between leaders"), 1.0),
        (NotConfirmed("lost"), 1.0),
        # the database gone (PostgreSQL restarting: the claim, the quota, the directory fail):
        # requeued at once, a request used up its delivery limit in milliseconds and was
        # dead-lettered, never recorded nor answered (bench/faults.py, PostgreSQL row)
        (ConnectionRefusedError(111, "Connect call failed"), 1.0),
        (RuntimeError("the database session was cut"), 1.0),
    ],
)
async def test_a_failing_handler_waits_before_its_message_goes_back(
    monkeypatch: pytest.MonkeyPatch, error: Exception, pause: float | None
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("hub.bus._common.asyncio.sleep", sleep)

    async def handler(_: Any) -> None:
        raise error

    delivery = Delivery(count=2)
    await run_handler(delivery, handler)  # type: ignore[arg-type]
    assert delivery.nacked
    assert slept == ([] if pause is None else [pause])


async def test_a_delivery_is_held_while_the_store_is_out_of_reach(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL gone under a handler: the delivery stays unsettled in the process and is
    handled again — as a redelivery, so what its failed run wrote is its own — until the store
    answers; none of the broker's delivery limit is spent (a request used to be dead-lettered
    unrecorded after about 8 s). Once the store is back, a failure is the message's own."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("hub.bus._common.asyncio.sleep", sleep)
    seen: list[bool] = []

    async def handler(d: Any) -> None:
        seen.append(d.redelivered)
        raise ConnectionRefusedError(111, "Connect call failed")

    probes = iter([True] * 7 + [False])

    async def store_down() -> bool:
        return next(probes)

    delivery = Delivery(count=0)
    delivery.redelivered = False  # type: ignore[attr-defined]
    await run_handler(delivery, handler, store_down)  # type: ignore[arg-type]
    assert seen == [False] + [True] * 7  # the first run, then seven re-runs as redeliveries
    assert slept == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, retry_pause(0)]
    assert delivery.nacked  # the store back and the handler still failing: to the broker


async def test_a_held_delivery_that_succeeds_is_settled_by_its_handler() -> None:
    runs: list[bool] = []

    async def handler(d: Any) -> None:
        runs.append(d.redelivered)
        if len(runs) < 3:
            raise ConnectionResetError("the session was cut")
        await d.ack()  # through the re-run's view, on the delivery itself

    async def store_down() -> bool:
        return True

    delivery = Delivery(count=0)
    delivery.redelivered = False  # type: ignore[attr-defined]
    await asyncio.wait_for(run_handler(delivery, handler, store_down), 5)  # type: ignore[arg-type]
    assert runs == [False, True, True] and delivery.settled and not delivery.nacked


async def test_a_failed_attempt_leaves_no_connection_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each node that does not answer is passed over with its connection closed. Before, the
    attempt's connection was dropped unclosed, and the collector's ``__del__`` later left
    aio-pika's ``RobustConnection.close`` coroutine never awaited, in whichever test it ran."""
    made: list[FailoverConnection] = []

    class Counted(FailoverConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)  # held: not collected before it is looked at

    monkeypatch.setattr("hub.bus._amqp_connection.FailoverConnection", Counted)
    nowhere = BrokerUrl.parse("amqp://u:p@127.0.0.1:1,127.0.0.1:2/v")  # nothing listens there
    with pytest.raises(BusError, match="cannot connect"):
        await open_connection(nowhere, name="t", reconnect_interval=0.1, connect_timeout=2)
    assert len(made) == 2
    assert all(c.is_closed for c in made)
