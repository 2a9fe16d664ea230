"""Deliveries and subscriptions of the AMQP bus, on aiormq's raw channel for speed.

aiormq already runs each delivery in its own task; wrapping it in aio-pika's
``IncomingMessage`` and a second task would cost CPU per message for nothing we use.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import aiormq
import aiormq.abc
import structlog
from pamqp.commands import Basic

from hub.bus._acks import AckBatch
from hub.bus._bundle import BUNDLE_TYPE, run_bundle
from hub.bus._common import broker_dead_letter_headers, dead_letter_message, run_handler
from hub.bus.api import EMPTY_HEADERS, Bundled, Death, Handler
from hub.metrics import METRICS

if TYPE_CHECKING:
    from hub.bus.amqp import AmqpBus

__all__ = ["CHANNEL_ERRORS", "AmqpDelivery", "AmqpSubscription", "death_of", "str_headers"]

log = structlog.get_logger("hub.bus")

CHANNEL_ERRORS = (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError, OSError)


def str_headers(raw: Mapping[str, Any] | None, user_id: str | None) -> Mapping[str, str]:
    """Our string headers. On a message the broker dead-lettered, the reason and queue of its
    latest ``x-death`` event and the publisher's ``user_id`` become ``renkei-*``."""
    if not raw:
        return EMPTY_HEADERS
    out = {k: v for k, v in raw.items() if type(v) is str and not k.startswith("x-")}
    death = _latest_death(raw.get("x-death"))
    if death is not None:
        return broker_dead_letter_headers(out, *death, user_id)
    return out


def death_of(raw: Mapping[str, Any] | None) -> Death | None:
    """The broker's latest dead-lettering from a message's ``x-death`` (its first entry: the
    broker puts the event it records in front), or None without a well-formed one."""
    entries = raw.get("x-death") if raw else None
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], Mapping):
        return None
    first = entries[0]
    queue, reason, exchange = first.get("queue"), first.get("reason"), first.get("exchange")
    keys, count, time = first.get("routing-keys"), first.get("count"), first.get("time")
    if not (isinstance(queue, str) and isinstance(reason, str) and isinstance(exchange, str)):
        return None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return None
    if type(count) is not int or count < 1:
        return None
    if isinstance(time, dt.datetime):
        time = time if time.tzinfo else time.replace(tzinfo=dt.UTC)
    else:
        time = None
    return Death(queue, reason, exchange, tuple(keys), count, time)


def _latest_death(x_death: object) -> tuple[str, str] | None:
    """(reason, queue) of the broker's latest dead-lettering, or None. ``x-death`` lists
    events most recent first, and the broker puts the entry of the event it records in front
    with that event's queue and reason, so a publisher who pre-fills ``x-death`` (which it may,
    as ``x-first-death-*``, which the broker then leaves alone) cannot choose them."""
    if not isinstance(x_death, list) or not x_death or not isinstance(x_death[0], Mapping):
        return None
    reason, queue = x_death[0].get("reason"), x_death[0].get("queue")
    if not isinstance(reason, str) or not isinstance(queue, str):
        return None
    return reason, queue


class AmqpDelivery:
    __slots__ = (
        "_acks",
        "_bus",
        "_deliver",
        "_headers",
        "_props",
        "_tag",
        "body",
        "counted",
        "queue",
        "settled",
    )

    def __init__(
        self, msg: aiormq.abc.DeliveredMessage, queue: str, bus: AmqpBus, acks: AckBatch
    ) -> None:
        self._deliver = cast(Basic.Deliver, msg.delivery)
        self._tag: int = self._deliver.delivery_tag or 0
        self._acks = acks
        # aiormq starts a task per delivery in frame order and this runs in its first step, so
        # no later delivery is handled (and no multiple ack covers a tag) before this is known
        acks.delivered(self._tag)
        self._props = msg.header.properties
        self._bus = bus
        self._headers: Mapping[str, str] | None = None
        self.body: bytes = msg.body
        self.queue = queue
        self.settled = False
        self.counted = True  # a bundle's items are counted, not the bundle (``run_bundle``)

    @property
    def message_id(self) -> str:
        return self._props.message_id or ""

    @property
    def correlation_id(self) -> str | None:
        return self._props.correlation_id

    @property
    def content_type(self) -> str | None:
        return self._props.content_type

    @property
    def user_id(self) -> str | None:
        """The publisher's identity: the broker-validated user, less this deployment's prefix."""
        user: str | None = self._props.user_id
        prefix = self._bus.user_prefix
        if user is not None and prefix and user.startswith(prefix):
            return user[len(prefix) :]
        return user

    @property
    def death(self) -> Death | None:
        return death_of(self._props.headers)

    @property
    def headers(self) -> Mapping[str, str]:
        if self._headers is None:
            self._headers = str_headers(self._props.headers, self.user_id)
        return self._headers

    @property
    def exchange(self) -> str:
        return str(self._deliver.exchange)

    @property
    def routing_key(self) -> str:
        return str(self._deliver.routing_key)

    @property
    def bundled(self) -> Bundled | None:
        return None

    @property
    def redelivered(self) -> bool:
        return bool(self._deliver.redelivered)

    @property
    def delivery_count(self) -> int:
        raw = self._props.headers
        count = raw.get("x-delivery-count", 0) if raw else 0
        return count if type(count) is int else 0

    async def ack(self) -> None:
        if not self.settled:
            self._settled("ack")
            self._acks.ack(self._tag)

    async def nack(self, *, requeue: bool = True) -> None:
        if not self.settled:
            self._settled("requeue" if requeue else "reject")
            self._acks.nack(self._tag, requeue=requeue)

    async def dead_letter(self, reason: str, *, opaque: bool = False) -> None:
        """``opaque``: the copy without a content type (``dead_letter_message``)."""
        if self.settled:
            return
        copy = dead_letter_message(self, reason, opaque=opaque)
        await self._bus.publish(self._bus.dead_letter_exchange, self.routing_key, copy)
        if not self.settled:  # the copy is out: the original goes, counted once
            self._settled("dead_letter")
            self._acks.ack(self._tag)

    def _settled(self, how: str) -> None:
        self.settled = True
        if self.counted:
            METRICS.settled(how)

    @property
    def bus(self) -> AmqpBus:
        return self._bus


