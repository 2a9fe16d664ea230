"""`PgRecordStore`: access records in PostgreSQL (asyncpg).

Appends are one transaction per batch: take ``pg_advisory_xact_lock`` (so several hub workers
append side by side and the chain stays linear), find which query ids already have a record,
read the chain head and check that the hub signed it (`UnsignedHead` otherwise), chain the new
drafts, seal the last, insert them (a batch of one as a prepared ``INSERT``, a larger one as a
``COPY``), write any flag changes and due checkpoints, commit.
``append`` returns after the commit, i.e. when the batch is durable; then the new seal and
checkpoints go to the witness.

The fast path: after its own append a store knows the head it wrote, so the next batch is
chained onto it, its last record sealed, and sent as one statement (it commits on its own; the
seal rides in the record's row, so it costs no statement): a batch of one — every batch at one
query in flight — as a prepared ``INSERT`` (one round trip), a larger batch as a ``COPY`` (two
round trips, much less per row). Another worker's append in between makes that statement
collide with a ``seq`` already taken (a unique key), and a query recorded before with its
``query_id``: either way nothing is written and the batch takes the locked path above, which
also serves batches that flag records, are due a checkpoint or repeat a query id (and which
starts again when a fast append lands between its reading the head and its insert). The chain
stays linear either way.

Query claims (`claim`) are one call per batch of ``claim_queries`` (schema.sql: an ``INSERT …
ON CONFLICT DO NOTHING RETURNING`` that skips keys already recorded, with a kept generic plan
and a commit that does not wait for the WAL flush), and a second statement only when a key was
taken; `forget_claims` deletes the expired ones. Held replies (`hold_replies`, ``held.py``)
alike: one call of a function per batch, committed without waiting for the flush.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncGenerator, Iterable, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final
from uuid import UUID

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.kept import KeptConnection
from hub.records import sql
from hub.records.chain import chain
from hub.records.checkpoints import (
    DEFAULT_CHECKPOINT_EVERY,
    check_head,
    checkpoint_seqs,
    due_checkpoints,
    seal,
    sign_checkpoint,
)
from hub.records.claims import Claim, ClaimState, settle
from hub.records.exceptions import ConfigError, RecordNotFound, RoleError, SchemaError
from hub.records.flags import make_flag_change
from hub.records.held import HeldReply
from hub.records.model import (
    GENESIS_HASH,
    AccessRecord,
    Checkpoint,
    FlagChange,
    RecordDraft,
    Recorded,
)
from hub.records.store import MARKED, RECORDER, check_every, check_window, reading_time
from hub.records.witness import Witness, note_committed

__all__ = ["PgRecordStore"]

_IDENT: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Prepared statements first planned while the tables were tiny keep a generic seq-scan plan
# (asyncpg caches statements per connection) until autovacuum analyzes the tables; as the
# table grows that costs milliseconds per batch.  Custom plans are cheap here, so force them,
# per transaction; on the append path it rides on the lock statement, at no extra round trip.
_LOCK: Final = (
    "SELECT pg_advisory_xact_lock($1), set_config('plan_cache_mode', 'force_custom_plan', true)"
)
_RETRIES: Final = 8  # a guard: a fast append waits for a locked one (schema.sql: append_lock)
_CUSTOM_PLANS: Final = "SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"


def _lock_key(schema: str) -> int:
    raw = hashlib.sha256(f"renkei.records:{schema}".encode()).digest()[:8]
    return int.from_bytes(raw, "big", signed=True)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _seal(row: Any) -> Checkpoint | None:
    """The seal a record row carries (half of one, e.g. tampered with, comes out invalid)."""
    if row["seal"] is None and row["sealed_at"] is None:
        return None
    return Checkpoint(
        seq=row["seq"],
        hash=row["hash"],
        signed_at=row["sealed_at"] or _EPOCH,
        signature=row["seal"] or b"",
    )


def _record(row: Any, flag: Any = None) -> AccessRecord:
    """A stored record; ``flag`` (a row with ``withheld_reason`` and ``withheld_until``) when
    its flag withholds it now."""
    return AccessRecord(
        record_id=row["record_id"],
        seq=row["seq"],
        query_id=row["query_id"],
        requester=row["requester"],
        provider=row["provider"],
        affair=row["affair"],
        items=tuple(row["items"]),
        asked_at=row["asked_at"],
        answered_at=row["answered_at"],
        outcome=row["outcome"],
        reason=row["reason"],
        person=row["person"],
        not_disclosed=flag is not None,
        query_digest=row["query_digest"],
        reply_digest=row["reply_digest"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        seal=_seal(row),
        withheld_reason=flag["withheld_reason"] if flag is not None else "",
        withheld_until=flag["withheld_until"] if flag is not None else None,
    )


def _head_checkpoint(row: Any) -> Checkpoint | None:
    """The newest checkpoint at the head, from the ``head`` statement's row."""
    if row["cp_signature"] is None:
        return None
    return Checkpoint(
        seq=row["seq"],
        hash=row["cp_hash"],
        signed_at=row["cp_at"],
        signature=row["cp_signature"],
        flag_seq=row["cp_flag_seq"],
        flag_hash=row["cp_flag_hash"],
    )


