"""The dead-letter queue (``renkei.dead``) for the operators: what waits there and why, and
the replay of one message back to where the broker took it from, as its original sender.

`DeadLetters` reads the queue as the broker identity ``replayer`` — the only one with
RabbitMQ's ``impersonator`` tag, which may read ``renkei.dead`` and write the network's own
exchanges (``hub.bus.REPLAYABLE``) and nothing else. A look holds up to ``scan`` messages
unacknowledged for a moment (until ``quiet`` seconds pass without another) and returns them
all to the queue; a replay does the same, but publishes the one message it was asked for
(confirmed, ``mandatory``) before it acknowledges it. Never the body: a `DeadLetter` says
where it was, why, when, how big, and who sent it.

What may be replayed (`why_not`, pure): only what the **broker** dead-lettered — a message
with an ``x-death`` (`hub.bus.Death`) — with its broker-vouched ``user_id``, to the exchange
and the one routing key of that dead-lettering, and only when that sender may write that
exchange itself (`Topology` permissions). A service's own dead-letter copy (``dead_letter()``:
no ``x-death``, its ``user_id`` the service's, the original sender only its word in a header)
is refused. An office may publish straight to ``renkei.dlx`` and put a forged ``x-death`` on
what it sends, but the broker vouches for its ``user_id`` (a message without one is refused),
so the worst a replay of it can do is send again, as that office, what it could send itself.
A replayed message is acknowledged only after the broker confirmed the publish; a crash in
between replays it at most twice, which the hub takes once (a query's claim by its id, one
record each: ``hub/README.md``). A second replay of the same id finds nothing (`NoDeadLetter`).

A bundle (``hub/bus/README.md``, "Bundles") the broker dead-lettered is one message on
``renkei.dead`` holding several: each item is listed as a dead letter of its own, marked with
its bundle, and a replay of any item sends the whole bundle back — every item, as the broker
took them together — and takes it out of the queue. One item alone cannot leave: what the
broker vouched for (``x-death``, ``user_id``) is the bundle's, and an item put back on its own
would be a copy no longer replayable.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from hub.bus import (
    BODY_SIZE_HEADER,
    DEAD_LETTER_HEADERS,
    DEAD_QUEUE,
    QUEUE_HEADER,
    REASON_HEADER,
    REPLAYABLE,
    USER_HEADER,
    Bundled,
    Bus,
    BusError,
    Delivery,
    OutMessage,
    Topology,
)
from hub.log import get_logger
from monitor.exceptions import NoDeadLetter, NotReplayable, ReplayFailed

__all__ = ["MAX_MESSAGE_ID", "DeadLetter", "DeadLetters", "describe", "why_not"]

log = get_logger("monitor.deadletters")
_T = TypeVar("_T")
MAX_MESSAGE_ID = 255  # an AMQP short string


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message in ``renkei.dead``, without its body."""

    message_id: str
    reason: str  # the broker's (expired, rejected, delivery_limit), a service's own, or ""
    queue: str  # the queue it left ("": not said)
    user_id: str | None  # who published this message, as the broker vouched
    by_broker: bool  # dead-lettered by the broker (x-death), not a service's copy
    exchange: str  # where it was first published ("" for a service's copy: not said)
    routing_key: str
    count: int  # times dead-lettered from that queue for that reason (1 for a copy)
    at: dt.datetime | None  # when the broker dead-lettered it (None for a copy)
    size: int  # bytes of the body (of the whole body, if a copy was cut)
    claimed_sender: str | None  # a service's copy: whom that service says sent it
    refusal: str | None  # why it may not be replayed; None: it may
    bundle: str | None = None  # the bundle it came in, its publisher's id ("": none given;
    # None: it came in none); a replay sends all its items
    bundle_items: int = 1  # that bundle's items, this one among them

    @property
    def replayable(self) -> bool:
        return self.refusal is None


def _again(d: Delivery) -> OutMessage:
    """``d`` as it was first published: the dead-lettering's headers left out."""
    return OutMessage(
        d.body,
        d.message_id,
        d.correlation_id,
        {k: v for k, v in d.headers.items() if k not in DEAD_LETTER_HEADERS},
        content_type=d.content_type,
    )


def why_not(d: Delivery, topology: Topology) -> str | None:
    """Why ``d`` (read from ``renkei.dead``) may not be replayed, or None if it may."""
    death = d.death
    if death is None or not d.user_id:
        return (
            "not dead-lettered by the broker (a service's copy, or sent to renkei.dlx)"
            if death is None
            else "no broker-vouched sender (no user_id)"
        )
    if len(death.routing_keys) != 1:
        return f"routed with {len(death.routing_keys)} keys, not one"
    if re.search(REPLAYABLE, death.exchange) is None:
        return f"its exchange {death.exchange or 'amq.default'!r} is not one a replay may use"
    permission = topology.permission(topology.identity_prefix + d.user_id)
    if permission is None:
        return f"its sender {d.user_id!r} is no identity of the network"
    if not permission.may_write(death.exchange):
        return f"its sender {d.user_id!r} may not write {death.exchange!r} itself"
    return None


