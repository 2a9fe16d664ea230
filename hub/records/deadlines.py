"""Pending deadlines, shared by every hub process: the queries waiting for an office's answer.

When the hub forwards a query (an enrollment, an identification) it leaves the query's deadline
here, beside the forward's publish: its record key, when it falls due, and its routing context
sealed for the hub alone (the database cannot read it). A sweeper in every hub process takes the
rows that fell due and finishes each query that has no access record yet as timed out; so a
query's deadline outlives the process that forwarded it. Not evidence: a row is deleted once its
deadline has been dealt with (an answered query's as well, at its deadline, in the same delete).

The write is durable before the forwarded query counts as sent (a lost row would be a query
never answered); the sweep's delete need not be (a row that comes back is swept again and found
recorded). Two stores behave alike: PostgreSQL (`PgDeadlineStore`, table
``records.pending_deadline``; sweepers share the due rows with ``FOR UPDATE SKIP LOCKED``, so
no two take one row, and a sweeper that dies mid-way leaves its rows to the next) and, for the
embedded network of one process, memory (`MemoryDeadlineStore`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from hub.kept import KeptConnection
from hub.records.model import Recorded

__all__ = ["DeadlineStore", "Due", "DueBatch", "MemoryDeadlineStore", "Pending", "PgDeadlineStore"]

_ADD = (
    "INSERT INTO {s}.pending_deadline (key, deadline, context)"
    " SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[])"
    " ON CONFLICT (key) DO NOTHING"
)
_NEAREST = "SELECT min(deadline) FROM {s}.pending_deadline"
# the due rows no other sweeper holds, each with its query's access record's outcome (if any)
_DUE = (
    "SELECT d.key, d.context, r.outcome FROM {s}.pending_deadline d"
    " LEFT JOIN {s}.access_record r ON r.query_id = d.key"
    " WHERE d.deadline <= $1 ORDER BY d.deadline LIMIT $2 FOR UPDATE OF d SKIP LOCKED"
)
_DELETE = "DELETE FROM {s}.pending_deadline WHERE key = ANY($1::uuid[])"
_SWEEPING = "SET LOCAL synchronous_commit = off; SET LOCAL plan_cache_mode = force_custom_plan"


@dataclass(frozen=True, slots=True)
class Pending:
    """A forwarded query's deadline: its record key, when, and its sealed routing context."""

    key: UUID
    deadline: dt.datetime
    context: str


@dataclass(frozen=True, slots=True)
class Due:
    """A deadline that fell due, with the outcome recorded under its key (None: none yet)."""

    key: UUID
    context: str
    outcome: str | None


@dataclass(slots=True)
class DueBatch:
    """The due deadlines a sweep holds; ``left``: the keys of those to leave for a later sweep
    (their time-out could not be finished now), the rest are deleted when it ends."""

    rows: Sequence[Due]
    left: set[UUID] = field(default_factory=set)

    def done(self) -> list[UUID]:
        """The keys to delete: all but those left."""
        return [d.key for d in self.rows if d.key not in self.left]


class DeadlineStore(Protocol):
    async def add(self, pending: Sequence[Pending]) -> None:
        """Keep these deadlines (durably, once this returns); a key kept already is left."""
        ...

    async def nearest(self) -> dt.datetime | None:
        """The nearest deadline kept (None: none)."""
        ...

    def due(self, now: dt.datetime, limit: int) -> AbstractAsyncContextManager[DueBatch]:
        """Up to ``limit`` deadlines due at ``now`` that no other sweep holds, nearest first,
        held for the block: deleted when it ends (but those ``left``), all left for the next
        sweep if it raises."""
        ...


class PgDeadlineStore:
    """The pending deadlines in PostgreSQL (``records.pending_deadline``, made by
    ``PgRecordStore.migrate``; the hub's role may select, insert and delete them)."""

    def __init__(self, pool: Any, *, schema: str = "records") -> None:
        self._pool = pool
        self._adding = KeptConnection(pool)  # the forwarders' one batch at a time
        quoted = f'"{schema}"'
        self._add, self._nearest, self._due, self._delete = (
            sql.replace("{s}", quoted) for sql in (_ADD, _NEAREST, _DUE, _DELETE)
        )

    async def add(self, pending: Sequence[Pending]) -> None:
        if not pending:
            return
        args = (
            [p.key for p in pending],
            [p.deadline for p in pending],
            [p.context for p in pending],
        )
        # the server's synchronous commit: durable
        await self._adding.run(lambda conn: conn.execute(self._add, *args))

    async def nearest(self) -> dt.datetime | None:
        async with self._pool.acquire() as conn:
            found: dt.datetime | None = await conn.fetchval(self._nearest)
            return found

    @asynccontextmanager
    async def due(self, now: dt.datetime, limit: int) -> AsyncIterator[DueBatch]:
        async with self._pool.acquire() as conn, conn.transaction():
            # not evidence: a delete lost in a crash brings its rows back, found recorded; and
            # each sweep's statements planned for the tables as they are (a kept generic plan,
            # made while they were tiny, scanned every access record for each due row)
            await conn.execute(_SWEEPING)
            rows = await conn.fetch(self._due, now, limit)
            taken = DueBatch([Due(r["key"], r["context"], r["outcome"]) for r in rows])
            yield taken
            if done := taken.done():
                await conn.execute(self._delete, done)


class _Records(Protocol):
    async def recorded(self, query_id: UUID) -> Recorded | None: ...


class MemoryDeadlineStore:
    """The pending deadlines in this process's memory: the embedded network (one hub), unit
    tests; ``records``: the access records of the same process."""

    def __init__(self, records: _Records) -> None:
        self._records = records
        self._rows: dict[UUID, Pending] = {}
        self._held: set[UUID] = set()

    async def add(self, pending: Sequence[Pending]) -> None:
        for p in pending:
            self._rows.setdefault(p.key, p)

    async def nearest(self) -> dt.datetime | None:
        return min((p.deadline for p in self._rows.values()), default=None)

    @asynccontextmanager
    async def due(self, now: dt.datetime, limit: int) -> AsyncIterator[DueBatch]:
        free = (p for p in self._rows.values() if p.deadline <= now and p.key not in self._held)
        held = sorted(free, key=lambda p: p.deadline)[:limit]
        keys = {p.key for p in held}
        self._held |= keys
        try:
            taken = DueBatch([Due(p.key, p.context, await self._outcome(p.key)) for p in held])
            yield taken
            for key in taken.done():
                self._rows.pop(key, None)
        finally:
            self._held -= keys

    async def _outcome(self, key: UUID) -> str | None:
        found = await self._records.recorded(key)
        return None if found is None else found.outcome

    def pending(self) -> list[Pending]:
        """Every deadline kept, nearest first."""
        return sorted(self._rows.values(), key=lambda p: p.deadline)