def _flag(row: Any) -> FlagChange:
    return FlagChange(**dict(row))


class PgRecordStore:
    """Access records in ``schema`` (default ``records``); `migrate` creates it.

    Without ``signing_key`` the store only reads (a verifier, ``records show``); appending or
    signing then raises `ConfigError`.  ``witness``: where committed seals and checkpoints go.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str = "records",
        *,
        signing_key: Ed25519PrivateKey | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        witness: Witness | None = None,
    ) -> None:
        if not _IDENT.fullmatch(schema):
            raise SchemaError(f"schema name {schema!r} is not a plain lower-case identifier")
        self._pool = pool
        # the claimer's and the record writer's statements, each one batch at a time
        self._claiming, self._appending = KeptConnection(pool), KeptConnection(pool)
        self._schema = schema
        self._q = sql.statements(f'"{schema}"')
        self._lock = _lock_key(schema)
        self._key_or_none = signing_key
        self._every = check_every(checkpoint_every)
        self._witness = witness
        self._head: tuple[int, bytes] | None = None  # what this store last wrote (fast path)
        self._trusted: tuple[int, bytes] | None = None  # a head known to be signed

    @property
    def _key(self) -> Ed25519PrivateKey:
        if self._key_or_none is None:
            raise ConfigError("this record store was opened without the hub's key: read-only")
        return self._key_or_none

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    @property
    def checkpoint_every(self) -> int:
        return self._every

    async def migrate(
        self, *, writer_role: str | None = None, reader_role: str | None = None
    ) -> None:
        """Create the schema, tables, indexes and append-only triggers (idempotent), as the
        role that is to own them.  ``writer_role``: the role the hub connects as; it gets
        SELECT and INSERT only, and `RoleError` is raised (nothing changed) if it could still
        do more — a superuser, a role that can create roles, the owner of the tables or the
        schema or a member of it, or one holding more rights through another role.
        ``reader_role``: one that may only read the records (the monitor's), checked alike."""
        ddl = resources.files("hub.records").joinpath("schema.sql").read_text("utf-8")
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK, self._lock)
            ddl = ddl.replace("{schema}", f'"{self._schema}"')
            await conn.execute(ddl.replace("{lock_key}", str(self._lock)))
            if writer_role is not None:
                await self._grant(conn, writer_role)
            if reader_role is not None:
                await self._grant(conn, reader_role, reader=True)

    async def _grant(self, conn: Any, role: str, *, reader: bool = False) -> None:
        found = await conn.fetchrow(sql.WRITER_ROLE, role)
        if found is None:
            raise RoleError(
                f"no database role {role!r}: create it first (CREATE ROLE … LOGIN PASSWORD …)"
            )
        if found["rolsuper"] or found["rolcreaterole"]:
            raise RoleError(
                f"role {role!r} is a superuser or may create roles: it could rewrite the records"
            )
        await conn.execute(sql.grants(f'"{self._schema}"', found["ident"], reader=reader))
        check = sql.READER_POWERS if reader else sql.WRITER_POWERS
        powers = await conn.fetchrow(check, role, self._schema, list(sql.TABLES))
        if powers["owns_schema"] or powers["beyond"]:
            what = ", ".join(powers["beyond"]) or f"the schema {self._schema}"
            raise RoleError(
                f"role {role!r} could {'add, ' if reader else ''}change or remove rows of {what} "
                "(it owns them, belongs to their owner, or holds those rights through another "
                "role): let another role own the records and run migrate as that role"
            )

    async def append(self, drafts: Sequence[RecordDraft]) -> list[bool]:
        if not drafts:
            return []
        if await self._append_fast(drafts):
            return [True] * len(drafts)
        for _ in range(_RETRIES):
            try:
                return await self._append_locked(drafts)
            except asyncpg.UniqueViolationError:  # a fast append landed after we read the head
                continue
        return await self._append_locked(drafts)

    async def _append_fast(self, drafts: Sequence[RecordDraft]) -> bool:
        """One statement onto the head this store wrote last; False: nothing written, go
        locked."""
        head, self._head = self._head, None  # a failure below leaves no head to trust
        if head is None or any(d.not_disclosed for d in drafts):
            return False
        before, last_hash = head
        if len({d.query_id for d in drafts}) < len(drafts):
            return False
        if due_checkpoints(before, before + len(drafts), self._every):
            return False
        records = chain(last_hash, before + 1, drafts)
        records[-1] = seal(self._key, records[-1])
        try:
            await self._appending.run(lambda conn: self._insert(conn, records))
        except asyncpg.UniqueViolationError:  # another worker appended, or a repeated query
            return False
        self._written(records[-1])
        note_committed(self._witness, [records[-1].seal])
        return True

    async def _insert(self, conn: Any, records: Sequence[AccessRecord]) -> None:
        """One statement: a batch of one as a prepared INSERT (one round trip; at one query
        in flight every batch is one), a larger one as a COPY (two round trips, far less per
        row)."""
        if len(records) == 1:
            await conn.execute(self._q.insert_record, *sql.record_row(records[0]))
            return
        await conn.copy_records_to_table(
            "access_record",
            schema_name=self._schema,
            columns=sql.RECORD_COLUMNS,
            records=[sql.record_row(r) for r in records],
        )

    def _written(self, last: AccessRecord) -> None:
        """``last`` is committed: the next batch may chain onto it without a look."""
        self._head = self._trusted = (last.seq, last.hash)

    def _check_head(self, row: Any) -> None:
        """`UnsignedHead` unless the head in ``row`` (the ``head`` statement's) is signed."""
        if row["seq"] is None or (row["seq"], row["hash"]) == self._trusted:
            return
        check_head(row["seq"], row["hash"], (_seal(row), _head_checkpoint(row)), self.public_key)
        self._trusted = (row["seq"], row["hash"])

    async def _append_locked(self, drafts: Sequence[RecordDraft]) -> list[bool]:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK, self._lock)
            head = await conn.fetchrow(self._q.head, [d.query_id for d in drafts])
            taken: set[UUID] = set(head["dup"])
            result: list[bool] = []
            fresh: list[RecordDraft] = []
            for d in drafts:
                new = d.query_id not in taken
                result.append(new)
                if new:
                    taken.add(d.query_id)
                    fresh.append(d)
            before: int = head["seq"] or 0
            if not fresh:
                return result
            self._check_head(head)
            records = chain(head["hash"] or GENESIS_HASH, before + 1, fresh)
            records[-1] = seal(self._key, records[-1])
            await self._insert(conn, records)
            flagged = [
                (r.record_id, d.withheld_reason or MARKED, d.withheld_until)
                for d, r in zip(fresh, records, strict=True)
                if d.not_disclosed
            ]
            flag_head = None
            if flagged:
                flags = await self._log_flags(conn, True, RECORDER, flagged)
                flag_head = flags[-1]
            due = checkpoint_seqs(before, records[-1].seq, self._every, flags_changed=bool(flagged))
            cps = []
            if due:
                flag_head = flag_head or await self._flag_head(conn)
                cps = [self._sign(s, records[s - before - 1].hash, flag_head) for s in due]
                await conn.executemany(self._q.insert_checkpoint, [sql.cp_row(c) for c in cps])
        self._written(records[-1])  # once committed
        note_committed(self._witness, [records[-1].seal, *cps])
        return result

    def _sign(self, seq: int, hash_: bytes, flag_head: FlagChange | None) -> Checkpoint:
        flags = (flag_head.change_seq, flag_head.hash) if flag_head else (0, GENESIS_HASH)
        return sign_checkpoint(self._key, seq, hash_, flag_head=flags)

    async def _flag_head(self, conn: Any) -> FlagChange | None:
        row = await conn.fetchrow(self._q.flag_head)
        return _flag(row) if row is not None else None

    async def _log_flags(
        self,
        conn: Any,
        flag: bool,
        actor: str,
        marks: Sequence[tuple[UUID, str, datetime | None]],  # record id, reason, end
    ) -> list[FlagChange]:
        head = await self._flag_head(conn)
        changes: list[FlagChange] = []
        for record_id, reason, until in marks:
            head = make_flag_change(
                self._key, head, record_id, flag, actor=actor, reason=reason, withheld_until=until
            )
            changes.append(head)
        await conn.executemany(self._q.insert_flag, [sql.flag_row(c) for c in changes])
        return changes

    async def _sign_head(self, conn: Any) -> tuple[Checkpoint | None, bool]:
        """The checkpoint over both heads (None: no records), and whether it is new."""
        head = await conn.fetchrow(self._q.head, [])
        if head["seq"] is None:
            return None, False
        self._check_head(head)
        cp = self._sign(head["seq"], head["hash"], await self._flag_head(conn))
        added = await conn.execute(self._q.insert_checkpoint, *sql.cp_row(cp))
        row = await conn.fetchrow(self._q.checkpoint_at, cp.seq, cp.flag_seq)
        return Checkpoint(**dict(row)), added.endswith(" 1")

    async def exists(self, query_ids: Iterable[UUID]) -> set[UUID]:
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            await conn.execute(_CUSTOM_PLANS)
            rows = await conn.fetch(self._q.exists, list(query_ids))
        return {row["query_id"] for row in rows}

    async def recorded(self, query_id: UUID) -> Recorded | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(self._q.recorded, query_id)
        if row is None:
            return None
        return Recorded(row["outcome"], bytes(row["reply_digest"]), row["reason"])

    async def for_person(
        self,
        person: str,
        *,
        include_not_disclosed: bool = False,
        since: datetime | None = None,
        until: datetime | None = None,
        office: str | None = None,
        newest: int | None = None,
        at: datetime | None = None,
        before: int | None = None,
    ) -> list[AccessRecord]:
        since, until = check_window(since, until)
        asked = (
            person,
            since,
            until,
            office,
            include_not_disclosed,
            newest,
            reading_time(at),
            before,
        )
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            await conn.execute(_CUSTOM_PLANS)
            rows = await conn.fetch(self._q.for_person, *asked)
        # chain order
        return [_record(row, row if row["not_disclosed"] else None) for row in reversed(rows)]

    async def set_not_disclosed(
        self,
        record_id: UUID,
        flag: bool,
        *,
        actor: str = "",
        reason: str = "",
        withheld_until: datetime | None = None,
    ) -> FlagChange:
        """Append a flag change and sign a checkpoint over both heads at once."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK, self._lock)
            if await conn.fetchval(self._q.record_exists, record_id) is None:
                raise RecordNotFound(f"no access record {record_id}")
            mark = (record_id, reason, withheld_until)
            (change,) = await self._log_flags(conn, flag, actor, [mark])
            cp, _ = await self._sign_head(conn)  # UnsignedHead rolls the change back
        note_committed(self._witness, [cp])
        return change

    async def claim(self, claims: Sequence[Claim], at: datetime) -> list[ClaimState]:
        """One statement inserts the fresh claims; a second, only when some key was not
        fresh (a replay, a redelivery: rare), says what took it. The second statement sees
        what another worker committed meanwhile, which the first one waited for."""
        keys, digests = [c.key for c in claims], [c.digest for c in claims]

        async def work(conn: Any) -> tuple[set[UUID], list[Any]]:
            fresh = {row["k"] for row in await conn.fetch(self._q.claim, keys, digests, at)}
            taken = [c.key for c in claims if c.key not in fresh]
            return fresh, (await conn.fetch(self._q.claimed, taken) if taken else [])

        fresh, found_rows = await self._claiming.run(work)
        rows = iter(found_rows)
        found = []
        for c in claims:
            row = None if c.key in fresh else next(rows)
            found.append(ClaimState(True) if row is None else ClaimState(False, *row))
        return settle(claims, found)  # a key twice in the batch: inserted once, for the first

    async def forget_claims(self, before: datetime) -> int:
        async with self._pool.acquire() as conn:
            done: str = await conn.execute(self._q.forget_claims, before)
        return int(done.rsplit(" ", 1)[-1])

    async def hold_replies(self, held: Sequence[HeldReply]) -> None:
        """One statement per batch (``hold_replies``: its commit does not wait for the flush)."""
        async with self._pool.acquire() as conn:
            await conn.execute(
                self._q.hold_replies,
                [h.key for h in held],
                [h.digest for h in held],
                [h.body for h in held],
                [h.until for h in held],
            )

    async def held_reply(self, key: UUID, digest: bytes) -> bytes | None:
        async with self._pool.acquire() as conn:
            body = await conn.fetchval(self._q.held_reply, key, digest)
        return None if body is None else bytes(body)

    async def forget_held(self, before: datetime) -> int:
        async with self._pool.acquire() as conn:
            done: str = await conn.execute(self._q.forget_held, before)
        return int(done.rsplit(" ", 1)[-1])

    async def iter_all(self) -> AsyncGenerator[AccessRecord, None]:
        """All records in seq order from one consistent snapshot, through a server-side
        cursor: memory holds one page of rows plus the ids of the (few) records currently
        flagged not-to-disclose.  Close it (``aclosing``) if you stop early."""
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            await conn.execute(_CUSTOM_PLANS)
            now = reading_time(None)
            flagged = {row["record_id"]: row for row in await conn.fetch(self._q.flagged, now)}
            async for row in conn.cursor(self._q.all_records, prefetch=1000):
                yield _record(row, flagged.get(row["record_id"]))

    async def between(self, first: int, last: int) -> list[AccessRecord]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(self._q.between, first, last)
        return [_record(row) for row in rows]  # the flag is not part of the chain

    async def checkpoints(self) -> list[Checkpoint]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(self._q.checkpoints)
        return [Checkpoint(**dict(row)) for row in rows]

    async def flag_changes(self) -> list[FlagChange]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(self._q.flag_changes)
        return [_flag(row) for row in rows]

    async def sign_head(self) -> Checkpoint | None:
        """Sign the current head (and the flag log's) unless a checkpoint already does; None if
        the chain is empty.  Refuses a head the hub did not sign (`UnsignedHead`)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK, self._lock)
            cp, added = await self._sign_head(conn)
        if added:
            note_committed(self._witness, [cp])
        return cp

    async def count(self) -> int:
        """The chain length (head seq; seq is contiguous from 1)."""
        async with self._pool.acquire() as conn:
            n: int = await conn.fetchval(self._q.count)
        return n
