"""The alert store in PostgreSQL (``monitor.alert``): deduplicated by a unique index on
(rule, subject) over the open alerts, so several monitor processes share one open alert."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from monitor.alerts import Alert, IsAuditor, check_ack, new_alert, refuse
from monitor.anomaly import Finding

__all__ = ["PgAlertStore"]

_COLUMNS = (
    "id, rule, subject, severity, summary, facts, first_at, last_at, count, acked_by, acked_at"
)
_RAISE = f"""
INSERT INTO monitor.alert (id, rule, subject, severity, summary, facts, first_at, last_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $7)
ON CONFLICT (rule, subject) WHERE acked_at IS NULL DO UPDATE
   SET severity = EXCLUDED.severity, summary = EXCLUDED.summary, facts = EXCLUDED.facts,
       last_at = GREATEST(alert.last_at, EXCLUDED.last_at), count = alert.count + 1
RETURNING {_COLUMNS}, (xmax = 0) AS fresh
"""  # noqa: S608 - the columns are this module's constant
_SELECT = f"SELECT {_COLUMNS} FROM monitor.alert"  # noqa: S608 - a constant
_ACK = f"""
UPDATE monitor.alert SET acked_by = $2, acked_at = $3 WHERE id = $1 AND acked_at IS NULL
RETURNING {_COLUMNS}
"""  # noqa: S608 - a constant


def _facts(facts: Any) -> str:
    return orjson.dumps(
        {k: list(v) if isinstance(v, tuple) else v for k, v in facts.items()}
    ).decode()


def _alert(row: Any) -> Alert:
    facts = orjson.loads(row["facts"])
    return Alert(
        str(row["id"]),
        row["rule"],
        row["subject"],
        row["severity"],
        row["summary"],
        {k: tuple(v) if isinstance(v, list) else v for k, v in facts.items()},
        row["first_at"],
        row["last_at"],
        row["count"],
        row["acked_by"],
        row["acked_at"],
    )


class PgAlertStore:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def raise_(self, finding: Finding) -> tuple[Alert, bool]:
        a = new_alert(finding)
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                _RAISE, a.id, a.rule, a.subject, a.severity, a.summary, _facts(a.facts), a.first_at
            )
        return _alert(row), bool(row["fresh"])

    async def open(self) -> list[Alert]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_SELECT + " WHERE acked_at IS NULL ORDER BY last_at DESC")
        return [_alert(r) for r in rows]

    async def recent(self, limit: int = 100) -> list[Alert]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_SELECT + " ORDER BY last_at DESC LIMIT $1", limit)
        return [_alert(r) for r in rows]

    async def get(self, alert_id: str) -> Alert | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_SELECT + " WHERE id = $1::uuid", alert_id)
        return _alert(row) if row is not None else None

    async def acknowledge(
        self, alert_id: str, *, by: str, at: dt.datetime, is_auditor: IsAuditor
    ) -> Alert:
        alert_id, by, at = check_ack(alert_id, by, at)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_SELECT + " WHERE id = $1::uuid FOR UPDATE", alert_id)
            refuse(_alert(row) if row is not None else None, alert_id, by, is_auditor)
            done = await conn.fetchrow(_ACK, alert_id, by, at)
        return _alert(done)
