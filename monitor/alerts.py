"""Alerts: what the anomaly engine found, kept, deduplicated and acknowledged by an auditor.

One open alert per rule and subject: a finding for a (rule, subject) with an open alert adds
to its ``count`` and moves ``last_at`` (its summary and facts become the newest finding's);
once acknowledged, the next finding opens a new alert. An acknowledgement names who and
when; only someone the caller's role check calls an auditor may make one (`AckRefused`); a
malformed one (`BadAck`), one for no alert (`UnknownAlert`) or for an acknowledged alert
(`AlreadyAcknowledged`) is refused and changes nothing.

The API the console uses: ``store.open()``, ``store.recent(limit)``, ``store.get(id)``,
``store.acknowledge(id, by=, at=, is_auditor=)``. `MemoryAlertStore` is the embedded
default; `monitor.pg.PgAlertStore` keeps them in PostgreSQL (``monitor.alert``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from monitor.anomaly import Fact, Finding
from monitor.exceptions import AckRefused, AlreadyAcknowledged, BadAck, UnknownAlert

__all__ = [
    "MAX_NAME",
    "Alert",
    "AlertStore",
    "IsAuditor",
    "MemoryAlertStore",
    "check_ack",
    "new_alert",
]

MAX_NAME = 64
IsAuditor = Callable[[str], bool]  # the console's role check: may this official acknowledge?


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    rule: str
    subject: str  # an office code, or "records" (the chain)
    severity: str
    summary: str
    facts: Mapping[str, Fact]
    first_at: dt.datetime
    last_at: dt.datetime
    count: int = 1
    acked_by: str | None = None
    acked_at: dt.datetime | None = None

    @property
    def open(self) -> bool:
        return self.acked_at is None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "subject": self.subject,
            "severity": self.severity,
            "summary": self.summary,
            "facts": {k: list(v) if isinstance(v, tuple) else v for k, v in self.facts.items()},
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "count": self.count,
            "acked_by": self.acked_by,
            "acked_at": self.acked_at.isoformat() if self.acked_at else None,
        }


def new_alert(f: Finding) -> Alert:
    return Alert(str(uuid.uuid4()), f.rule, f.subject, f.severity, f.summary, f.facts, f.at, f.at)


def check_ack(alert_id: object, by: object, at: object) -> tuple[str, str, dt.datetime]:
    """The acknowledgement's parts, checked (`BadAck` says which one is wrong)."""
    if not isinstance(alert_id, str) or len(alert_id) != 36:
        raise BadAck("an alert id is a UUID (36 characters, as `renkei monitor alerts` shows)")
    try:
        canonical = str(uuid.UUID(alert_id))
    except ValueError:
        raise BadAck(f"{alert_id!r} is not an alert id (a UUID)") from None
    if not isinstance(by, str) or not by.strip() or len(by) > MAX_NAME or not by.isprintable():
        raise BadAck(f"who acknowledges: a printable name of 1 to {MAX_NAME} characters")
    if not isinstance(at, dt.datetime) or at.tzinfo is None:
        raise BadAck("the acknowledgement's time must be timezone-aware")
    return canonical, by.strip(), at


def refuse(alert: Alert | None, alert_id: str, by: str, is_auditor: IsAuditor) -> Alert:
    """The checks every store makes before it writes an acknowledgement."""
    if not is_auditor(by):
        raise AckRefused(f"{by} is not an auditor: only an auditor may acknowledge an alert")
    if alert is None:
        raise UnknownAlert(f"no alert {alert_id}")
    if not alert.open:
        raise AlreadyAcknowledged(
            f"alert {alert_id} was acknowledged by {alert.acked_by} at {alert.acked_at}"
        )
    return alert


class AlertStore(Protocol):
    async def raise_(self, finding: Finding) -> tuple[Alert, bool]:
        """The alert the finding opened (True) or added to (False)."""
        ...

    async def open(self) -> list[Alert]:
        """The open alerts, newest last finding first."""
        ...

    async def recent(self, limit: int = 100) -> list[Alert]:
        """Open and acknowledged alerts, newest last finding first."""
        ...

    async def get(self, alert_id: str) -> Alert | None: ...

    async def acknowledge(
        self, alert_id: str, *, by: str, at: dt.datetime, is_auditor: IsAuditor
    ) -> Alert: ...


class MemoryAlertStore:
    """The embedded default (lost at exit); at most ``keep`` acknowledged alerts kept."""

    def __init__(self, *, keep: int = 10_000) -> None:
        self._alerts: dict[str, Alert] = {}
        self._open: dict[tuple[str, str], str] = {}
        self._keep = keep

    async def raise_(self, finding: Finding) -> tuple[Alert, bool]:
        key = (finding.rule, finding.subject)
        current = self._open.get(key)
        if current is not None:
            a = self._alerts[current]
            a = self._alerts[current] = replace(
                a,
                severity=finding.severity,
                summary=finding.summary,
                facts=finding.facts,
                last_at=max(a.last_at, finding.at),
                count=a.count + 1,
            )
            return a, False
        a = new_alert(finding)
        self._alerts[a.id] = a
        self._open[key] = a.id
        self._trim()
        return a, True

    def _trim(self) -> None:
        closed = [a.id for a in self._alerts.values() if not a.open]
        for alert_id in closed[: max(len(closed) - self._keep, 0)]:
            del self._alerts[alert_id]

    async def open(self) -> list[Alert]:
        return sorted(
            (a for a in self._alerts.values() if a.open), key=lambda a: a.last_at, reverse=True
        )

    async def recent(self, limit: int = 100) -> list[Alert]:
        return sorted(self._alerts.values(), key=lambda a: a.last_at, reverse=True)[:limit]

    async def get(self, alert_id: str) -> Alert | None:
        return self._alerts.get(alert_id)

    async def acknowledge(
        self, alert_id: str, *, by: str, at: dt.datetime, is_auditor: IsAuditor
    ) -> Alert:
        alert_id, by, at = check_ack(alert_id, by, at)
        a = refuse(self._alerts.get(alert_id), alert_id, by, is_auditor)
        a = self._alerts[alert_id] = replace(a, acked_by=by, acked_at=at)
        del self._open[(a.rule, a.subject)]
        return a
