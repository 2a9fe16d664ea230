"""The directory store: memory for the embedded default, PostgreSQL otherwise."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Directory", "Enrollment", "MemoryDirectory", "PgDirectory"]

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS directory;
CREATE TABLE IF NOT EXISTS directory.enrollments (
    person text NOT NULL,          -- the hub's own token for the person
    office text NOT NULL,
    since timestamptz NOT NULL,
    until timestamptz,
    PRIMARY KEY (person, office)
);
-- the municipality a move out named, on the holdings it ended (who may enroll the person next)
ALTER TABLE directory.enrollments ADD COLUMN IF NOT EXISTS moved_to text;
"""


@dataclass(frozen=True, slots=True)
class Enrollment:
    office: str
    since: dt.datetime
    until: dt.datetime | None = None
    moved_to: str | None = None  # the municipality moved to, when a move out ended it

    def open_at(self, at: dt.datetime) -> bool:
        """Held at ``at``: begun, and not ended (a move out dated ahead ends it later)."""
        return self.since <= at and (self.until is None or at < self.until)


class Directory(Protocol):
    async def enrolled(self, person: str, office: str, at: dt.datetime) -> None: ...
    async def ended(
        self, person: str, offices: list[str], at: dt.datetime, moved_to: str | None = None
    ) -> None:
        """The offices stop holding the person's records at ``at`` (moved away to the
        municipality ``moved_to``, died)."""
        ...

    async def holders(self, person: str) -> list[Enrollment]: ...

    async def held_by(self, office: str, persons: Sequence[str]) -> set[str]:
        """Which of ``persons`` the office holds a token for now (one round trip)."""
        ...


class MemoryDirectory:
    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Enrollment]] = {}

    async def enrolled(self, person: str, office: str, at: dt.datetime) -> None:
        rows = self._rows.setdefault(person, {})
        if office not in rows or rows[office].until is not None:  # (re-)enrolled
            rows[office] = Enrollment(office, at)

    async def ended(
        self, person: str, offices: list[str], at: dt.datetime, moved_to: str | None = None
    ) -> None:
        rows = self._rows.get(person, {})
        for office in offices:
            if office in rows and rows[office].until is None:
                rows[office] = Enrollment(office, rows[office].since, at, moved_to)

    async def holders(self, person: str) -> list[Enrollment]:
        return sorted(self._rows.get(person, {}).values(), key=lambda e: e.office)

    async def held_by(self, office: str, persons: Sequence[str]) -> set[str]:
        return {
            p
            for p in persons
            if (e := self._rows.get(p, {}).get(office)) is not None and e.until is None
        }


class PgDirectory:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def migrate(self, *, writer_role: str | None = None) -> None:
        """Create the schema; ``writer_role`` (the hub's) may read, add and end enrollments."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_SCHEMA)
            if writer_role is not None:
                role = await conn.fetchval("SELECT quote_ident($1::text)", writer_role)
                await conn.execute(
                    f"GRANT USAGE ON SCHEMA directory TO {role};"
                    f" GRANT SELECT, INSERT, UPDATE ON directory.enrollments TO {role}"
                )

    async def enrolled(self, person: str, office: str, at: dt.datetime) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO directory.enrollments (person, office, since) VALUES ($1, $2, $3)"
                " ON CONFLICT (person, office) DO UPDATE"
                " SET since = EXCLUDED.since, until = NULL, moved_to = NULL"
                " WHERE directory.enrollments.until IS NOT NULL",
                person,
                office,
                at,
            )

    async def ended(
        self, person: str, offices: list[str], at: dt.datetime, moved_to: str | None = None
    ) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "UPDATE directory.enrollments SET until = $3, moved_to = $4"
                " WHERE person = $1 AND office = ANY($2::text[]) AND until IS NULL",
                person,
                offices,
                at,
                moved_to,
            )

    async def holders(self, person: str) -> list[Enrollment]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT office, since, until, moved_to FROM directory.enrollments"
                " WHERE person = $1 ORDER BY office",
                person,
            )
        return [Enrollment(r["office"], r["since"], r["until"], r["moved_to"]) for r in rows]

    async def held_by(self, office: str, persons: Sequence[str]) -> set[str]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT person FROM directory.enrollments"
                " WHERE office = $1 AND person = ANY($2::text[]) AND until IS NULL",
                office,
                list(persons),
            )
        return {r["person"] for r in rows}
