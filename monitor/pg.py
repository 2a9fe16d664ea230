"""The span store in PostgreSQL (schema ``monitor``): one row per span, written with COPY.

Searches start from the hub's own span of each flow (``process hub.requests``, indexed by
start), narrowed by office, affair and outcome; then the operations are derived from the
spans of the traces found, by the same rules as in memory (``monitor.operations``). A trace
with no hub span is found by its trace id only.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

import asyncpg
import orjson

from hub.tracing import names as tn
from monitor.exceptions import StoreError
from monitor.model import Operation, Search, StoredSpan
from monitor.operations import matches, operations

__all__ = ["PgSpanStore"]

# what the store's failures are raised as (``StoreError``: the collector goes on after one): the
# server's errors, the network's, and asyncpg's own when a session was cut under it (a proxy
# detached by the pool; a connection cut while idle, used before the client read its end:
# ``InternalClientError``, "another operation (2) is in progress")
_FAILED = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)

_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_id",
    "source",
    "name",
    "kind",
    "status",
    "start_ns",
    "end_ns",
    "conversation_id",
    "requester",
    "provider",
    "affair",
    "outcome",
    "attributes",
    "events",
)
_SELECT = (
    "SELECT source, trace_id, span_id, parent_id, name, kind, status, start_ns, end_ns,"
    " attributes, events FROM monitor.span"
)
_FIND = """
SELECT trace_id, min(start_ns) AS started FROM monitor.span s
 WHERE name = 'process hub.requests' AND source = 'hub'
   AND ($1::text IS NULL OR requester = $1 OR provider = $1)
   AND ($2::text IS NULL OR affair = $2)
   AND ($3::bigint IS NULL OR start_ns >= $3)
   AND ($4::bigint IS NULL OR start_ns < $4)
   AND ($5::text IS NULL OR EXISTS (
        SELECT 1 FROM monitor.span o
         WHERE o.trace_id = s.trace_id AND o.source = 'hub' AND o.outcome = $5))
 GROUP BY trace_id
 ORDER BY started {order}
 LIMIT $6
"""


class PgSpanStore:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def migrate(self, *, role: str | None = None) -> None:
        """The schema ``monitor`` (spans and alerts), as the role that owns it; ``role`` (the
        monitor's own) may then read and write its rows and nothing else of it (`StoreError`
        for a superuser, a role that may create roles, or its owner)."""
        sql = resources.files("monitor").joinpath("schema.sql").read_text()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(sql)
            if role is not None:
                await _grant(conn, role)

    async def add(self, spans: Sequence[StoredSpan]) -> None:
        rows = [_row(s) for s in spans]
        try:
            async with self._pool.acquire() as conn:
                await conn.copy_records_to_table(
                    "span", schema_name="monitor", columns=_COLUMNS, records=rows
                )
        except _FAILED as exc:
            raise StoreError(f"the span store failed: {exc}") from exc

    async def trace(self, trace_id: str) -> list[StoredSpan]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_SELECT + " WHERE trace_id = $1 ORDER BY start_ns", trace_id)
        return [_span(r) for r in rows]

    async def search(self, q: Search) -> list[Operation]:
        async with self._pool.acquire() as conn:
            if q.trace_id is not None:
                ids = [q.trace_id]
            else:
                order = "ASC" if q.oldest_first else "DESC"
                found = await conn.fetch(
                    _FIND.format(order=order),
                    q.office,
                    q.affair,
                    q.since_ns,
                    q.until_ns,
                    q.outcome,
                    q.limit,
                )
                ids = [r["trace_id"] for r in found]
            rows = await conn.fetch(_SELECT + " WHERE trace_id = ANY($1::text[])", ids)
        ops = [op for op in operations(_span(r) for r in rows) if matches(op, q)]
        ops.sort(key=lambda op: op.started_ns or 0, reverse=not q.oldest_first)
        return ops[: q.limit]

    async def expire(self, before_ns: int) -> int:
        try:
            async with self._pool.acquire() as conn:
                status = await conn.execute(
                    "DELETE FROM monitor.span WHERE start_ns < $1", before_ns
                )
        except _FAILED as exc:
            raise StoreError(f"the span store failed: {exc}") from exc
        return int(status.split()[-1])

    async def close(self) -> None:
        return None


_ROLE = (
    "SELECT quote_ident(r.rolname) AS ident, r.rolsuper OR r.rolcreaterole AS mighty,"
    " pg_has_role(r.rolname, n.nspowner, 'MEMBER') AS owner"
    " FROM pg_roles r, pg_namespace n WHERE r.rolname = $1 AND n.nspname = 'monitor'"
)


async def _grant(conn: Any, role: str) -> None:
    found = await conn.fetchrow(_ROLE, role)
    if found is None:
        raise StoreError(f"no database role {role!r}: create it first (CREATE ROLE … LOGIN …)")
    if found["mighty"] or found["owner"]:
        raise StoreError(
            f"role {role!r} is a superuser, may create roles or owns the schema monitor: "
            "the monitor's role must be able to do no more than its work"
        )
    ident = found["ident"]
    await conn.execute(
        f"REVOKE ALL ON SCHEMA monitor FROM {ident}; GRANT USAGE ON SCHEMA monitor TO {ident};"
        f" REVOKE ALL ON ALL TABLES IN SCHEMA monitor FROM {ident};"
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA monitor TO {ident}"
    )


def _row(s: StoredSpan) -> tuple[Any, ...]:
    a = s.attributes
    events = [[n, t, dict(at)] for n, t, at in s.events]
    return (
        s.trace_id,
        s.span_id,
        s.parent_id,
        s.source,
        s.name,
        s.kind,
        s.status,
        s.start_ns,
        s.end_ns,
        a.get(tn.CONVERSATION_ID),
        a.get(tn.REQUESTER),
        a.get(tn.PROVIDER),
        a.get(tn.AFFAIR),
        a.get(tn.OUTCOME),
        orjson.dumps(dict(a)).decode(),
        orjson.dumps(events).decode(),
    )


def _span(r: Any) -> StoredSpan:
    attrs = orjson.loads(r["attributes"])
    if tn.ITEMS in attrs:
        attrs[tn.ITEMS] = tuple(attrs[tn.ITEMS])
    events = tuple((n, t, at) for n, t, at in orjson.loads(r["events"]))
    return StoredSpan(
        r["source"],
        r["trace_id"],
        r["span_id"],
        r["parent_id"],
        r["name"],
        r["kind"],
        r["status"],
        r["start_ns"],
        r["end_ns"],
        attrs,
        events,
    )
