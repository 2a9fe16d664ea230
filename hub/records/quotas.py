"""Query quotas' buckets, shared by every hub process: how many tokens each gave.

The hub's quota check (``hub.routing.quotas``) takes one token per query from a bucket named by
its key (the office, or the office and affair). Several hub processes run side by side and keep
no state between messages, so the buckets live where they all write: PostgreSQL
(`PgQuotaStore`, schema ``records``: one ``take_quota`` call per batch of queries, each bucket's
row updated in one statement that reads the row it locks — no token is ever given twice), or,
for the embedded network of one process, memory (`MemoryQuotaStore`). Both compute with
``hub.buckets``' arithmetic: a bucket holds up to ``burst`` tokens and refills at
``per_second``; a key not seen yet has a full one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hub.buckets import Rate, granted, refill
from hub.kept import KeptConnection

__all__ = ["MemoryQuotaStore", "PgQuotaStore", "QuotaStore", "Taken", "Want"]

_TAKE = "SELECT key, given, tokens FROM {s}.take_quota($1::text[], $2::int[], $3, $4, $5)"


@dataclass(frozen=True, slots=True)
class Want:
    """``n`` tokens from bucket ``key``, which refills at ``rate``."""

    key: str
    n: int
    rate: Rate


@dataclass(frozen=True, slots=True)
class Taken:
    """What a bucket gave (``given`` of the tokens wanted) and what it holds after."""

    given: int
    tokens: float


class QuotaStore(Protocol):
    async def take(self, wants: Sequence[Want], now: dt.datetime) -> list[Taken]:
        """One `Taken` per `Want`, in order; each key appears at most once."""
        ...


class MemoryQuotaStore:
    """The buckets in this process's memory: the embedded network (one hub), unit tests."""

    def __init__(self) -> None:
        self._levels: dict[str, tuple[float, float]] = {}  # key → (tokens, when)

    async def take(self, wants: Sequence[Want], now: dt.datetime) -> list[Taken]:
        at = now.timestamp()
        out = []
        for want in wants:
            level, last = self._levels.get(want.key, (float(want.rate.burst), at))
            level = refill(level, last, at, want.rate)
            given = granted(level, want.n)
            self._levels[want.key] = (level - given, max(at, last))
            out.append(Taken(given, level - given))
        return out


class PgQuotaStore:
    """The buckets in PostgreSQL (``records.quota_bucket``, made by ``PgRecordStore.migrate``;
    the hub's role may select, insert and update them)."""

    def __init__(self, pool: Any, *, schema: str = "records") -> None:
        self._pool = pool
        self._taking = KeptConnection(pool)  # the quota gate's one batch at a time
        self._take = _TAKE.replace("{s}", f'"{schema}"')

    async def take(self, wants: Sequence[Want], now: dt.datetime) -> list[Taken]:
        if not wants:
            return []
        keys = [w.key for w in wants]
        args = (
            keys,
            [w.n for w in wants],
            [float(w.rate.burst) for w in wants],
            [w.rate.per_second for w in wants],
            now,
        )
        rows = await self._taking.run(lambda conn: conn.fetch(self._take, *args))
        found = {row["key"]: Taken(row["given"], row["tokens"]) for row in rows}
        return [found[key] for key in keys]
