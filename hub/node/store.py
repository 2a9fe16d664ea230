"""Each office's own data: documents keyed by the office's local id, findable by its token.

One small store serves every office: a collection of JSON documents per kind of record, each
under the office's own local id and, once enrolled, the office's own token for the person —
never the number. Memory for the embedded default; one PostgreSQL schema per office otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import orjson

from hub.batch import Batcher

__all__ = ["MemoryStore", "OfficeStore", "PgStore", "schema_for"]

Doc = Mapping[str, Any]


def schema_for(office: str) -> str:
    """The office's own PostgreSQL schema; the code is checked, so it is safe in SQL text."""
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", office):
        raise ValueError(f"not an office code: {office!r}")
    return "office_" + office.replace("-", "_")


class OfficeStore(Protocol):
    async def put_many(
        self, collection: str, rows: Iterable[tuple[str, str | None, Doc]]
    ) -> int: ...
    async def get(self, collection: str, key: str) -> Doc | None: ...
    async def by_token(self, collection: str, token: str) -> tuple[str, Doc] | None: ...
    async def set_token(self, collection: str, key: str, token: str) -> None: ...
    async def token(self, collection: str, key: str) -> str | None: ...
    async def token_of(self, key: str) -> str | None:
        """The token filed under a local id in any collection (local ids are the office's own)."""
        ...

    async def keys(self, collection: str) -> list[str]: ...


class MemoryStore:
    def __init__(self) -> None:
        self._docs: dict[str, dict[str, Doc]] = {}
        self._tokens: dict[str, dict[str, str]] = {}  # token → key
        self._keys: dict[str, dict[str, str]] = {}  # key → token

    async def put_many(self, collection: str, rows: Iterable[tuple[str, str | None, Doc]]) -> int:
        docs = self._docs.setdefault(collection, {})
        tokens = self._tokens.setdefault(collection, {})
        n = 0
        for key, token, doc in rows:
            docs[key] = doc
            if token is not None:
                tokens[token] = key
                self._keys.setdefault(collection, {})[key] = token
            n += 1
        return n

    async def get(self, collection: str, key: str) -> Doc | None:
        return self._docs.get(collection, {}).get(key)

    async def by_token(self, collection: str, token: str) -> tuple[str, Doc] | None:
        key = self._tokens.get(collection, {}).get(token)
        return None if key is None else (key, self._docs[collection][key])

    async def set_token(self, collection: str, key: str, token: str) -> None:
        self._tokens.setdefault(collection, {})[token] = key
        self._keys.setdefault(collection, {})[key] = token

    async def token(self, collection: str, key: str) -> str | None:
        return self._keys.get(collection, {}).get(key)

    async def token_of(self, key: str) -> str | None:
        return next((t[key] for t in self._keys.values() if key in t), None)

    async def keys(self, collection: str) -> list[str]:
        return sorted(self._docs.get(collection, {}))


class PgStore:
    """``pool`` is an asyncpg pool; the schema is the office's own."""

    def __init__(self, pool: Any, office: str) -> None:
        self._pool = pool
        self._schema = schema_for(office)
        # concurrent lookups by token share one query (an office answers many queries at once)
        self._lookups: Batcher[tuple[str, str], tuple[str, Doc] | None] = Batcher(
            self._look_up, max_batch=500
        )

    async def migrate(self) -> None:
        s = self._schema
        async with self._pool.acquire() as conn:
            await conn.execute(
                f"CREATE SCHEMA IF NOT EXISTS {s};"
                f"CREATE TABLE IF NOT EXISTS {s}.docs ("
                " collection text NOT NULL, key text NOT NULL, token text, doc jsonb NOT NULL,"
                " PRIMARY KEY (collection, key));"
                f"CREATE UNIQUE INDEX IF NOT EXISTS docs_token ON {s}.docs (collection, token)"
                " WHERE token IS NOT NULL;"
            )

    async def put_many(self, collection: str, rows: Iterable[tuple[str, str | None, Doc]]) -> int:
        records = [(collection, k, t, orjson.dumps(d).decode()) for k, t, d in rows]
        s = self._schema
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"CREATE TEMP TABLE incoming (LIKE {s}.docs) ON COMMIT DROP")
            await conn.copy_records_to_table("incoming", records=records)
            await conn.execute(
                f"INSERT INTO {s}.docs SELECT * FROM incoming ON CONFLICT (collection, key)"
                " DO UPDATE SET doc = EXCLUDED.doc, token = COALESCE(EXCLUDED.token, docs.token)"
            )
        return len(records)

    async def get(self, collection: str, key: str) -> Doc | None:
        async with self._pool.acquire() as conn:
            raw = await conn.fetchval(
                f"SELECT doc FROM {self._schema}.docs WHERE collection = $1 AND key = $2",
                collection,
                key,
            )
        return None if raw is None else orjson.loads(raw)

    async def by_token(self, collection: str, token: str) -> tuple[str, Doc] | None:
        return await self._lookups.submit((collection, token))

    async def _look_up(self, wanted: Sequence[tuple[str, str]]) -> list[tuple[str, Doc] | None]:
        s = self._schema
        async with self._pool.acquire() as conn:
            if len(wanted) == 1:  # below peak load, most batches: an index look-up costs
                # PostgreSQL half the CPU of the join (bench/store_bench.py)
                rows = await conn.fetch(
                    f"SELECT collection, token, key, doc FROM {s}.docs"
                    " WHERE collection = $1 AND token = $2",
                    *wanted[0],
                )
            else:
                rows = await conn.fetch(
                    f"SELECT d.collection, d.token, d.key, d.doc FROM {s}.docs d"
                    " JOIN unnest($1::text[], $2::text[]) AS w(collection, token)"
                    " ON d.collection = w.collection AND d.token = w.token",
                    [c for c, _ in wanted],
                    [t for _, t in wanted],
                )
        found = {(r["collection"], r["token"]): (r["key"], orjson.loads(r["doc"])) for r in rows}
        return [found.get(w) for w in wanted]

    async def set_token(self, collection: str, key: str, token: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                f"UPDATE {self._schema}.docs SET token = $3 WHERE collection = $1 AND key = $2",
                collection,
                key,
                token,
            )

    async def token(self, collection: str, key: str) -> str | None:
        async with self._pool.acquire() as conn:
            value: str | None = await conn.fetchval(
                f"SELECT token FROM {self._schema}.docs WHERE collection = $1 AND key = $2",
                collection,
                key,
            )
        return value

    async def token_of(self, key: str) -> str | None:
        async with self._pool.acquire() as conn:
            value: str | None = await conn.fetchval(
                f"SELECT token FROM {self._schema}.docs WHERE key = $1 AND token IS NOT NULL"
                " ORDER BY collection LIMIT 1",
                key,
            )
        return value

    async def keys(self, collection: str) -> list[str]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT key FROM {self._schema}.docs WHERE collection = $1 ORDER BY key",
                collection,
            )
        return [r["key"] for r in rows]
