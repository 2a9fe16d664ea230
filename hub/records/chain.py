"""The pure core of the access-record hash chain: build, checkpoint, verify.

Each record's ``hash`` is sha256 of its canonical content (`hub.records.encoding`), which
includes its ``seq`` and its predecessor's hash (32 zero bytes for seq 1), so changing,
removing, inserting or reordering a record breaks the chain from that point on.  Signed
checkpoints live in `hub.records.checkpoints`, streaming verification in `hub.records.verify`;
both are re-exported here so that this module is the one place to import the core from.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from hub.records.checkpoints import (
    DEFAULT_CHECKPOINT_EVERY,
    checkpoint_message,
    checkpoint_valid,
    covers,
    due_checkpoints,
    seal,
    sign_checkpoint,
)
from hub.records.encoding import RECORD_VERSION, encode_record, record_hash
from hub.records.model import GENESIS_HASH, AccessRecord, Checkpoint, RecordDraft
from hub.records.verify import Problem, Verifier, VerifyReport, verify, verify_async

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "GENESIS_HASH",
    "RECORD_VERSION",
    "Problem",
    "Verifier",
    "VerifyReport",
    "chain",
    "checkpoint_message",
    "checkpoint_valid",
    "covers",
    "due_checkpoints",
    "encode_record",
    "record_hash",
    "seal",
    "sign_checkpoint",
    "span_intact",
    "verify",
    "verify_async",
]


def span_intact(span: Sequence[AccessRecord], checkpoint: Checkpoint | None, key: Any) -> bool:
    """A piece of the chain checks out: each record hashes to its own ``hash`` and links to
    the one before, and — when a signed checkpoint is given — the piece ends at it, signed.
    (``renkei records verify`` checks the whole chain; this proves one record to a resident.)"""
    for before, r in itertools.pairwise(span):
        if r.seq != before.seq + 1 or r.prev_hash != before.hash:
            return False
    if any(record_hash(r.seq, r.prev_hash, r) != r.hash for r in span):
        return False
    if checkpoint is None:
        return bool(span)
    last = span[-1] if span else None
    return (
        last is not None
        and (last.seq, last.hash) == (checkpoint.seq, checkpoint.hash)
        and checkpoint_valid(checkpoint, key)
    )


def chain(prev_hash: bytes, start_seq: int, drafts: Iterable[RecordDraft]) -> list[AccessRecord]:
    """Chain ``drafts`` after the record whose hash is ``prev_hash``; the first gets ``start_seq``.

    For an empty chain pass ``GENESIS_HASH`` and 1.  ``not_disclosed`` (and its reason and
    end) is carried through but is not hashed (see `hub.records.flags`).
    """
    out: list[AccessRecord] = []
    seq = start_seq
    for d in drafts:
        h = record_hash(seq, prev_hash, d)
        out.append(
            AccessRecord(
                record_id=d.record_id,
                seq=seq,
                query_id=d.query_id,
                requester=d.requester,
                provider=d.provider,
                affair=d.affair,
                items=d.items,
                asked_at=d.asked_at,
                answered_at=d.answered_at,
                outcome=d.outcome,
                reason=d.reason,
                person=d.person,
                not_disclosed=d.not_disclosed,
                query_digest=d.query_digest,
                reply_digest=d.reply_digest,
                prev_hash=prev_hash,
                hash=h,
                withheld_reason=d.withheld_reason,
                withheld_until=d.withheld_until,
            )
        )
        prev_hash, seq = h, seq + 1
    return out
