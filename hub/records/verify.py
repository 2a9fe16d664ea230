"""Streaming verification of the record chain and its signed checkpoints (pure).

Detects, and names the first bad seq of: a changed record (its content no longer matches its
hash), a removed record (seq gap), records out of order or duplicated, a record whose link to
its predecessor is wrong (its predecessor was replaced), a checkpoint with a bad signature, a
chain that differs from a signed checkpoint, and records removed from the end (a checkpoint,
or a head seen by an earlier verification, beyond the last record).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.records.checkpoints import checkpoint_valid
from hub.records.encoding import record_hash
from hub.records.model import GENESIS_HASH, AccessRecord, Checkpoint

__all__ = ["Problem", "Verifier", "VerifyReport", "verify", "verify_async"]

Problem = Literal[
    "seq_gap",
    "out_of_order",
    "broken_link",
    "hash_mismatch",
    "bad_checkpoint_signature",
    "bad_signature",
    "checkpoint_mismatch",
    "truncated",
    "head_mismatch",
]
_Fault = tuple[int, Problem, str]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of a verification; ``detail`` says in plain words what is wrong, and where.

    ``last_seq``/``last_hash`` are the last good record: a caller may keep them and pass them
    as ``known_head`` next time, which catches records removed after the last checkpoint.
    """

    ok: bool
    records_checked: int
    checkpoints_checked: int
    last_seq: int
    last_hash: bytes
    first_bad_seq: int | None = None
    problem: Problem | None = None
    detail: str = "the chain is intact"

    def __str__(self) -> str:
        return self.detail


def _position_fault(r: AccessRecord, seq: int, prev: bytes) -> _Fault | None:
    expected = seq + 1
    if r.seq > expected:
        return (
            expected,
            "seq_gap",
            (
                f"record seq {expected} is missing (the next stored record is seq {r.seq}): "
                "records were removed"
            ),
        )
    if r.seq < expected:
        return (
            r.seq,
            "out_of_order",
            (f"record seq {r.seq} appears after seq {seq}: records are duplicated or out of order"),
        )
    if r.prev_hash != prev:
        what = "the genesis hash" if seq == 0 else f"the hash of record seq {seq}"
        return (
            r.seq,
            "broken_link",
            (
                f"record seq {r.seq} does not link to {what}: "
                "a record before it was changed, replaced or removed"
            ),
        )
    if record_hash(r.seq, r.prev_hash, r) != r.hash:
        return (
            r.seq,
            "hash_mismatch",
            (f"record seq {r.seq} was changed: its content does not match its stored hash"),
        )
    return None


class Verifier:
    """Feed records in stored order, then `finish`.  Memory is O(1) in the number of records
    (the checkpoints, one per ``every`` records, are held)."""

    def __init__(
        self,
        checkpoints: Iterable[Checkpoint],
        public_key: Ed25519PublicKey,
        *,
        known_head: tuple[int, bytes] | None = None,
    ) -> None:
        self._pending = sorted(checkpoints, key=lambda cp: cp.seq, reverse=True)
        self._key = public_key
        self._known = known_head
        self._seq = 0
        self._hash = GENESIS_HASH
        self._records = 0
        self._checkpoints = 0
        self._failure: VerifyReport | None = None

    def _fail(self, fault: _Fault) -> None:
        if self._failure is None:
            seq, problem, detail = fault
            self._failure = VerifyReport(
                False, self._records, self._checkpoints, self._seq, self._hash, seq, problem, detail
            )

    def feed(self, r: AccessRecord) -> bool:
        """Check the next record; returns False once the chain is known to be broken."""
        if self._failure is None:
            fault = _position_fault(r, self._seq, self._hash) or self._anchor_fault(r)
            if fault is None:
                self._seq, self._hash = r.seq, r.hash
                self._records += 1
            else:
                self._fail(fault)
        return self._failure is None

    def _anchor_fault(self, r: AccessRecord) -> _Fault | None:
        if self._known is not None and self._known[0] == r.seq and self._known[1] != r.hash:
            return (
                r.seq,
                "head_mismatch",
                (
                    f"record seq {r.seq} differs from the head seen by an earlier verification: "
                    "the chain was rewritten since"
                ),
            )
        while self._pending and self._pending[-1].seq <= r.seq:
            cp = self._pending.pop()
            fault = self._signature_fault(cp)
            if fault is None and cp.seq == r.seq and cp.hash != r.hash:
                fault = (
                    r.seq,
                    "checkpoint_mismatch",
                    (
                        f"the chain at seq {r.seq} differs from the hub's signed checkpoint: "
                        "records up to it were rewritten"
                    ),
                )
            if fault is not None:
                return fault
        return None

    def _signature_fault(self, cp: Checkpoint) -> _Fault | None:
        if not checkpoint_valid(cp, self._key):
            return (
                cp.seq,
                "bad_checkpoint_signature",
                (
                    f"the checkpoint at seq {cp.seq} has an invalid signature: "
                    "it was forged or altered"
                ),
            )
        self._checkpoints += 1
        return None

    def finish(self) -> VerifyReport:
        """The report: the first problem found, or ok."""
        if self._failure is None and self._pending:
            cp = self._pending[-1]
            self._fail(
                self._signature_fault(cp)
                or (
                    self._seq + 1,
                    "truncated",
                    f"the chain ends at seq {self._seq} but the hub signed a checkpoint at seq "
                    f"{cp.seq}: records from seq {self._seq + 1} on were removed from the end",
                )
            )
        if self._failure is None and self._known is not None and self._seq < self._known[0]:
            self._fail(
                (
                    self._seq + 1,
                    "truncated",
                    f"the chain ends at seq {self._seq} but an earlier verification saw seq "
                    f"{self._known[0]}: records were removed from the end",
                )
            )
        if self._failure is not None:
            return self._failure
        return VerifyReport(True, self._records, self._checkpoints, self._seq, self._hash)


def verify(
    records: Iterable[AccessRecord],
    checkpoints: Iterable[Checkpoint],
    public_key: Ed25519PublicKey,
    *,
    known_head: tuple[int, bytes] | None = None,
) -> VerifyReport:
    """Verify records, in stored order, against the hub's signed checkpoints."""
    v = Verifier(checkpoints, public_key, known_head=known_head)
    for r in records:
        if not v.feed(r):
            break
    return v.finish()


async def verify_async(
    records: AsyncIterable[AccessRecord],
    checkpoints: Iterable[Checkpoint],
    public_key: Ed25519PublicKey,
    *,
    known_head: tuple[int, bytes] | None = None,
) -> VerifyReport:
    """`verify` over an async stream such as ``store.iter_all()`` (closed when done)."""
    v = Verifier(checkpoints, public_key, known_head=known_head)
    try:
        async for r in records:
            if not v.feed(r):
                break
    finally:
        aclose = getattr(records, "aclose", None)
        if aclose is not None:
            await aclose()
    return v.finish()
