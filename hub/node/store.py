"""Each office's own data: documents keyed by the office's local id, findable by its token.

One small store serves every office: a collection of JSON documents per kind of record, each
under the office's own local id and, once enrolled, the office's own token for the person —
never the number. Memory for the embedded default; one PostgreSQL schema per office otherwise.

While the office's token key rotates (docs/operations.md §5), a PostgreSQL document may hold a
second token, ``token_alt``: the person's token under the other key version. A look-up that
finds nothing by ``token`` tries ``token_alt``, so a person is found by either version until
the old one is retired. The rotation itself is ``PgStore.retoken`` / ``promote`` / ``settle``,
run by the operator's ``renkei tokens`` commands with the token keys (the store never sees them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import orjson

from hub.batch import Batcher
from hub.kept import IDLE, KeptConnection

__all__ = ["MemoryStore", "OfficeStore", "PgStore", "schema_for"]

Doc = Mapping[str, Any]
Retoken = Callable[[str], str]  # an office's token → the same person's token at another version


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
    async def delete(self, collection: str, key: str) -> None:
        """Remove a document (and its token); none under ``key`` is no error."""
        ...

    async def find(self, collection: str, field: str, value: str) -> list[tuple[str, Doc]]:
        """The documents whose ``field`` is ``value`` (a scan: for in-house look-ups only)."""
        ...


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

    async def delete(self, collection: str, key: str) -> None:
        self._docs.get(collection, {}).pop(key, None)
        token = self._keys.get(collection, {}).pop(key, None)
        if token is not None:
            self._tokens[collection].pop(token, None)

    async def find(self, collection: str, field: str, value: str) -> list[tuple[str, Doc]]:
        docs = self._docs.get(collection, {})
        return [(k, d) for k, d in sorted(docs.items()) if d.get(field) == value]


_COLUMNS = ("collection", "key", "token", "doc")
# Many look-ups by token at once: a function for its plan. Sent as a statement, the join with
# the wanted tokens turned to a generic plan made while the table was small — a hash of the
# whole table — and kept it as the table grew (asyncpg keeps prepared statements per
# connection); this plan, made once per session, looks each token up by index whatever the
# statistics said when it was made. ``alt``: by ``token_alt`` (a key rotation under way).
_BY_TOKENS = """
CREATE OR REPLACE FUNCTION {s}.by_tokens(collections text[], tokens text[], alt boolean)
RETURNS TABLE (collection text, token text, key text, doc jsonb) LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    IF alt THEN
        RETURN QUERY SELECT d.collection, d.token_alt, d.key, d.doc FROM {s}.docs d
            JOIN unnest(collections, tokens) AS w(c, t) ON d.collection = w.c AND d.token_alt = w.t;
    ELSE
        RETURN QUERY SELECT d.collection, d.token, d.key, d.doc FROM {s}.docs d
            JOIN unnest(collections, tokens) AS w(c, t) ON d.collection = w.c AND d.token = w.t;
    END IF;
