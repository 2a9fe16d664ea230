"""The AMQP bus: RabbitMQ through aio-pika.

One robust connection per bus (``_amqp_connection.py``, the only module that imports aio-pika:
it fails over between a cluster's nodes). Publishing has one channel with publisher confirms;
each subscription gets its own channel, so its QoS is its own and a channel error elsewhere (a
refused publish closes the publishing channel) does not touch it. Channels reopen and
consumers resume by themselves after a connection loss.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, cast

import aiormq
import aiormq.abc
import structlog
from pamqp.commands import Basic

from hub.bus._amqp_connection import open_connection
from hub.bus._amqp_consumer import CHANNEL_ERRORS, AmqpSubscription
from hub.bus._bundle import BUNDLE_TYPE, Gatherer, bundle_props, encode_bundle, split
from hub.bus._common import IdSource
from hub.bus.api import Handler, OutMessage, StoreDown, Subscription
from hub.bus.exceptions import (
    AccessRefused,
    BusClosed,
    BusError,
    NotConfirmed,
    NotDeclared,
    Rejected,
    Unroutable,
)
from hub.bus.topology import DLX_EXCHANGE
from hub.bus.urls import BrokerUrl
from hub.metrics import METRICS

__all__ = ["AmqpBus", "close_quietly", "connect_amqp", "error_for"]

log = structlog.get_logger("hub.bus")
_ACK = Basic.Ack
_Props = Basic.Properties
_PERSISTENT = 2
_TRANSIENT = 1  # OutMessage(persistent=False): telemetry, kept in memory only
RENEW_EVERY = 5.0  # seconds between two renewals of the publishing channel (AmqpBus._renew)


def error_for(exc: BaseException, what: str) -> BusError:
    text = str(exc) or type(exc).__name__
    if isinstance(
        exc, aiormq.exceptions.ChannelAccessRefused | aiormq.exceptions.ConnectionNotAllowed
    ):  # the latter: a user limit (max-channels) reached, the broker closed the connection
        return AccessRefused(f"{what}: {text}")
    if isinstance(exc, aiormq.exceptions.ChannelPreconditionFailed) and "user_id" in text:
        return AccessRefused(f"{what}: {text}")
    if isinstance(exc, aiormq.exceptions.ChannelNotFoundEntity):
        return NotDeclared(f"{what}: {text}")
    if isinstance(exc, aiormq.exceptions.ChannelClosed):
        return BusError(f"{what}: {text}")
    return NotConfirmed(f"{what}: {text}")


async def connect_amqp(
    url: str,
    *,
    identity: str,
    user_prefix: str = "",
    dead_letter_exchange: str = DLX_EXCHANGE,
    close_grace: float = 10.0,
    ready_timeout: float = 30.0,
    reconnect_interval: float = 1.0,
    store_down: StoreDown | None = None,
    bundles: bool = True,
) -> AmqpBus:
    """Connect as broker user ``user_prefix + identity`` (the URL carries that user, its
    password and the vhost). With several nodes in the URL (``amqp://u:p@h1:5672,h2:5672/v``)
    it connects to one that answers (trying each in turn from a random one) and, whenever the
    connection is lost, to the next.

    ``user_prefix``: RabbitMQ users are global to a broker, so deployments (and test runs)
    sharing one give theirs a prefix; the bus publishes with the prefixed user id and strips the
    prefix from the user ids it delivers, so the rest of the system sees identities only.

    ``ready_timeout``: how long a publish waits for a lost connection to come back before
    raising NotConfirmed. ``close_grace``: how long close() lets running handlers finish.
    ``reconnect_interval``: pause between reconnection attempts after a connection loss.
    ``store_down``: whether the process's store is out of reach now; while it is, a delivery
    whose handler failed is held and handled again (``hub.bus._common.run_handler``).
    ``bundles``: what this bus publishes to one routing key in one turn of the loop goes as one
    message (``hub.bus._bundle``); every bus reads bundles whatever this says.
    """
    broker = BrokerUrl.parse(url)
    connection = await open_connection(
        broker, name=f"renkei {identity}", reconnect_interval=reconnect_interval
    )
    bus = AmqpBus(connection, identity, dead_letter_exchange, close_grace, ready_timeout)
    bus.user_prefix = user_prefix
    bus.store_down = store_down
    bus.bundles = bundles
    bus.on_cluster = len(broker.nodes) > 1
    try:
        await bus.open()
    except BaseException:
        await connection.close()
        raise
    return bus


class AmqpBus:
    """See :class:`hub.bus.api.Bus`."""

    def __init__(
        self,
        connection: Any,
        identity: str,
        dead_letter_exchange: str,
        close_grace: float,
        ready_timeout: float,
    ) -> None:
        self.connection = connection
        self._identity = identity
        self.user_prefix = ""
        self.store_down: StoreDown | None = None
        self.on_cluster = False  # several nodes: a refused publish renews the channel
        self._renewed = -RENEW_EVERY
        self.dead_letter_exchange = dead_letter_exchange
        self._close_grace = close_grace
        self._ready_timeout = ready_timeout
        self._channel: Any = None
        self._raw: aiormq.abc.AbstractChannel | None = None
        self._ids = IdSource()
        self._subs: set[AmqpSubscription] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._closed = False
        self.bundles = False  # gather each turn's publishes to a key into bundles (connect_amqp)
        self._gatherers: dict[tuple[str, str, bool, str | None], Gatherer] = {}

    @property
    def identity(self) -> str:
        return self._identity

    async def open(self) -> None:
        channel = self.connection.channel(publisher_confirms=True, on_return_raises=False)
        await channel.initialize()
        self._channel = channel
        channel.reopen_callbacks.add(self._on_channel_reopen)
        await self._attach()

    async def _attach(self) -> None:
        raw = await self._channel.get_underlay_channel()
        raw.closing.add_done_callback(lambda _: self._on_channel_close(raw))
        self._raw = raw

    def _on_channel_close(self, raw: aiormq.abc.AbstractChannel) -> None:
        """Bound to each raw channel: aio-pika's own close callbacks of a channel can run after
        the connection came back (at once, on another node) and the channel reopened, and
        must not then take the new one away."""
        if self._raw is raw:
            self._raw = None

    async def _on_channel_reopen(self, _channel: object) -> None:
        try:
            await self._attach()
        except Exception as exc:  # noqa: BLE001 - logged; the next reopen retries
            log.error("bus.publish_channel_restore_failed", error=str(exc))  # noqa: TRY400

    async def _wait_ready(self) -> aiormq.abc.AbstractChannel:
        """The publishing channel, once (re)opened. Polls: this is only reached while the
        channel or the connection is being restored."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ready_timeout
        while True:
            if self._closed:
                raise BusClosed("the bus is closed")
            raw = self._raw
            if raw is not None and not raw.is_closed:
                return raw
            if loop.time() > deadline:
                raise NotConfirmed(f"the broker has been unavailable for {self._ready_timeout}s")
            await asyncio.sleep(0.01)

    async def _send(
        self, exchange: str, routing_key: str, body: bytes, props: Any, mandatory: bool
    ) -> None:
        raw = self._raw
        if raw is None or raw.is_closed:
            raw = await self._wait_ready()
        try:  # wait=False: the confirm is the wait; not also a wake-up when the frame is written
            result = await cast(aiormq.Channel, raw).basic_publish(  # (not in AbstractChannel)
                body,
                exchange=exchange,
                routing_key=routing_key,
                properties=props,
                mandatory=mandatory,
                wait=False,
            )
        except aiormq.exceptions.DeliveryError as exc:  # aiormq raises a basic.nack
            if not isinstance(exc.frame, Basic.Nack):
                raise error_for(exc, f"publish to {exchange or 'amq.default'!r}") from exc
            self._renew(raw)
            raise Rejected.publish(exchange, routing_key) from exc
        except CHANNEL_ERRORS as exc:
            raise error_for(exc, f"publish to {exchange or 'amq.default'!r}") from exc
        except asyncio.CancelledError:  # not ours when this task is not being cancelled:
            task = asyncio.current_task()  # the connection's close failed the confirm with it
            if task is None or task.cancelling():
                raise
            if self._closed:
                raise BusClosed("the bus closed before the publish was confirmed") from None
            raise NotConfirmed(f"publish to {exchange!r}: its confirm was cancelled") from None
        if type(result) is not _ACK:
            if isinstance(result, aiormq.abc.DeliveredMessage):
                raise Unroutable(f"no queue bound to {exchange!r} with key {routing_key!r}")
            raise NotConfirmed(f"publish to {exchange!r} was not confirmed: {result!r}")

    def _renew(self, raw: aiormq.abc.AbstractChannel) -> None:
        """After a publisher nack, on a cluster: close the publishing channel, and aio-pika
        opens a new one. RabbitMQ 3.10 refuses for good a channel's publishes to a quorum queue
        whose first came while the queue's record still named a lost leader (fixed in 3.11/3.12,
        rabbitmq-server#9241); a new channel starts afresh. At most once per ``RENEW_EVERY``
        seconds: a full queue refuses too (an office may fill ``renkei.dead``)."""
        now = asyncio.get_running_loop().time()
        if self.on_cluster and raw is self._raw and now >= self._renewed + RENEW_EVERY:
            self._renewed = now
            self.spawn(close_quietly(raw))

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        message: OutMessage,
        *,
        mandatory: bool = True,
        as_user: str | None = None,
    ) -> None:
        if self._closed:
            raise BusClosed("the bus is closed")
        if self.bundles and exchange != self.dead_letter_exchange:
            key = (exchange, routing_key, mandatory, as_user)
            gatherer = self._gatherers.get(key)
            if gatherer is None:
                gatherer = self._gatherers[key] = Gatherer(
                    lambda items: self._send_gathered(key, items), self._channel_open
                )
            await gatherer.publish(message)
            return
        await self._publish_one(exchange, routing_key, message, mandatory, as_user)

    def _channel_open(self) -> bool:
        """Whether a send can be awaiting its confirm: else it awaits the channel
        (``_wait_ready``), and a publish behind it waits for the channel on its own deadline."""
        raw = self._raw
        return raw is not None and not raw.is_closed

    async def _send_gathered(
        self, key: tuple[str, str, bool, str | None], items: list[OutMessage]
    ) -> list[BaseException | None] | None:
        """What a turn gathered for one key: a lone message as itself, else bundles; with
        several, each item's outcome is its own bundle's (one taken, another refused)."""
        exchange, routing_key, mandatory, as_user = key
        parts = split(items)
        sends = [
            self._publish_one(exchange, routing_key, part[0], mandatory, as_user)
            if len(part) == 1
            else self._publish_bundle(exchange, routing_key, part, mandatory, as_user)
            for part in parts
        ]
        if len(sends) == 1:
            await sends[0]
            return None
        outcomes: list[BaseException | None] = []
        for part, result in zip(
            parts, await asyncio.gather(*sends, return_exceptions=True), strict=True
        ):
            if isinstance(result, asyncio.CancelledError):
                raise result
            outcomes += [result if isinstance(result, BaseException) else None] * len(part)
        return outcomes

    async def _publish_bundle(
        self,
        exchange: str,
        routing_key: str,
        items: list[OutMessage],
        mandatory: bool,
        as_user: str | None,
    ) -> None:
        persistent, ttl = bundle_props(items)
        props = _Props(
            message_id=self._ids(),  # a label (Bundled.id), unique in this process
            content_type=BUNDLE_TYPE,
            user_id=self.user_prefix + (self._identity if as_user is None else as_user),
            delivery_mode=_PERSISTENT if persistent else _TRANSIENT,
            expiration=None if ttl is None else str(ttl),
        )
        await self._send(exchange, routing_key, encode_bundle(items), props, mandatory)
        METRICS.published(len(items))

    async def _publish_one(
        self,
        exchange: str,
        routing_key: str,
        message: OutMessage,
        mandatory: bool,
        as_user: str | None,
    ) -> None:
        ttl = message.expiration_ms
        props = _Props(
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            headers=dict(message.headers) if message.headers else None,
            content_type=message.content_type,
            user_id=self.user_prefix + (self._identity if as_user is None else as_user),
            delivery_mode=_PERSISTENT if message.persistent else _TRANSIENT,
            expiration=None if ttl is None else str(ttl),
        )
        await self._send(exchange, routing_key, message.body, props, mandatory)
        METRICS.published()

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 100) -> Subscription:
        if self._closing:
            raise BusClosed("the bus is closed")
        if prefetch < 1:
            raise ValueError("prefetch must be >= 1")
        channel = self.connection.channel(publisher_confirms=False)
        tag = f"{self._identity}.{self._ids()}"
        sub = AmqpSubscription(self, channel, queue, handler, tag, prefetch=prefetch)
        try:
            await channel.initialize()
            await channel.set_qos(prefetch_count=prefetch)
            await sub.start()
        except CHANNEL_ERRORS as exc:
            await close_quietly(channel)
            raise error_for(exc, f"consume from {queue!r}") from exc
        self._subs.add(sub)
        return sub

    def forget(self, sub: AmqpSubscription) -> None:
        self._subs.discard(sub)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        await asyncio.gather(*(sub.shutdown(self._close_grace) for sub in list(self._subs)))
        self._closed = True
        await self.connection.close()


async def close_quietly(channel: Any) -> None:
    try:
        await channel.close()
    except (*CHANNEL_ERRORS, RuntimeError):
        log.debug("bus.channel_close_failed")
