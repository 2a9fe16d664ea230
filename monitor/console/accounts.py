"""Where officials and the console's actions are kept: PostgreSQL (schema ``monitor``) or
memory (the embedded default, ``renkei demo --monitor``).

``Officials``: by name; ``use_step`` takes a TOTP step for an official only if it is later than
the last one used (one statement in PostgreSQL, so two sign-ins racing with one code cannot
both pass). ``ActionLog``: append and read, newest first; in PostgreSQL the table refuses
UPDATE and DELETE (a trigger).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any, Protocol

import asyncpg

from monitor.console.officials import Official
from monitor.exceptions import OfficialExists

__all__ = [
    "Action",
    "ActionLog",
    "MemoryActionLog",
    "MemoryOfficials",
    "Officials",
    "PgActionLog",
    "PgOfficials",
]


@dataclass(frozen=True, slots=True)
class Action:
    """One thing an official did (or tried) in the console. ``detail`` names what was asked
    for (a search's fields, a trace id) — never content: there is none in the monitor."""

    at: dt.datetime
    official: str  # the name signed in with, or as given on a failed sign-in (checked form)
    role: str  # "operator", "auditor", or "-" before a sign-in
    action: str
    detail: str
    outcome: str  # "ok", or why it was refused (an error code)
    client: str  # the client key (hub.web.client_of)


class Officials(Protocol):
    async def get(self, name: str) -> Official | None: ...
    async def add(self, official: Official) -> None:
        """Raises ``OfficialExists``."""
        ...

    async def use_step(self, name: str, step: int) -> bool:
        """Record ``step`` as used if it is later than the last; whether it was."""
        ...


class ActionLog(Protocol):
    async def append(self, action: Action) -> None: ...
    async def recent(self, limit: int) -> list[Action]: ...


class MemoryOfficials:
    def __init__(self) -> None:
        self._by_name: dict[str, Official] = {}

    async def get(self, name: str) -> Official | None:
        return self._by_name.get(name)

    async def add(self, official: Official) -> None:
        if official.name in self._by_name:
            raise OfficialExists(f"an official {official.name!r} exists already")
        self._by_name[official.name] = official

    async def use_step(self, name: str, step: int) -> bool:
        found = self._by_name.get(name)
        if found is None or step <= found.last_step:
            return False
        self._by_name[name] = replace(found, last_step=step)
        return True


class MemoryActionLog:
    def __init__(self, cap: int = 100_000) -> None:
        self._items: list[Action] = []
        self._cap = cap

    async def append(self, action: Action) -> None:
        self._items.append(action)
        del self._items[: -self._cap]

    async def recent(self, limit: int) -> list[Action]:
        return self._items[::-1][:limit]


class PgOfficials:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def get(self, name: str) -> Official | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT name, role, password_hash, totp_secret, last_step"
                " FROM monitor.official WHERE name = $1",
                name,
            )
        return None if row is None else Official(*row.values())

    async def add(self, official: Official) -> None:
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(
                    "INSERT INTO monitor.official (name, role, password_hash, totp_secret)"
                    " VALUES ($1, $2, $3, $4)",
                    official.name,
                    official.role,
                    official.password_hash,
                    official.totp_secret,
                )
        except asyncpg.UniqueViolationError:
            raise OfficialExists(f"an official {official.name!r} exists already") from None

    async def use_step(self, name: str, step: int) -> bool:
        async with self._pool.acquire() as conn:
            status = await conn.execute(
                "UPDATE monitor.official SET last_step = $2 WHERE name = $1 AND last_step < $2",
                name,
                step,
            )
        return bool(status == "UPDATE 1")


class PgActionLog:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def append(self, action: Action) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO monitor.console_action"
                " (at, official, role, action, detail, outcome, client)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                action.at,
                action.official,
                action.role,
                action.action,
                action.detail,
                action.outcome,
                action.client,
            )

    async def recent(self, limit: int) -> list[Action]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT at, official, role, action, detail, outcome, client"
                " FROM monitor.console_action ORDER BY seq DESC LIMIT $1",
                limit,
            )
        return [Action(*r.values()) for r in rows]