END
$$;
"""


class PgStore:
    """``pool`` is an asyncpg pool; the schema is the office's own.

    Look-ups by token (``by_token``: a provider's every answer) go one batch at a time: one
    asked while none is in flight runs in its caller's task, with the others asked in that
    turn of the loop (a bundle's items: answered at once, so the answers go as a bundle too);
    the ones asked meanwhile wait and go together in the next batch (``Batcher(inline=True)``).
    They run over a connection of the pool that the store keeps between look-ups
    (``hub.kept.KeptConnection``), not acquired and released each time (asyncpg's acquire and
    release cost about as much client CPU as the query itself); it goes back to the pool after
    ``idle`` seconds without a look-up, after a look-up that failed or was cancelled, and at
    ``close``."""

    def __init__(self, pool: Any, office: str, *, idle: float = IDLE) -> None:
        self._pool = pool
        self._looking = KeptConnection(pool, idle=idle)
        self._schema = schema_for(office)
        # concurrent lookups by token share one query (an office answers many queries at once)
        # (inline: a look-up asked while none is in flight runs in its caller's task)
        self._lookups: Batcher[tuple[str, str], tuple[str, Doc] | None] = Batcher(
            self._look_up, max_batch=500, inline=True
        )

    async def migrate(self) -> None:
        """Create or bring up to date the office's schema; copies of one office starting at once
        take turns (without the lock their DDL deadlocked one another)."""
        s = self._schema
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"renkei {s}")
            await conn.execute(
                f"CREATE SCHEMA IF NOT EXISTS {s};"
                f"CREATE TABLE IF NOT EXISTS {s}.docs ("
                " collection text NOT NULL, key text NOT NULL, token text, doc jsonb NOT NULL,"
                " PRIMARY KEY (collection, key));"
                f"CREATE UNIQUE INDEX IF NOT EXISTS docs_token ON {s}.docs (collection, token)"
                " WHERE token IS NOT NULL;"
                f"ALTER TABLE {s}.docs ADD COLUMN IF NOT EXISTS token_alt text;"
                f"CREATE UNIQUE INDEX IF NOT EXISTS docs_token_alt ON {s}.docs"
                " (collection, token_alt) WHERE token_alt IS NOT NULL;" + _BY_TOKENS.format(s=s)
            )

    async def put_many(self, collection: str, rows: Iterable[tuple[str, str | None, Doc]]) -> int:
        records = [(collection, k, t, orjson.dumps(d).decode()) for k, t, d in rows]
        s = self._schema
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"CREATE TEMP TABLE incoming (LIKE {s}.docs) ON COMMIT DROP")
            await conn.copy_records_to_table("incoming", records=records, columns=_COLUMNS)
            # a token filed anew leaves the row's rotation to be done again (token_alt NULL)
            await conn.execute(
                f"INSERT INTO {s}.docs (collection, key, token, doc)"
                " SELECT collection, key, token, doc FROM incoming ON CONFLICT (collection, key)"
                " DO UPDATE SET doc = EXCLUDED.doc, token = COALESCE(EXCLUDED.token, docs.token),"
                " token_alt = CASE WHEN EXCLUDED.token IS NULL OR EXCLUDED.token = docs.token"
                " THEN docs.token_alt END"
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
        async def work(conn: Any) -> dict[tuple[str, str], tuple[str, Doc]]:
            found = await self._fetch(conn, "token", wanted)
            missed = [w for w in wanted if w not in found]
            if missed:  # a token of the other version, while a rotation is under way
                found |= await self._fetch(conn, "token_alt", missed)
            return found

        found = await self._looking.run(work)
        return [found.get(w) for w in wanted]

    async def close(self) -> None:
        """Give the look-ups' connection back to the pool (``Pool.close`` waits for every
        connection to come back); the store still works after, acquiring again."""
        await self._lookups.close()
        await self._looking.release()

    async def _fetch(
        self, conn: Any, column: str, wanted: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, Doc]]:
        s = self._schema
        if len(wanted) == 1:  # below peak load, most batches: an index look-up costs
            # PostgreSQL half the CPU of the join (bench/store_bench.py)
            rows = await conn.fetch(
                f"SELECT collection, {column} AS token, key, doc FROM {s}.docs"
                f" WHERE collection = $1 AND {column} = $2",
                *wanted[0],
            )
        else:  # (a function for its plan: _BY_TOKENS)
            rows = await conn.fetch(
                f"SELECT collection, token, key, doc FROM {s}.by_tokens($1, $2, $3)",
                [c for c, _ in wanted],
                [t for _, t in wanted],
                column == "token_alt",
            )
        return {(r["collection"], r["token"]): (r["key"], orjson.loads(r["doc"])) for r in rows}

    async def set_token(self, collection: str, key: str, token: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                f"UPDATE {self._schema}.docs SET token = $3,"
                " token_alt = CASE WHEN token = $3 THEN token_alt END"
                " WHERE collection = $1 AND key = $2",
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

    async def delete(self, collection: str, key: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                f"DELETE FROM {self._schema}.docs WHERE collection = $1 AND key = $2",
                collection,
                key,
            )

    async def find(self, collection: str, field: str, value: str) -> list[tuple[str, Doc]]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT key, doc FROM {self._schema}.docs WHERE collection = $1"
                " AND doc ->> $2 = $3 ORDER BY key",
                collection,
                field,
                value,
            )
        return [(r["key"], orjson.loads(r["doc"])) for r in rows]

    # The rotation of the office's token key (docs/operations.md §5), in three steps; each one
    # can be run again after an interruption, and finishes what an earlier run left.

    async def retoken(self, next_token: Retoken, *, batch: int = 1000) -> int:
        """Step 1, in batches while the office answers: every token gets its next-version
        token written beside it (``token_alt``); returns how many were written (none once
        promoted: what was filed since is step 3's)."""
        async with self._pool.acquire() as conn:
            if await self._promoted(conn, next_token):
                return 0
        done = 0
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                n = await self._fill(conn, next_token, batch)
            done += n
            if n < batch:
                return done

    async def promote(self, next_token: Retoken) -> int:
        """Step 2, in one transaction (writes wait, look-ups go on): the tokens filed since
        step 1 get theirs too, then each document's next-version token becomes its token and
        the old one stays beside it; returns how many documents were promoted."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"LOCK TABLE {self._schema}.docs IN SHARE ROW EXCLUSIVE MODE")
            if await self._promoted(conn, next_token):  # a second run: never swap back
                return 0
            while await self._fill(conn, next_token, 10_000):
                pass
            status: str = await conn.execute(
                f"UPDATE {self._schema}.docs SET token = token_alt, token_alt = token"
                " WHERE token_alt IS NOT NULL"
            )
        return int(status.rsplit(" ", 1)[1])

    async def settle(self, current_token: Retoken) -> int:
        """Step 3, in one transaction, once no old-version token is made any more: a token
        filed since step 2 (still old, perhaps) is made current, and every old token is
        dropped; returns how many documents held one."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"LOCK TABLE {self._schema}.docs IN SHARE ROW EXCLUSIVE MODE")
            rows = await conn.fetch(
                f"SELECT collection, key, token FROM {self._schema}.docs"
                " WHERE token IS NOT NULL AND token_alt IS NULL"
            )
            await self._write(conn, "token", [(r, current_token(r["token"])) for r in rows])
            status: str = await conn.execute(
                f"UPDATE {self._schema}.docs SET token_alt = NULL WHERE token_alt IS NOT NULL"
            )
        return int(status.rsplit(" ", 1)[1])

    async def _promoted(self, conn: Any, next_token: Retoken) -> bool:
        """Step 2 done already: the documents' tokens are at the next version (one tells,
        the promotion being one transaction)."""
        token = await conn.fetchval(
            f"SELECT token FROM {self._schema}.docs WHERE token_alt IS NOT NULL LIMIT 1"
        )
        return token is not None and next_token(token) == token

    async def _fill(self, conn: Any, next_token: Retoken, limit: int) -> int:
        rows = await conn.fetch(
            f"SELECT collection, key, token FROM {self._schema}.docs"
            " WHERE token IS NOT NULL AND token_alt IS NULL ORDER BY collection, key LIMIT $1",
            limit,
        )
        await self._write(conn, "token_alt", [(r, next_token(r["token"])) for r in rows])
        return len(rows)

    async def _write(self, conn: Any, column: str, rows: Sequence[tuple[Any, str]]) -> None:
        if rows:
            await conn.execute(
                f"UPDATE {self._schema}.docs d SET {column} = w.token"
                " FROM unnest($1::text[], $2::text[], $3::text[]) AS w(collection, key, token)"
                " WHERE d.collection = w.collection AND d.key = w.key",
                [r["collection"] for r, _ in rows],
                [r["key"] for r, _ in rows],
                [t for _, t in rows],
            )
