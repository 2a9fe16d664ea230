"""Signed checkpoints over the record chain and the disclosure-flag log (pure).

A checkpoint is the hub's Ed25519 signature over (seq, hash, signed_at) of the record chain at
``seq``, together with the head of the disclosure-flag log at that moment (flag_seq,
flag_hash).  Checkpoints pin both chains against a rewrite by someone who can recompute sha256
but does not hold the hub's key, and reveal entries removed from the end (a signed checkpoint
beyond the last entry).

The cadence: every append *seals* its batch — the batch's last record carries a checkpoint over
its own (seq, hash) (`seal`), written by the same statement that writes the records, so no
record is ever durable without the hub's signature over it (an unsealed record at the end of
the chain is a fault, at any age).  Besides, the checkpoint table holds one at every multiple
of ``every`` (default 1000) that an append crosses, one in every transaction that changes the
disclosure-flag log (over both heads), and those signed on demand (``sign_head``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.records.encoding import micros
from hub.records.exceptions import UnsignedHead
from hub.records.model import GENESIS_HASH, AccessRecord, Checkpoint

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "check_head",
    "checkpoint_message",
    "checkpoint_seqs",
    "checkpoint_valid",
    "covers",
    "due_checkpoints",
    "seal",
    "sign_checkpoint",
]

DEFAULT_CHECKPOINT_EVERY: Final = 1000
_DOMAIN: Final = b"renkei.records.checkpoint\x00\x01"


def due_checkpoints(last_seq_before: int, last_seq_after: int, every: int) -> range:
    """The seqs (multiples of ``every``) an append moving the head across them must sign."""
    first = (last_seq_before // every + 1) * every
    return range(first, last_seq_after + 1, every)


def checkpoint_seqs(before: int, after: int, every: int, *, flags_changed: bool) -> list[int]:
    """Where an append moving the head from ``before`` to ``after`` writes checkpoints to the
    table: the due multiples of ``every``, and the new head when it changed the flag log (a
    checkpoint over both heads anchors the new flag changes)."""
    seqs = list(due_checkpoints(before, after, every))
    if flags_changed and after not in seqs:
        seqs.append(after)
    return seqs


def checkpoint_message(
    seq: int, hash_: bytes, signed_at: datetime, flag_seq: int, flag_hash: bytes
) -> bytes:
    """The bytes a checkpoint signature covers (domain-separated and versioned)."""
    return b"".join(
        (
            _DOMAIN,
            seq.to_bytes(8, "big"),
            hash_,
            micros(signed_at),
            flag_seq.to_bytes(8, "big"),
            flag_hash,
        )
    )


def sign_checkpoint(
    key: Ed25519PrivateKey,
    seq: int,
    hash_: bytes,
    signed_at: datetime | None = None,
    *,
    flag_head: tuple[int, bytes] = (0, GENESIS_HASH),
) -> Checkpoint:
    """Sign the record chain at (seq, hash) and the flag log at ``flag_head``;
    ``signed_at`` (default now) keeps microseconds, like PostgreSQL."""
    at = (signed_at or datetime.now(UTC)).astimezone(UTC)
    flag_seq, flag_hash = flag_head
    signature = key.sign(checkpoint_message(seq, hash_, at, flag_seq, flag_hash))
    return Checkpoint(
        seq=seq,
        hash=hash_,
        signed_at=at,
        signature=signature,
        flag_seq=flag_seq,
        flag_hash=flag_hash,
    )


def checkpoint_valid(cp: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    """Whether ``cp`` carries the hub's signature over its own (seq, hash, signed_at)."""
    try:
        message = checkpoint_message(cp.seq, cp.hash, cp.signed_at, cp.flag_seq, cp.flag_hash)
        public_key.verify(cp.signature, message)
    except (InvalidSignature, ValueError, OverflowError, TypeError):
        return False
    return True


def covers(cp: Checkpoint | None, seq: int, hash_: bytes, public_key: Ed25519PublicKey) -> bool:
    """Whether ``cp`` is the hub's valid checkpoint at exactly the record (seq, hash)."""
    return cp is not None and (cp.seq, cp.hash) == (seq, hash_) and checkpoint_valid(cp, public_key)


def seal(key: Ed25519PrivateKey, record: AccessRecord) -> AccessRecord:
    """``record`` carrying the hub's checkpoint over its own (seq, hash), signed now; it claims
    nothing about the flag log (the checkpoints that change it anchor it)."""
    return dataclasses.replace(record, seal=sign_checkpoint(key, record.seq, record.hash))


def check_head(
    seq: int, hash_: bytes, signatures: Iterable[Checkpoint | None], public_key: Ed25519PublicKey
) -> None:
    """Refuse to build on a head the hub did not sign — neither its seal nor a checkpoint at
    it (``signatures``) covers it — so that a record appended without the key is never
    sealed over by the next batch."""
    if not any(covers(cp, seq, hash_, public_key) for cp in signatures):
        raise UnsignedHead(
            f"the chain's head, record seq {seq}, carries no valid seal or checkpoint of the "
            "hub: it was appended without the hub's key, or records after it were removed; "
            "nothing more is recorded until it is investigated (renkei records verify)"
        )
