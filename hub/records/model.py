"""The access record (情報提供等記録) and its companions, as plain immutable values.

`RecordDraft` is what the hub hands in: it is validated once, at construction.
`AccessRecord` is what the store hands back: a draft plus the chain position (``seq``), the
link to its predecessor (``prev_hash``) and its own ``hash``.  Records read back from storage
are *not* re-validated, so that a tampered row reaches the verifier (which reports it) instead
of failing to load.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, NamedTuple, get_args
from uuid import UUID, uuid4

from hub.records.exceptions import InvalidRecord
from hub.wire import RecordOutcome

__all__ = [
    "GENESIS_HASH",
    "OUTCOMES",
    "AccessRecord",
    "Checkpoint",
    "FlagChange",
    "RecordDraft",
    "Recorded",
    "check_text",
    "digest",
    "utc",
]

OUTCOMES: Final[frozenset[str]] = frozenset(get_args(RecordOutcome))

GENESIS_HASH: Final[bytes] = bytes(32)
"""``prev_hash`` of the first record (seq 1) and of the first disclosure-flag change."""


def digest(data: bytes) -> bytes:
    """The sha256 digest used for ``query_digest`` / ``reply_digest``."""
    return hashlib.sha256(data).digest()


def check_text(name: str, value: object) -> str:
    """A str PostgreSQL can store: no NUL, no lone surrogate (one bad draft must not fail a
    whole batch at the database)."""
    if not isinstance(value, str):
        raise InvalidRecord(f"{name} must be a str")
    if "\x00" in value:
        raise InvalidRecord(f"{name} must not contain NUL characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRecord(f"{name} is not valid Unicode text") from None
    return value


def utc(name: str, value: object) -> datetime:
    """``value`` in UTC; refuses anything but a timezone-aware datetime."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidRecord(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


class Recorded(NamedTuple):
    """What the record of one query says of its outcome: enough to tell a redelivered answer
    from another (``reply_digest``) and to send a decided refusal again (``reason``)."""

    outcome: str
    reply_digest: bytes
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordDraft:
    """One query's outcome, as the hub reports it; the store assigns its chain position."""

    query_id: UUID
    requester: str
    provider: str
    affair: str
    items: tuple[str, ...]
    asked_at: datetime
    answered_at: datetime
    outcome: RecordOutcome
    query_digest: bytes
    reason: str = ""
    person: str = ""
    not_disclosed: bool = False
    reply_digest: bytes = b""
    record_id: UUID = field(default_factory=uuid4)
    # when ``not_disclosed``: why (the legal basis, for the flag log) and until when (None: until
    # an explicit change lifts it)
    withheld_reason: str = ""
    withheld_until: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.query_id, UUID) or not isinstance(self.record_id, UUID):
            raise InvalidRecord("query_id and record_id must be UUIDs")
        if self.outcome not in OUTCOMES:
            raise InvalidRecord(f"outcome must be one of {sorted(OUTCOMES)}, not {self.outcome!r}")
        for name in ("requester", "provider", "affair", "reason", "person"):
            check_text(name, getattr(self, name))
        if not self.requester or not self.affair:
            raise InvalidRecord("requester and affair must not be empty")
        if isinstance(self.items, str | bytes):
            raise InvalidRecord("items must be a sequence of item codes, not one string")
        items = tuple(check_text("items", item) for item in self.items)
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "asked_at", utc("asked_at", self.asked_at))
        object.__setattr__(self, "answered_at", utc("answered_at", self.answered_at))
        if not isinstance(self.query_digest, bytes) or len(self.query_digest) != 32:
            raise InvalidRecord("query_digest must be 32 bytes (sha256)")
        if not isinstance(self.reply_digest, bytes) or len(self.reply_digest) not in (0, 32):
            raise InvalidRecord("reply_digest must be empty or 32 bytes (sha256)")
        if not isinstance(self.not_disclosed, bool):
            raise InvalidRecord("not_disclosed must be a bool")
        check_text("withheld_reason", self.withheld_reason)
        if self.withheld_until is not None:
            if not self.not_disclosed:
                raise InvalidRecord("withheld_until is only for a record not to be disclosed")
            object.__setattr__(self, "withheld_until", utc("withheld_until", self.withheld_until))


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessRecord:
    """A chained access record.

    ``not_disclosed`` is the *current* non-disclosure flag, and ``withheld_reason`` /
    ``withheld_until`` its basis and end while it is set.  None of them is part of the hashed
    content: they live in the separate, hash-chained and signed disclosure-flag log
    (`FlagChange`), so lifting the flag never rewrites a chained record.

    ``seal`` is the hub's checkpoint over this record's (seq, hash), written with the record by
    the transaction that appended it: the last record of every batch carries one (see
    `hub.records.checkpoints`).  It signs the hash, so it is not part of the hashed content.
    """

    record_id: UUID
    seq: int
    query_id: UUID
    requester: str
    provider: str
    affair: str
    items: tuple[str, ...]
    asked_at: datetime
    answered_at: datetime
    outcome: str
    reason: str
    person: str
    not_disclosed: bool
    query_digest: bytes
    reply_digest: bytes
    prev_hash: bytes
    hash: bytes
    seal: Checkpoint | None = None
    withheld_reason: str = ""
    withheld_until: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """The hub's Ed25519 signature over (seq, hash, signed_at) of the record chain at ``seq``,
    and over the head of the disclosure-flag log at that moment (``flag_seq`` changes,
    ``flag_hash``), so that the flag log cannot be cut short unseen either.  ``flag_seq`` 0
    claims nothing about the flag log (a record's seal leaves it so)."""

    seq: int
    hash: bytes
    signed_at: datetime
    signature: bytes
    flag_seq: int = 0
    flag_hash: bytes = GENESIS_HASH


@dataclass(frozen=True, slots=True, kw_only=True)
class FlagChange:
    """One entry of the disclosure-flag log: its own hash chain, each entry also signed.

    The first entry for a record may come from the draft itself (``actor="hub.records"``).
    ``withheld_until``: a set flag ends by itself then (read time: from that instant the record
    is disclosed); None: until a later change lifts it.
    """

    change_seq: int
    record_id: UUID
    not_disclosed: bool
    changed_at: datetime
    actor: str
    reason: str
    prev_hash: bytes
    hash: bytes
    signature: bytes
    withheld_until: datetime | None = None

    def withheld(self, at: datetime) -> bool:
        """Whether this change, as the record's latest, withholds it at ``at``."""
        return self.not_disclosed and (self.withheld_until is None or at < self.withheld_until)
