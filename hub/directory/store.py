"""The directory store: memory for the embedded default, PostgreSQL otherwise."""

from __future__ import annotations

import datetime as dt
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
"""


@dataclass(frozen=True, slots=True)
class Enrollment:
    office: str
    since: dt.datetime
    until: dt.datetime | None = None


class Directory(Protocol):
    async def enrolled(self, person: str, office: str, at: dt.datetime) -> None: ...
    async def holders(self, person: str) -> list[Enrollment]: ...


class MemoryDirectory:
    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Enrollment]] = {}

    async def enrolled(self, person: str, office: str, at: dt.datetime) -> None:
        self._rows.setdefault(person, {}).setdefault(office, Enrollment(office, at))

    async def holders(self, person: str) -> list[Enrollment]:
        return sorted(self._rows.get(person, {}).values(), key=lambda e: e.office)


class PgDirectory:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def migrate(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(_SCHEMA)

    async def enrolled(self, person: str, office: str, at: dt.datetime) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO directory.enrollments (person, office, since) VALUES ($1, $2, $3)"
                " ON CONFLICT (person, office) DO NOTHING",
                person,
                office,
                at,
            )

    async def holders(self, person: str) -> list[Enrollment]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT office, since, until FROM directory.enrollments WHERE person = $1"
                " ORDER BY office",
                person,
            )
        return [Enrollment(r["office"], r["since"], r["until"]) for r in rows]
