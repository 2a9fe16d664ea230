"""J-LIS's outbox of 異動等失効情報 for its CA: kept in J-LIS's own store, sent when the CA can
take them, so that a register's answer never waits on the CA.

:class:`Outbox` keeps each :class:`JukiNotice` in the collection ``ca_notices`` of J-LIS's
store (its own PostgreSQL schema, or memory in the embedded default), under the notice's event
id: kept again (a register's request delivered again) it is the same row. ``JukiServer`` keeps
the notice after J-LIS recorded the change and before it answers and acks the register's
request, so a stop in between is a redelivery that records nothing more and keeps the row
again: no notice is lost, none is kept twice.

:func:`drain` is the core of the sending: the rows oldest first, each published (the bus
returns once the broker confirmed it) and only then deleted; the first publish that fails ends
the round, the rest waiting for the next. A stop between the confirm and the delete sends a row
again, which the CA applies once (by event id, ``pki/ca/juki.py``). :class:`NoticeSender` runs
it in the background: at start (what an earlier run left), on each notice kept, and after a
failure (the CA down, its queue full: the broker refuses the publish; or J-LIS's store out of
reach) again after a back-off (``hub.node.Backoff``: doubling from 0.1 s to at most 10 s,
jittered), for as long as it takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
from collections.abc import Awaitable, Callable
from typing import Final

from hub.bus import Bus, BusError, OutMessage
from hub.bus.juki import JUKI_OUT, juki_notices
from hub.log import get_logger
from hub.node import OfficeStore
from hub.node.backoff import Backoff
from hub.wire.juki import JukiNotice

__all__ = ["OUTBOX", "NoticeSender", "Outbox", "drain"]

log = get_logger("agencies.jlis.outbox")

OUTBOX: Final = "ca_notices"  # the collection of J-LIS's store that holds the notices unsent


class Outbox:
    """The notices J-LIS has still to give its CA ``ca``, in ``store`` (J-LIS's own)."""

    def __init__(self, store: OfficeStore, ca: str) -> None:
        self.store, self.ca = store, ca

    async def keep(self, notice: JukiNotice) -> None:
        """Keep ``notice`` until it is sent; one kept already under its event id (a request
        delivered again) stays as it was."""
        if await self.store.get(OUTBOX, notice.event) is not None:
            return
        doc = {"ca": self.ca, "notice": notice.model_dump_json(), "kept": _now().isoformat()}
        await self.store.put_many(OUTBOX, [(notice.event, None, doc)])

    async def pending(self) -> list[JukiNotice]:
        """The notices unsent, the oldest kept first (one read of the store)."""
        rows = await self.store.find(OUTBOX, "ca", self.ca)
        kept = sorted((str(doc["kept"]), key, doc) for key, doc in rows)
        return [JukiNotice.model_validate_json(doc["notice"]) for _, _, doc in kept]

    async def sent(self, event: str) -> None:
        """``event``'s notice was confirmed by the broker: no longer kept."""
        await self.store.delete(OUTBOX, event)


Publish = Callable[[JukiNotice], Awaitable[None]]


async def drain(outbox: Outbox, publish: Publish) -> int:
    """Send what ``outbox`` holds, oldest first, deleting each notice once ``publish``
    returned (the broker's confirm); returns how many were sent. The first failure ends it
    (raised: the publish's ``BusError``, or the store's error), with that notice and the later
    ones still kept."""
    sent = 0
    while batch := await outbox.pending():  # again: what was kept meanwhile
        for notice in batch:
            await publish(notice)
            await outbox.sent(notice.event)
            sent += 1
    return sent


class NoticeSender:
    """Sends ``outbox``'s notices to its CA on ``bus`` (J-LIS's 住基ネット user), in the
    background: at start, when :meth:`wake` is called, and after a failure once the back-off
    has passed."""

    def __init__(
        self,
        outbox: Outbox,
        bus: Bus,
        *,
        backoff: Backoff | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.outbox, self.bus = outbox, bus
        self.backoff = backoff or Backoff(first=0.1, most=10.0)
        self._draw = draw
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """A notice was kept: send it now (unless a back-off is running)."""
        self._wake.set()

    async def start(self) -> None:
        self._wake.set()  # what an earlier run left
        self._task = asyncio.create_task(self._run(), name="jlis.ca_notices")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def publish(self, notice: JukiNotice) -> None:
        body = notice.model_dump_json(exclude_none=True).encode()
        out = OutMessage(body, message_id=f"n-{notice.event}")
        await self.bus.publish(JUKI_OUT, juki_notices(self.outbox.ca), out)

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                sent = await drain(self.outbox, self.publish)
            except Exception as exc:  # noqa: BLE001 - the broker's (BusError) or the store's
                # (asyncpg's, not imported here): either way kept, tried again, never given up
                pause = self.backoff.pause(failures, 0.0, self._draw())
                failures += 1
                code = exc.code if isinstance(exc, BusError) else type(exc).__name__
                log.warning("jlis.notice_unsent", code=code, failures=failures, retry_in=pause)
                await asyncio.sleep(pause)
                self._wake.set()
                continue
            if sent:
                log.info("jlis.notices_sent", sent=sent, after_failures=failures)
            failures = 0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