class AmqpSubscription:
    """One consumer on its own (robust) channel, so QoS, closes and refusals stay local."""

    def __init__(
        self, bus: AmqpBus, channel: Any, queue: str, handler: Handler, tag: str, *, prefetch: int
    ) -> None:
        self._bus = bus
        self._ack_most = max(1, prefetch // 4)  # acks held back never starve the prefetch window
        self._channel = channel
        self._queue = queue
        self._handler = handler
        self._tag = tag
        self._raw: aiormq.abc.AbstractChannel | None = None
        self._acks = AckBatch(self._no_channel, self._no_channel)  # one per channel (its tags)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._items = asyncio.Semaphore(prefetch)  # bundles' items in hand at once
        self._active = True

    async def start(self) -> None:
        await self._consume()
        self._channel.reopen_callbacks.add(self._on_reopen)

    async def _consume(self) -> None:
        raw = await self._channel.get_underlay_channel()
        self._raw = raw
        acks = AckBatch(
            functools.partial(self._send_ack, raw),
            functools.partial(self._send_nack, raw),
            most=self._ack_most,
        )
        raw.closing.add_done_callback(lambda _: acks.close())  # never onto a reopened channel
        self._acks = acks
        await raw.basic_consume(self._queue, self._on_message, consumer_tag=self._tag)

    async def _send_ack(self, raw: aiormq.abc.AbstractChannel, tag: int, multiple: bool) -> None:
        try:
            await raw.basic_ack(tag, multiple=multiple, wait=False)
        except CHANNEL_ERRORS as exc:
            log.info("bus.ack_lost", queue=self._queue, error=type(exc).__name__)

    async def _send_nack(self, raw: aiormq.abc.AbstractChannel, tag: int, requeue: bool) -> None:
        try:
            await raw.basic_nack(tag, requeue=requeue, wait=False)
        except CHANNEL_ERRORS as exc:
            log.info("bus.nack_lost", queue=self._queue, error=type(exc).__name__)

    async def _store_down(self) -> bool:
        """Hold a failed delivery while the process's store is out of reach, until this
        consumer stops (its channel's close returns what it holds to the broker)."""
        down = self._bus.store_down
        return self._active and down is not None and await down()

    async def _no_channel(self, _tag: int, _flag: bool) -> None:
        raise AssertionError("a delivery before the consumer started")

    async def _on_reopen(self, _channel: object) -> None:
        if not self._active:
            return
        try:
            await self._consume()
        except Exception as exc:  # noqa: BLE001 - a restore failure must be logged, not raised
            log.error("bus.consumer_restore_failed", queue=self._queue, error=str(exc))  # noqa: TRY400
        else:
            log.info("bus.consumer_restored", queue=self._queue)

    async def _on_message(self, msg: aiormq.abc.DeliveredMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            delivery = AmqpDelivery(msg, self._queue, self._bus, self._acks)
            if delivery.content_type == BUNDLE_TYPE:
                await run_bundle(delivery, self._handler, self._store_down, self._items)
            else:
                await run_handler(delivery, self._handler, self._store_down)
        finally:
            self._tasks.discard(task)

    async def cancel(self) -> None:
        await self.shutdown(None)

    async def shutdown(self, grace: float | None) -> None:
        """Stop consuming, let running handlers settle (up to ``grace`` seconds), close the
        channel (the broker returns whatever is still unsettled)."""
        if self._active:
            self._active = False
            self._channel.reopen_callbacks.discard(self._on_reopen)
            raw = self._raw
            if raw is not None and not raw.is_closed:
                try:
                    await raw.basic_cancel(self._tag, timeout=5)
                except (*CHANNEL_ERRORS, TimeoutError):
                    log.debug("bus.cancel_failed", queue=self._queue)
            await asyncio.sleep(0)  # deliveries that arrived before CancelOk start now
        current = asyncio.current_task()
        pending = [t for t in self._tasks if t is not current]
        if pending:
            await asyncio.wait(pending, timeout=grace)
        self._bus.forget(self)
        if current in self._tasks:  # cancelled from one of our own handlers
            assert current is not None  # which still settles its own delivery: close after it
            current.add_done_callback(lambda _: self._bus.spawn(self._close_channel()))
        else:
            await self._close_channel()

    async def _close_channel(self) -> None:
        await self._acks.flush()
        try:
            await self._channel.close()
        except CHANNEL_ERRORS:
            log.debug("bus.channel_close_failed", queue=self._queue)
