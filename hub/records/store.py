"""The `RecordStore` port and its embedded, in-memory implementation.

Both stores share the semantics: ``append`` is idempotent per ``query_id`` (the first
outcome wins; a redelivered query yields ``False`` and writes nothing), records are chained
in ``seq`` order, each batch's last record is sealed by the hub, a checkpoint is signed at
every multiple of ``checkpoint_every`` and with every flag change, nothing is appended onto a
head the hub did not sign (`UnsignedHead`), every new seal and checkpoint goes to the witness
once durable, and the non-disclosure flag lives in the signed, chained flag log
(`hub.records.flags`) and is read at a given instant (a flag whose end has passed no longer
withholds the record). Both also keep the query claims (`hub.records.claims`) and the held
replies (`hub.records.held`), with the same semantics.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Final, Protocol
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.records.chain import chain
from hub.records.checkpoints import (
    DEFAULT_CHECKPOINT_EVERY,
    check_head,
    checkpoint_seqs,
    seal,
    sign_checkpoint,
)
from hub.records.claims import Claim, ClaimState
from hub.records.exceptions import ConfigError, InvalidRecord, RecordNotFound
from hub.records.flags import make_flag_change
from hub.records.held import HeldReply
from hub.records.model import (
    GENESIS_HASH,
    AccessRecord,
    Checkpoint,
    FlagChange,
    RecordDraft,
    Recorded,
    utc,
)
from hub.records.witness import Witness, note_committed

__all__ = [
    "MARKED",
    "RECORDER",
    "MemoryRecordStore",
    "RecordStore",
    "as_flagged",
    "check_every",
    "check_window",
    "disclose",
    "matches",
    "reading_time",
]

RECORDER: Final = "hub.records"
"""``actor`` of a flag change made because the draft itself was marked not-to-disclose."""
MARKED: Final = "marked when recorded"
"""``reason`` of such a change when the draft gives none."""


class RecordStore(Protocol):
    """Where access records live.  ``append`` returns only once the batch is durable."""

    @property
    def public_key(self) -> Ed25519PublicKey: ...

    @property
    def checkpoint_every(self) -> int: ...

    async def append(self, drafts: Sequence[RecordDraft]) -> list[bool]: ...

    async def exists(self, query_ids: Iterable[UUID]) -> set[UUID]: ...

    async def recorded(self, query_id: UUID) -> Recorded | None:
        """The outcome, reply digest and reason of the record of ``query_id``, if it has one."""
        ...

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
        """The person's records in chain order; ``newest``: only the last that many; ``before``:
        only those earlier in the chain than that ``seq`` (the next page back). A record is
        withheld if its flag is set at ``at`` (default now)."""
        ...

    async def set_not_disclosed(
        self,
        record_id: UUID,
        flag: bool,
        *,
        actor: str = "",
        reason: str = "",
        withheld_until: datetime | None = None,
    ) -> FlagChange: ...

    async def claim(self, claims: Sequence[Claim], at: datetime) -> list[ClaimState]: ...

    async def forget_claims(self, before: datetime) -> int: ...

    async def hold_replies(self, held: Sequence[HeldReply]) -> None: ...

    async def held_reply(self, key: UUID, digest: bytes) -> bytes | None: ...

    async def forget_held(self, before: datetime) -> int: ...

    def iter_all(self) -> AsyncIterator[AccessRecord]: ...

    async def checkpoints(self) -> list[Checkpoint]: ...

    async def between(self, first: int, last: int) -> list[AccessRecord]:
        """Records ``first`` to ``last`` (seq, inclusive), in order; a piece of the chain."""
        ...

    async def flag_changes(self) -> list[FlagChange]: ...

    async def sign_head(self) -> Checkpoint | None: ...

    async def count(self) -> int: ...


def check_window(
    since: datetime | None, until: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """The ``for_person`` time window in UTC (aware datetimes only)."""
    return (
        None if since is None else utc("since", since),
        None if until is None else utc("until", until),
    )


async def disclose(store: RecordStore, record_id: UUID, *, actor: str, reason: str) -> FlagChange:
    """Lift a record's non-disclosure flag before its end: a signed change in the flag log,
    saying who lifted it and why (both required: the oversight commission reads them)."""
    if not actor.strip() or not reason.strip():
        raise InvalidRecord("lifting a non-disclosure flag needs who lifts it and why")
    return await store.set_not_disclosed(record_id, False, actor=actor, reason=reason)


def as_flagged(r: AccessRecord, latest: FlagChange | None, at: datetime) -> AccessRecord:
    """``r`` with its flag as its latest change sets it at ``at`` (not withheld: no change,
    a lifted flag, or one whose end has passed)."""
    if latest is None or not latest.withheld(at):
        return dataclasses.replace(r, not_disclosed=False, withheld_reason="", withheld_until=None)
    return dataclasses.replace(
        r,
        not_disclosed=True,
        withheld_reason=latest.reason,
        withheld_until=latest.withheld_until,
    )


def reading_time(at: datetime | None) -> datetime:
    """The instant a flag is read at: ``at`` in UTC, or now."""
    return datetime.now(UTC) if at is None else utc("at", at)


def check_every(every: int) -> int:
    if every < 1:
        raise ConfigError("checkpoint_every must be at least 1")
    return every


def matches(
    r: AccessRecord, since: datetime | None, until: datetime | None, office: str | None
) -> bool:
    """The ``for_person`` filter: ``since <= asked_at < until``, office on either side."""
    return (
        (since is None or r.asked_at >= since)
        and (until is None or r.asked_at < until)
        and (office is None or office in (r.requester, r.provider))
    )


class MemoryRecordStore:
    """The embedded default: everything in process memory (lost at exit)."""

    def __init__(
        self,
        *,
        signing_key: Ed25519PrivateKey | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        witness: Witness | None = None,
    ) -> None:
        self._key = signing_key or Ed25519PrivateKey.generate()
        self._every = check_every(checkpoint_every)
        self._witness = witness
        self._trusted: tuple[int, bytes] | None = None  # a head known to be signed
        self._records: list[AccessRecord] = []
        self._queries: set[UUID] = set()
        self._by_id: dict[UUID, int] = {}
        self._by_person: dict[str, list[int]] = {}
        self._flag: dict[UUID, FlagChange] = {}  # each record's latest change
        self._flag_log: list[FlagChange] = []
        self._claims: dict[UUID, tuple[bytes, datetime]] = {}  # in claim order
        self._held: dict[tuple[UUID, bytes], tuple[bytes, datetime]] = {}
        self._checkpoints: list[Checkpoint] = []

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    @property
    def checkpoint_every(self) -> int:
        return self._every

    async def append(self, drafts: Sequence[RecordDraft]) -> list[bool]:
        fresh: list[RecordDraft] = []
        seen: set[UUID] = set()
        ids: set[UUID] = set()
        result: list[bool] = []
        for d in drafts:
            new = d.query_id not in self._queries and d.query_id not in seen
            result.append(new)
            if new:
                if d.record_id in self._by_id or d.record_id in ids:
                    raise InvalidRecord(f"record_id {d.record_id} is already used")
                seen.add(d.query_id)
                ids.add(d.record_id)
                fresh.append(d)
        if not fresh:
            return result
        head = self._signed_head()
        before = head.seq if head else 0
        records = chain(head.hash if head else GENESIS_HASH, before + 1, fresh)
        records[-1] = seal(self._key, records[-1])
        for d, r in zip(fresh, records, strict=True):
            index = len(self._records)
            self._records.append(as_flagged(r, None, r.asked_at))
            self._queries.add(r.query_id)
            self._by_id[r.record_id] = index
            self._by_person.setdefault(r.person, []).append(index)
            if d.not_disclosed:
                reason = d.withheld_reason or MARKED
                self._log_flag(r.record_id, True, RECORDER, reason, d.withheld_until)
        last = records[-1]
        flagged = any(d.not_disclosed for d in fresh)
        due = checkpoint_seqs(before, last.seq, self._every, flags_changed=flagged)
        cps = [self._sign(s, self._records[s - 1].hash) for s in due]
        self._checkpoints.extend(cps)
        self._trusted = (last.seq, last.hash)
        note_committed(self._witness, [last.seal, *cps])
        return result

    def _signed_head(self) -> AccessRecord | None:
        """The head, once it is known to carry the hub's signature (else `UnsignedHead`)."""
        head = self._records[-1] if self._records else None
        if head is not None and (head.seq, head.hash) != self._trusted:
            at = [cp for cp in self._checkpoints if cp.seq == head.seq]
            check_head(head.seq, head.hash, (head.seal, *at), self.public_key)
            self._trusted = (head.seq, head.hash)
        return head

    def _sign(self, seq: int, hash_: bytes) -> Checkpoint:
        last = self._flag_log[-1] if self._flag_log else None
        flags = (last.change_seq, last.hash) if last else (0, GENESIS_HASH)
        return sign_checkpoint(self._key, seq, hash_, flag_head=flags)

    def _log_flag(
        self, record_id: UUID, flag: bool, actor: str, reason: str, until: datetime | None
    ) -> FlagChange:
        head = self._flag_log[-1] if self._flag_log else None
        change = make_flag_change(
            self._key, head, record_id, flag, actor=actor, reason=reason, withheld_until=until
        )
        self._flag_log.append(change)
        self._flag[record_id] = change
        return change

    def _current(self, r: AccessRecord, at: datetime) -> AccessRecord:
        return as_flagged(r, self._flag.get(r.record_id), at)

    async def exists(self, query_ids: Iterable[UUID]) -> set[UUID]:
        return {q for q in query_ids if q in self._queries}

    async def recorded(self, query_id: UUID) -> Recorded | None:
        if query_id in self._queries:
            for r in reversed(self._records):
                if r.query_id == query_id:
                    return Recorded(r.outcome, r.reply_digest, r.reason)
        return None

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
        now = reading_time(at)
        found = (self._current(self._records[i], now) for i in self._by_person.get(person, ()))
        shown = [
            r
            for r in found
            if (include_not_disclosed or not r.not_disclosed)
            and matches(r, since, until, office)
            and (before is None or r.seq < before)
        ]
        return shown if newest is None else shown[max(len(shown) - newest, 0) :]

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
        if record_id not in self._by_id:
            raise RecordNotFound(f"no access record {record_id}")
        self._signed_head()
        change = self._log_flag(record_id, flag, actor, reason, withheld_until)
        await self.sign_head()
        return change

    async def claim(self, claims: Sequence[Claim], at: datetime) -> list[ClaimState]:
        out = []
        for c in claims:
            prior = self._claims.get(c.key)
            recorded = c.key in self._queries
            if prior is None and not recorded:
                self._claims[c.key] = (c.digest, at)
            digest = prior[0] if prior else None
            out.append(ClaimState(prior is None and not recorded, digest, recorded))
        return out

    async def forget_claims(self, before: datetime) -> int:
        # in claim order, so in time order: stop at the first one kept
        old = list(itertools.takewhile(lambda key: self._claims[key][1] < before, self._claims))
        for key in old:
            del self._claims[key]
        return len(old)

    async def hold_replies(self, held: Sequence[HeldReply]) -> None:
        for h in held:
            self._held.setdefault((h.key, h.digest), (h.body, h.until))

    async def held_reply(self, key: UUID, digest: bytes) -> bytes | None:
        found = self._held.get((key, digest))
        return None if found is None else found[0]

    async def forget_held(self, before: datetime) -> int:
        old = [k for k, (_, until) in self._held.items() if until < before]
        for k in old:
            del self._held[k]
        return len(old)

    async def iter_all(self) -> AsyncGenerator[AccessRecord, None]:
        now = datetime.now(UTC)
        for i in range(len(self._records)):
            yield self._current(self._records[i], now)

    async def checkpoints(self) -> list[Checkpoint]:
        return list(self._checkpoints)

    async def between(self, first: int, last: int) -> list[AccessRecord]:
        now = datetime.now(UTC)
        return [self._current(r, now) for r in self._records[max(first, 1) - 1 : max(last, 0)]]

    async def flag_changes(self) -> list[FlagChange]:
        return list(self._flag_log)

    async def sign_head(self) -> Checkpoint | None:
        """Sign the current head (and the flag log's) unless a checkpoint already does; None if
        the chain is empty.  Refuses a head the hub did not sign (`UnsignedHead`)."""
        head = self._signed_head()
        if head is None:
            return None
        cp = self._sign(head.seq, head.hash)
        last = self._checkpoints[-1] if self._checkpoints else None
        if last is None or (last.seq, last.flag_seq) != (cp.seq, cp.flag_seq):
            self._checkpoints.append(cp)
            note_committed(self._witness, [cp])
        return self._checkpoints[-1]

    async def count(self) -> int:
        return len(self._records)
