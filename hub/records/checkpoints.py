"""Signed checkpoints over the record chain and the disclosure-flag log (pure).

A checkpoint is the hub's Ed25519 signature over (seq, hash, signed_at) of the record chain at
``seq``, together with the head of the disclosure-flag log at that moment (flag_seq,
flag_hash).  Checkpoints pin both chains against a rewrite by someone who can recompute sha256
but does not hold the hub's key, and reveal entries removed from the end (a signed checkpoint
beyond the last entry).  Stores sign one at every multiple of ``every`` (default 1000) that an
append crosses — so each flush that crosses a multiple writes one — and on demand
(``sign_head``, e.g. at shutdown or after a flag change).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.records.encoding import micros
from hub.records.model import GENESIS_HASH, Checkpoint

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "checkpoint_message",
    "checkpoint_valid",
    "due_checkpoints",
    "sign_checkpoint",
]

DEFAULT_CHECKPOINT_EVERY: Final = 1000
_DOMAIN: Final = b"renkei.records.checkpoint\x00\x01"


def due_checkpoints(last_seq_before: int, last_seq_after: int, every: int) -> range:
    """The seqs (multiples of ``every``) an append moving the head across them must sign."""
    first = (last_seq_before // every + 1) * every
    return range(first, last_seq_after + 1, every)


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
