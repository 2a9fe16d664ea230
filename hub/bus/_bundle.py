"""Bundles: what one process publishes to one routing key in one turn of its loop, sent as one
AMQP message (``hub/bus/README.md``, "Bundles").

At the peak a hub worker forwards many queries to one office in a turn, an office answers many
at once and the hub replies many to one requester: each message paid its own publish, confirm,
delivery, ack and wake-up, in the processes and in RabbitMQ. A bundle pays them once. Each item
keeps its own body (its bytes exactly as signed), message id, correlation id, content type and
headers; the broker-vouched ``user_id``, the exchange, the queue, ``redelivered`` and the
delivery count are the bundle's, the same for every item. Nothing is gathered at one message
in flight: a lone message goes as itself.

The format (content type :data:`BUNDLE_TYPE`): ``RB1``, the number of items (2 bytes), then for
each item its properties (JSON) and its body, each prefixed by its length (4 bytes, big-endian).
Bounded: :data:`MOST_ITEMS` items, :data:`MOST_PROPS` bytes of properties an item; a bundle is
made no bigger than :data:`MOST_BYTES`. Anything else is refused whole (:class:`BadBundle`).

Settling (:func:`run_bundle`): every item goes to the handler as a delivery of its own, as
many at once as the subscription's prefetch. The bundle is acknowledged when every item is; an
item nacked for requeue makes the bundle nacked once every item has ended (the others come back
as redeliveries, which every handler takes as such); an item dead-lettered goes to the dead
letters alone. On the bundle's last delivery before the queue's limit an item that would be
requeued is dead-lettered alone (``delivery_limit``, as the broker would), so a poison item
does not take the others with it.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import orjson
import structlog

from hub.bus._common import broker_dead_letter_headers, dead_letter_message, run_handler
from hub.bus.api import EMPTY_HEADERS, Bundled, Death, Handler, OutMessage, StoreDown
from hub.bus.exceptions import NotConfirmed
from hub.bus.topology import DEAD_QUEUE, DELIVERY_LIMIT
from hub.metrics import METRICS

if TYPE_CHECKING:
    from hub.bus._amqp_consumer import AmqpDelivery

__all__ = [
    "BUNDLE_TYPE",
    "MOST_BYTES",
    "MOST_ITEMS",
    "MOST_PROPS",
    "BadBundle",
    "Gatherer",
    "decode_bundle",
    "encode_bundle",
    "run_bundle",
]

log = structlog.get_logger("hub.bus")

BUNDLE_TYPE = "application/vnd.renkei.bundle"
MOST_ITEMS = 64
MOST_PROPS = 4096
MOST_BYTES = 192 * 1024
"""A bundle's size at most: under the broker's ``max_message_size`` (256 KiB, README)."""
_MAGIC = b"RB1"
_COUNT = struct.Struct(">H")
_LENGTH = struct.Struct(">I")


class BadBundle(ValueError):
    """A message of :data:`BUNDLE_TYPE` that is not a well-formed bundle."""


def _props(m: OutMessage) -> bytes:
    return orjson.dumps(
        {
            "id": m.message_id,
            "correlation_id": m.correlation_id,
            "content_type": m.content_type,
            "headers": dict(m.headers) if m.headers else {},
        }
    )


def item_size(m: OutMessage) -> int:
    """What an item adds to a bundle, about (its properties' size estimated)."""
    return 8 + len(m.body) + 96 + sum(len(k) + len(v) + 6 for k, v in (m.headers or {}).items())


def encode_bundle(items: Sequence[OutMessage]) -> bytes:
    parts = [_MAGIC, _COUNT.pack(len(items))]
    for m in items:
        props = _props(m)
        parts += [_LENGTH.pack(len(props)), props, _LENGTH.pack(len(m.body)), m.body]
    return b"".join(parts)


class Item:
    """One item of a bundle, as read: its properties checked, its body as sent."""

    __slots__ = ("body", "content_type", "correlation_id", "headers", "message_id")

    def __init__(self, props: object, body: bytes) -> None:
        if not isinstance(props, dict) or set(props) != {
            "id",
            "correlation_id",
            "content_type",
            "headers",
        }:
            raise BadBundle("an item's properties are not those of a message")
        mid, cid, ctype, headers = (
            props["id"],
            props["correlation_id"],
            props["content_type"],
            props["headers"],
        )
        if not isinstance(mid, str) or not all(
            v is None or isinstance(v, str) for v in (cid, ctype)
        ):
            raise BadBundle("an item's message id, correlation id or content type is not text")
        if not isinstance(headers, dict) or not all(type(v) is str for v in headers.values()):
            raise BadBundle("an item's headers are not text")
        if any(_too_long(v) for v in (mid, cid, ctype, *headers)):
            raise BadBundle(f"an item's id, content type or header name is over {_SHORT} bytes")
        if ctype == BUNDLE_TYPE:  # its dead-letter copy would be read as the copier's bundle
            raise BadBundle("an item says it is a bundle")
        self.message_id: str = mid
        self.correlation_id: str | None = cid
        self.content_type: str | None = ctype
        self.headers: Mapping[str, str] = headers or EMPTY_HEADERS
        self.body = body


_SHORT = 255  # an AMQP short string's bytes: a message's id, content type, header names


def _too_long(text: str | None) -> bool:
    return text is not None and len(text.encode()) > _SHORT


def decode_bundle(data: bytes) -> list[Item]:
    """The items of a bundle, or :class:`BadBundle` saying what is wrong with it."""
    if len(data) < 5 or data[:3] != _MAGIC:
        raise BadBundle("not a bundle (no RB1 header)")
    (count,) = _COUNT.unpack_from(data, 3)
    if not 1 <= count <= MOST_ITEMS:
        raise BadBundle(f"{count} items (1 to {MOST_ITEMS})")
    at, items = 5, []
    for n in range(count):
        props_len = _length(data, at, n)
        if props_len > MOST_PROPS:
            raise BadBundle(f"item {n}: properties of {props_len} bytes (at most {MOST_PROPS})")
        at += 4
        raw = data[at : at + props_len]
        if len(raw) != props_len:
            raise BadBundle(f"item {n}: cut short in its properties")
        at += props_len
        body_len = _length(data, at, n)
        at += 4
        body = data[at : at + body_len]
        if len(body) != body_len:
            raise BadBundle(f"item {n}: cut short in its body")
        at += body_len
        try:
            props = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadBundle(f"item {n}: properties are not JSON") from exc
        items.append(Item(props, body))
    if at != len(data):
        raise BadBundle(f"{len(data) - at} bytes after the last item")
    return items


def _length(data: bytes, at: int, n: int) -> int:
    if at + 4 > len(data):
        raise BadBundle(f"item {n}: cut short before a length")
    (length,) = _LENGTH.unpack_from(data, at)
    return int(length)


Outcomes = Sequence[BaseException | None] | None
"""What a gatherer's send says: None, every item confirmed; else each item's own (a turn cut
into several bundles: one may be taken and another refused)."""


class Gatherer:
    """The publishes to one routing key: the first of a turn waits that turn out — and, while
    the key's last send awaits its confirm, that confirm (Nagle's rule: what comes meanwhile
    joins) — then sends what it gathered, itself alone or a bundle; every caller returns on the
    confirm of the message that carried its item (or raises what that publish raised). At one
    message in flight nothing waits: the last send was confirmed long before."""

    __slots__ = ("_hold", "_items", "_send", "_sent", "_unconfirmed")

    def __init__(
        self,
        send: Callable[[list[OutMessage]], Awaitable[Outcomes]],
        hold: Callable[[], bool] = lambda: True,
    ) -> None:
        """``hold``: whether a last send can be awaiting its confirm now (the publishing
        channel open); if not, it is waiting for the channel, and what comes waits for the
        channel itself, not also for that send's time-out."""
        self._send = send
        self._hold = hold
        self._items: list[OutMessage] = []
        self._sent: asyncio.Future[Outcomes] | None = None
        self._unconfirmed: asyncio.Future[Outcomes] | None = None  # the last send's outcome

    async def publish(self, message: OutMessage) -> None:
        at = len(self._items)  # this item's place in what its turn sends
        self._items.append(message)
        sent = self._sent
        if sent is not None:  # a turn's first has it
            _own(await asyncio.shield(sent), at)
            return
        sent = self._sent = asyncio.get_running_loop().create_future()
        try:
            await asyncio.sleep(0)  # what the other tasks of this turn publish joins it
            while (last := self._unconfirmed) is not None and self._hold():
                await asyncio.wait((last,))  # what comes while the last send is confirmed joins
        except asyncio.CancelledError:  # the others' items still go (and this one's may)
            task = asyncio.ensure_future(self._flush(sent))
            _flushing.add(task)
            task.add_done_callback(_flushed)
            raise
        _own(await self._flush(sent), at)

    async def _flush(self, sent: asyncio.Future[Outcomes]) -> Outcomes:
        items, self._items, self._sent = self._items, [], None
        self._unconfirmed = sent
        try:
            outcomes = await self._send(items)
        except asyncio.CancelledError:
            sent.set_exception(NotConfirmed("the publish was cancelled before its confirm"))
            sent.exception()  # heard: by the callers that wait on it, if any
            raise
        except Exception as exc:
            sent.set_exception(exc)
            sent.exception()
            raise
        finally:
            if self._unconfirmed is sent:
                self._unconfirmed = None
        sent.set_result(outcomes)
        return outcomes


def _own(outcomes: Outcomes, at: int) -> None:
    failed = None if outcomes is None else outcomes[at]
    if failed is not None:
        raise failed


_flushing: set[asyncio.Task[Outcomes]] = set()  # a cancelled first's flush, under way


def _flushed(task: asyncio.Task[Outcomes]) -> None:
    """Its outcome went to the callers that waited on it: heard, not left to the loop's log."""
    _flushing.discard(task)
    if not task.cancelled():
        task.exception()


class BundleItem:
    """An item of a delivered bundle: a delivery of its own to the handler."""

    __slots__ = ("_bundle", "_headers", "_item", "bundled", "settled", "verdict")

    def __init__(self, bundle: AmqpDelivery, item: Item, bundled: Bundled) -> None:
        self._bundle = bundle
        self._item = item
        self.bundled = bundled  # the same object for every item of this bundle
        self._headers: Mapping[str, str] | None = None
        self.settled = False
        self.verdict = "ack"  # or "requeue", or "dead" (dead-lettered alone: counted as it went)

    @property
    def body(self) -> bytes:
        return self._item.body

    @property
    def message_id(self) -> str:
        return self._item.message_id

    @property
    def correlation_id(self) -> str | None:
        return self._item.correlation_id

    @property
    def content_type(self) -> str | None:
        return self._item.content_type

    @property
    def headers(self) -> Mapping[str, str]:
        """The item's own, less any ``x-``; on a bundle the broker dead-lettered, with that
        dead-lettering's reason and queue and the publisher's ``user_id`` (as a message's)."""
        if self._headers is None:
            own = {k: v for k, v in self._item.headers.items() if not k.startswith("x-")}
            death = self._bundle.death
            if death is not None:
                own = broker_dead_letter_headers(own, death.reason, death.queue, self.user_id)
            self._headers = own
        return self._headers

    @property
    def user_id(self) -> str | None:
        return self._bundle.user_id

    @property
    def death(self) -> Death | None:
        return self._bundle.death

    @property
    def exchange(self) -> str:
        return self._bundle.exchange

    @property
    def routing_key(self) -> str:
        return self._bundle.routing_key

    @property
    def queue(self) -> str:
        return self._bundle.queue

    @property
    def redelivered(self) -> bool:
        return self._bundle.redelivered

    @property
    def delivery_count(self) -> int:
        return self._bundle.delivery_count

    async def ack(self) -> None:
        self.settled = True  # counted with its bundle (``run_bundle``): it may yet go back

    async def nack(self, *, requeue: bool = True) -> None:
        if self.settled:
            return
        if not requeue:
            await self.dead_letter("rejected")
        elif self.queue != DEAD_QUEUE and self.delivery_count >= DELIVERY_LIMIT:
            # the bundle's last delivery (renkei.dead has no limit: what a look returns stays)
            await self.dead_letter("delivery_limit")
        else:
            self.settled, self.verdict = True, "requeue"

    async def dead_letter(self, reason: str) -> None:
        if self.settled:
            return
        bus = self._bundle.bus
        await bus.publish(
            bus.dead_letter_exchange, self.routing_key, dead_letter_message(self, reason)
        )
        if not self.settled:
            self.settled, self.verdict = True, "dead"
            METRICS.settled("dead_letter")


async def run_bundle(
    delivery: AmqpDelivery,
    handler: Handler,
    store_down: StoreDown | None,
    room: asyncio.Semaphore,
) -> None:
    """Every item of a delivered bundle to ``handler``, as many at once as ``room`` lets (the
    subscription's prefetch: items in hand are bounded as messages are), then the bundle
    settled: acked if every item was, else nacked for requeue. A malformed bundle is
    dead-lettered whole, its reason said, as opaque bytes (not to be read as one again); on
    ``renkei.dead`` it goes to the handler as the one message it is."""
    try:
        unpacked = decode_bundle(delivery.body)
        bundled = Bundled(delivery.message_id, len(unpacked))
        items = [BundleItem(delivery, item, bundled) for item in unpacked]
        delivery.counted = False  # its items are counted as they settle, each a message
    except BadBundle as exc:
        if delivery.queue == DEAD_QUEUE:  # already a dead letter (an office may write the
            # dead-letter exchange), read by the replayer, who may not: one opaque message
            await run_handler(delivery, handler, store_down)
            return
        await delivery.dead_letter(f"bad bundle: {exc}", opaque=True)
        return

    async def run(item: BundleItem) -> None:
        async with room:
            await run_handler(item, handler, store_down)

    # every item ends before the bundle is settled; one that could not even be settled (its
    # dead letter refused: renkei.dead full, the connection lost) returns the bundle, whose
    # own limit the broker then keeps — never left in hand, nor acked with the others
    ended = await asyncio.gather(*(run(item) for item in items), return_exceptions=True)
    for item, failed in zip(items, ended, strict=True):
        if isinstance(failed, BaseException):
            log.error(
                "bus.bundle_item_unsettled",
                queue=delivery.queue,
                message_id=item.message_id,
                error=type(failed).__name__,
            )
    acked = all(item.settled and item.verdict != "requeue" for item in items)
    # each item a message, counted once by how this delivery ended for it: dead-lettered alone
    # (counted as its copy went), else acked with the bundle or back in the queue with it —
    # an item its handler acked or could not settle included
    for item in items:
        if item.verdict != "dead":
            METRICS.settled("ack" if acked else "requeue")
    if acked:
        await delivery.ack()
    else:
        await delivery.nack(requeue=True)


def bundle_props(items: Sequence[OutMessage]) -> tuple[bool, int | None]:
    """A bundle's persistence (any item's) and time to live (the longest: none if any has
    none; an item is late, never lost, as a message whose deadline passed in the queue)."""
    ttls = [m.expiration_ms for m in items]
    ttl = None if None in ttls else max(t for t in ttls if t is not None)
    return any(m.persistent for m in items), ttl


def split(items: Sequence[OutMessage]) -> list[list[OutMessage]]:
    """Items in order, cut into bundles of at most :data:`MOST_ITEMS` and :data:`MOST_BYTES`
    (an item bigger than that alone)."""
    out: list[list[OutMessage]] = []
    size = MOST_BYTES + 1
    for m in items:
        grown = size + item_size(m)
        if not out or len(out[-1]) >= MOST_ITEMS or grown > MOST_BYTES:
            out.append([m])
            size = 5 + item_size(m)
        else:
            out[-1].append(m)
            size = grown
    return out