def describe(d: Delivery, topology: Topology) -> DeadLetter:
    death, headers = d.death, d.headers
    size = len(d.body)
    cut = headers.get(BODY_SIZE_HEADER, "")  # a copy's word (or a publisher's, on renkei.dlx)
    if cut.isascii() and cut.isdigit() and len(cut) <= 12:
        size = int(cut)
    return DeadLetter(
        message_id=d.message_id,
        reason=death.reason if death else headers.get(REASON_HEADER, ""),
        queue=death.queue if death else headers.get(QUEUE_HEADER, ""),
        user_id=d.user_id,
        by_broker=death is not None,
        exchange=death.exchange if death else "",
        routing_key=death.routing_keys[0] if death and death.routing_keys else d.routing_key,
        count=death.count if death else 1,
        at=death.time if death else None,
        size=size,
        claimed_sender=None if death else headers.get(USER_HEADER),
        refusal=why_not(d, topology),
        bundle=d.bundled.id if d.bundled else None,
        bundle_items=d.bundled.items if d.bundled else 1,
    )


class DeadLetters:
    """``look(limit)`` and ``replay(message_id)`` over a bus connected as the replayer."""

    def __init__(
        self, bus: Bus, topology: Topology, *, scan: int = 1000, quiet: float = 0.3
    ) -> None:
        self._bus = bus
        self._topology = topology
        self._scan = scan
        self._quiet = quiet
        self._lock = asyncio.Lock()  # one look or replay at a time in this process

    async def look(self, limit: int = 200) -> list[DeadLetter]:
        """Up to ``limit`` messages waiting, oldest first; all stay in the queue."""

        async def keep_all(held: Sequence[Delivery]) -> list[DeadLetter]:
            return [describe(d, self._topology) for d in held]

        return await self._holding(min(limit, self._scan), lambda _: False, keep_all)

    async def replay(self, message_id: str) -> DeadLetter:
        """Send the message with ``message_id`` back as its sender (an item of a bundle: the
        whole bundle); what it was. Raises `NoDeadLetter`, `NotReplayable` (it stays),
        `ReplayFailed` (it stays)."""
        if not message_id or len(message_id) > MAX_MESSAGE_ID or not message_id.isprintable():
            raise NoDeadLetter("a message id is 1 to 255 printable characters")
        wanted: list[Delivery] = []  # the first replayable message with that id
        refused: list[Delivery] = []  # the first with that id that may not be replayed
        held_of: collections.Counter[Bundled] = collections.Counter()  # items held, by bundle

        def complete(d: Delivery) -> bool:
            """The message is held, and every item of its bundle if it came in one. Ids are
            their publishers' choice: one that may not be replayed hides no other."""
            if d.bundled is not None:
                held_of[d.bundled] += 1
            if d.message_id == message_id and not wanted:
                (wanted if why_not(d, self._topology) is None else refused).append(d)
            if not wanted:
                return False
            bundle = wanted[0].bundled
            return bundle is None or held_of[bundle] >= bundle.items

        async def send(held: Sequence[Delivery]) -> DeadLetter:
            if not wanted and refused:
                refusal = why_not(refused[0], self._topology)
                raise NotReplayable(f"message {message_id!r} may not be replayed: {refusal}")
            if not wanted:
                raise NoDeadLetter(f"no message {message_id!r} waits in {DEAD_QUEUE}")
            found = wanted[0]
            dead = describe(found, self._topology)
            assert dead.refusal is None  # chosen so
            together = [d for d in held if found.bundled and d.bundled is found.bundled]
            if found.bundled and len(together) != found.bundled.items:
                raise ReplayFailed(
                    f"message {message_id!r} came in a bundle of {found.bundled.items}, of"
                    f" which {len(together)} could be read: nothing was sent; try again"
                )
            assert found.user_id is not None  # why_not refuses a message without one
            going = together or [found]
            sent = await asyncio.gather(  # in one turn: the bus bundles them again
                *(
                    self._bus.publish(
                        dead.exchange, dead.routing_key, _again(d), as_user=found.user_id
                    )
                    for d in going
                ),
                return_exceptions=True,
            )
            failed = next((r for r in sent if isinstance(r, BaseException)), None)
            if isinstance(failed, BusError):  # it stays: what went is taken once (its claim)
                raise ReplayFailed(f"the broker did not take the replay: {failed}") from failed
            if failed is not None:
                raise failed
            for d in going:
                await d.ack()
            log.info(
                "dead_letter.replayed",
                queue=dead.queue,
                reason=dead.reason,
                sender=dead.user_id,
                exchange=dead.exchange,
                routing_key=dead.routing_key,
                items=len(going),
            )
            return dead

        return await self._holding(self._scan, complete, send)

    async def _holding(
        self,
        most: int,
        stop: Callable[[Delivery], bool],
        then: Callable[[Sequence[Delivery]], Awaitable[_T]],
    ) -> _T:
        """Hold up to ``most`` messages (until ``stop`` says one is the one, or ``quiet``
        seconds bring no other), run ``then`` over them, return every one not settled."""
        async with self._lock:
            held: list[Delivery] = []
            arrived = asyncio.Event()
            release = asyncio.Event()
            found = asyncio.Event()

            async def hold(d: Delivery) -> None:
                held.append(d)
                arrived.set()
                if stop(d):
                    found.set()
                await release.wait()  # ``then`` has settled what it took
                if not d.settled:
                    await d.nack(requeue=True)

            sub = await self._bus.consume(DEAD_QUEUE, hold, prefetch=max(1, most))
            try:
                while len(held) < most and not found.is_set():
                    arrived.clear()
                    try:
                        await asyncio.wait_for(arrived.wait(), self._quiet)
                    except TimeoutError:
                        break
                return await then(list(held))
            finally:
                # stop consuming before anything goes back, or it would come straight back
                # to this consumer; the cancel waits for the handlers, which return the rest
                stopping = asyncio.create_task(sub.cancel())
                for _ in range(3):
                    await asyncio.sleep(0)
                release.set()
                with contextlib.suppress(BusError):
                    await stopping
