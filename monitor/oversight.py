"""The monitor's oversight loop: verify the records as they are written, run the anomaly
rules over them, keep and publish the alerts.

Every ``interval`` seconds: `ChainWatch.check` verifies what the hub wrote since the last
check and hands over the new records; each becomes an `Access` whose person is a pseudonym
under a key made here and never stored (`pseudonym`); the engine's findings — and a
chain-break finding when the chain's state newly breaks — go to the alert store
(deduplicated) and, when they open a new alert, onto the bus (``monitor.alerts``, the
alert's JSON, persistent). A publish that fails is counted and logged, never retried: the
store has the alert. Nothing a record holds makes the loop raise; a failed round is logged
and the next one runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterable

import orjson

from hub.bus import ALERTS_EXCHANGE, Bus, BusError, OutMessage
from hub.log import get_logger
from hub.metrics import METRICS
from hub.records import AccessRecord
from monitor.alerts import Alert, AlertStore, IsAuditor
from monitor.anomaly import Access, Engine, Finding, pseudonym
from monitor.chain import ChainState, ChainWatch
from monitor.exceptions import MonitorError

__all__ = ["Oversight", "accesses"]

log = get_logger("monitor.oversight")


def accesses(records: Iterable[AccessRecord], key: bytes) -> list[Access]:
    """The engine's view of records: the person as a pseudonym, nothing else of them."""
    return [
        Access(
            str(r.record_id),
            r.seq,
            r.asked_at,
            r.requester,
            r.provider,
            r.affair,
            r.outcome,
            pseudonym(key, r.person),
        )
        for r in records
    ]


class Oversight:
    def __init__(
        self,
        chain: ChainWatch,
        engine: Engine,
        alerts: AlertStore,
        *,
        bus: Bus | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.chain = chain
        self.engine = engine
        self.alerts = alerts
        self._bus = bus
        self._clock = clock
        self._key = os.urandom(32)  # pseudonyms mean nothing outside this process
        self._broken: int | None = None
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.unpublished = 0

    @property
    def chain_state(self) -> ChainState:
        return self.chain.state

    async def acknowledge(self, alert_id: str, *, by: str, is_auditor: IsAuditor) -> Alert:
        """An auditor's acknowledgement, now (`monitor.alerts` says what is refused)."""
        alert = await self.alerts.acknowledge(
            alert_id, by=by, at=self._clock(), is_auditor=is_auditor
        )
        METRICS.alert_acknowledged(alert.rule)
        return alert

    async def check(self) -> list[Alert]:
        """One round; the alerts it opened."""
        now = self._clock()
        records = await self.chain.check(now)
        findings = self.engine.observe(accesses(records, self._key), now)
        state = self.chain.state
        if state.broken_at is not None and state.broken_at != self._broken:
            findings += self.engine.chain(state, now)
        self._broken = state.broken_at
        opened = []
        for f in findings:
            alert, fresh = await self.alerts.raise_(f)
            METRICS.alert_raised(f.rule)
            if fresh:
                opened.append(alert)
                await self._publish(alert, f)
        return opened

    async def _publish(self, alert: Alert, f: Finding) -> None:
        if self._bus is None:
            return
        body = orjson.dumps(alert.as_json())
        msg = OutMessage(body, message_id=str(uuid.uuid4()), correlation_id=alert.id)
        try:
            await self._bus.publish(ALERTS_EXCHANGE, f.rule, msg, mandatory=False)
        except BusError as exc:
            self.unpublished += 1
            log.warning("alert.unpublished", rule=f.rule, alert=alert.id, error=exc.code)
        else:
            self.published += 1

    async def start(self, *, interval: float = 5.0) -> None:
        self._task = asyncio.create_task(self._run(interval))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, interval: float) -> None:
        while True:
            try:
                for alert in await self.check():
                    log.warning("alert.opened", rule=alert.rule, subject=alert.subject)
            except (MonitorError, OSError) as exc:
                log.warning("oversight.round_failed", error=str(exc))
            except Exception:
                log.exception("oversight.round_failed")
            await asyncio.sleep(interval)
