"""What both buses share: running a handler, dead-letter copies, cheap ids."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
from collections.abc import Mapping
from typing import Any, cast

import structlog

from hub.bus.api import (
    BODY_SHA256_HEADER,
    BODY_SIZE_HEADER,
    DEAD_LETTER_HEADERS,
    DEAD_LETTER_MAX_BODY,
    QUEUE_HEADER,
    REASON_HEADER,
    USER_HEADER,
    Delivery,
    Handler,
    OutMessage,
    StoreDown,
)

__all__ = [
    "HOLD_FIRST",
    "HOLD_MOST",
    "IdSource",
    "broker_dead_letter_headers",
    "dead_letter_copy",
    "retry_pause",
    "run_handler",
]

log = structlog.get_logger("hub.bus")


class IdSource:
    """Cheap unique ids: a random per-process prefix and a counter (no uuid per message)."""

    __slots__ = ("_count", "_prefix")

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(6) + "."
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count)}"


def retry_pause(delivery_count: int) -> float:
    """How long a delivery waits before it goes back to its queue when its handler failed: on
    the bus itself (a publish ``NotConfirmed`` or ``Rejected``: a broker node lost, a quorum
    queue between leaders, a full queue) or on anything else (PostgreSQL restarting under the
    hub's claim, quota or directory): 0.25 s, doubling with each delivery, at most 5 s — so a
    passing outage does not use up the delivery limit in milliseconds and dead-letter the
    message unrecorded (after a node of a cluster dies, RabbitMQ 3.10 refuses a new channel's
    first publishes to a quorum queue led from that node until the new leader is known). With
    the default limit of 5 that rides out about 8 s; a longer outage dead-letters it, with
    its reason, into ``renkei.dead`` (the monitor can replay it)."""
    return min(0.25 * 2.0 ** min(delivery_count, 5), 5.0)


HOLD_FIRST = 0.05  # seconds before a held delivery is handled again; doubling
HOLD_MOST = 2.0  # ... up to this


class _Again:
    """A delivery handled again in this process after its handler failed: the same message,
    settled the same way, but ``redelivered`` — what the failed run did (a query id claimed,
    a query sent on) is the message's own, as after the broker's redelivery."""

    __slots__ = ("_delivery",)

    def __init__(self, delivery: Delivery) -> None:
        self._delivery = delivery

    @property
    def redelivered(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._delivery, name)


async def run_handler(
    delivery: Delivery, handler: Handler, store_down: StoreDown | None = None
) -> None:
    """Call ``handler``. While it fails and ``store_down`` says the process's store is out of
    reach, the delivery is held, unsettled, and handled again here (as a redelivery) after a
    pause — for as long as it takes, spending none of the broker's delivery limit, which is
    for failures of the message itself. Any other raise nacks with requeue after
    :func:`retry_pause`; a return without settling nacks at once."""
    pause, again = HOLD_FIRST, delivery
    while True:
        try:
            await handler(again)
        except Exception as exc:
            log.debug("bus.handler_traceback", queue=delivery.queue, exc_info=exc)
            said = {
                "queue": delivery.queue,
                "message_id": delivery.message_id,
                "delivery_count": delivery.delivery_count,
                "error": type(exc).__name__,
            }
            if not delivery.settled and store_down is not None and await store_down():
                log.warning("bus.handler_held", **said)  # not an error: an outage waited out
                await asyncio.sleep(pause)
                pause, again = min(pause * 2, HOLD_MOST), cast(Delivery, _Again(delivery))
                continue
            log.error("bus.handler_failed", **said)  # noqa: TRY400 - the traceback is at debug
            if not delivery.settled:
                await asyncio.sleep(retry_pause(delivery.delivery_count))
            if not delivery.settled:
                await delivery.nack(requeue=True)
            return
        else:
            break
    if not delivery.settled:
        log.error(
            "bus.handler_did_not_settle", queue=delivery.queue, message_id=delivery.message_id
        )
        await delivery.nack(requeue=True)


def broker_dead_letter_headers(
    headers: Mapping[str, str], reason: str, queue: str, user_id: str | None
) -> dict[str, str]:
    """The headers of a message the broker dead-lettered: its own reason and queue and the
    publisher's broker-vouched ``user_id``; whatever the publisher claimed in those headers
    (:data:`~hub.bus.api.DEAD_LETTER_HEADERS`) is dropped."""
    out = {k: v for k, v in headers.items() if k not in DEAD_LETTER_HEADERS}
    out[REASON_HEADER] = reason
    out[QUEUE_HEADER] = queue
    if user_id is not None:
        out[USER_HEADER] = user_id
    return out


def dead_letter_copy(
    body: bytes, headers: Mapping[str, str], reason: str, queue: str, user_id: str | None
) -> tuple[bytes, dict[str, str]]:
    """What a consumer's ``dead_letter(reason)`` publishes: the headers as for a broker dead
    letter, and the body — whole up to :data:`~hub.bus.api.DEAD_LETTER_MAX_BODY`, else its
    first bytes with the whole body's size and SHA-256 (an oversized message must not fill
    the bounded dead queue, and one that size is no message of the network)."""
    out = broker_dead_letter_headers(headers, reason, queue, user_id)
    if len(body) > DEAD_LETTER_MAX_BODY:
        out[BODY_SIZE_HEADER] = str(len(body))
        out[BODY_SHA256_HEADER] = hashlib.sha256(body).hexdigest()
        body = body[:DEAD_LETTER_MAX_BODY]
    return body, out


def dead_letter_message(d: Delivery, reason: str, *, opaque: bool = False) -> OutMessage:
    """The copy of ``d`` its ``dead_letter(reason)`` publishes (:func:`dead_letter_copy`);
    ``opaque``: with no content type (a malformed bundle: not to be read as one again)."""
    body, headers = dead_letter_copy(d.body, d.headers, reason, d.queue, d.user_id)
    content_type = None if opaque else d.content_type
    return OutMessage(body, d.message_id, d.correlation_id, headers, content_type=content_type)
