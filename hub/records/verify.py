"""Streaming verification of the record chain, its seals and signed checkpoints (pure).

Detects, and names the first bad seq of: a changed record (its content no longer matches its
hash), a removed record (seq gap), records out of order or duplicated, a record whose link to
its predecessor is wrong (its predecessor was replaced), a checkpoint or seal with a bad
signature, a chain that differs from a signed checkpoint, a checkpoint that was due (one every
``every`` records) but is missing, records at the end that no seal or checkpoint covers (an
*unsigned tail*: the hub seals every batch in the statement that writes it, so no record is
ever legitimately unsealed, at any age), and records removed from the end (a checkpoint, a
head written to the witness, or a head seen by an earlier verification beyond the last record).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.records.checkpoints import DEFAULT_CHECKPOINT_EVERY, checkpoint_valid, covers
from hub.records.encoding import record_hash
from hub.records.exceptions import ConfigError
from hub.records.model import GENESIS_HASH, AccessRecord, Checkpoint

__all__ = ["Problem", "Verifier", "VerifyReport", "verify", "verify_async"]

Problem = Literal[
    "seq_gap",
    "out_of_order",
    "broken_link",
    "hash_mismatch",
    "bad_checkpoint_signature",
    "bad_signature",
    "bad_seal",
    "bad_witness",
    "checkpoint_mismatch",
    "missing_checkpoint",
    "unsigned_tail",
    "truncated",
    "head_mismatch",
    "witness_mismatch",
]
_Fault = tuple[int, Problem, str]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of a verification; ``detail`` says in plain words what is wrong, and where.

    ``last_seq``/``last_hash`` are the last good record: a caller may keep them and pass them
    as ``known_head`` next time (the witness does the same, signed, for every batch).
    """

    ok: bool
    records_checked: int
    checkpoints_checked: int
    last_seq: int
    last_hash: bytes
    first_bad_seq: int | None = None
    problem: Problem | None = None
    detail: str = "the chain is intact"
    seals_checked: int = 0

    def __str__(self) -> str:
        return self.detail


class _Anchor(NamedTuple):
    """A head held outside the checkpoint table: the chain must contain it, unchanged."""

    seq: int
    hash: bytes
    problem: Problem  # when the chain differs at seq
    differs: str  # "record seq N differs from ..."
    saw: str  # "the chain ends at seq N but ..."


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
    (the checkpoint table's checkpoints, one per ``every`` records and per flag change, are
    held; the seals arrive with their records).

    ``witnessed``: the newest heads the hub wrote to its witness, outside the database
    (`hub.records.witness`); each must be validly signed and a record of the chain.

    ``start``: continue after a head (seq, hash) an earlier verification reached — the next
    record fed must be seq + 1 and link to that hash; checkpoints and witnessed heads at or
    before it are not looked at again (a continuous verifier: `monitor.chain`).
    """

    def __init__(
        self,
        checkpoints: Iterable[Checkpoint],
        public_key: Ed25519PublicKey,
        *,
        known_head: tuple[int, bytes] | None = None,
        witnessed: Iterable[Checkpoint] = (),
        every: int = DEFAULT_CHECKPOINT_EVERY,
        start: tuple[int, bytes] | None = None,
    ) -> None:
        if every < 1:
            raise ConfigError("checkpoint_every must be at least 1")
        after = start[0] if start is not None else 0
        self._pending = sorted(
            (cp for cp in checkpoints if cp.seq > after), key=lambda cp: cp.seq, reverse=True
        )
        self._key = public_key
        self._every = every
        self._seq, self._hash = start if start is not None else (0, GENESIS_HASH)
        self._covered = after  # the last seq a valid seal or checkpoint signs
        self._records = 0
        self._checkpoints = 0
        self._seals = 0
        self._failure: VerifyReport | None = None
        self._anchors: list[_Anchor] = []
        if known_head is not None:
            seq, hash_ = known_head
            self._anchors.append(
                _Anchor(
                    seq,
                    hash_,
                    "head_mismatch",
                    "the head seen by an earlier verification",
                    f"an earlier verification saw seq {seq}",
                )
            )
        for w in (w for w in witnessed if w.seq > after):
            if not checkpoint_valid(w, public_key):
                self._fail(
                    (
                        w.seq,
                        "bad_witness",
                        f"the witness's head at seq {w.seq} has an invalid signature: "
                        "the witness file was altered",
                    )
                )
            self._anchors.append(
                _Anchor(
                    w.seq,
                    w.hash,
                    "witness_mismatch",
                    "the head the hub wrote to the witness",
                    f"the witness holds the hub's signed head at seq {w.seq}",
                )
            )

    def _fail(self, fault: _Fault) -> None:
        if self._failure is None:
            seq, problem, detail = fault
            self._failure = VerifyReport(
                False,
                self._records,
                self._checkpoints,
                self._seq,
                self._hash,
                seq,
                problem,
                detail,
                self._seals,
            )

    def feed(self, r: AccessRecord) -> bool:
        """Check the next record; returns False once the chain is known to be broken."""
        if self._failure is None:
            fault = (
                _position_fault(r, self._seq, self._hash)
                or self._anchor_fault(r)
                or self._checkpoint_fault(r)
                or self._seal_fault(r)
            )
            if fault is None:
                self._seq, self._hash = r.seq, r.hash
                self._records += 1
            else:
                self._fail(fault)
        return self._failure is None

    def _anchor_fault(self, r: AccessRecord) -> _Fault | None:
        for a in self._anchors:
            if a.seq == r.seq and a.hash != r.hash:
                return (
                    r.seq,
                    a.problem,
                    f"record seq {r.seq} differs from {a.differs}: the chain was rewritten since",
                )
        return None

    def _checkpoint_fault(self, r: AccessRecord) -> _Fault | None:
        signed_here = False
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
            signed_here = signed_here or cp.seq == r.seq
        if signed_here:
            self._covered = r.seq
        elif r.seq % self._every == 0:
            return (
                r.seq,
                "missing_checkpoint",
                (
                    f"the checkpoint due at seq {r.seq} (the hub signs one every {self._every} "
                    "records) is missing: checkpoints were removed"
                ),
            )
        return None

    def _seal_fault(self, r: AccessRecord) -> _Fault | None:
        if r.seal is None:
            return None
        if not covers(r.seal, r.seq, r.hash, self._key):
            return (
                r.seq,
                "bad_seal",
                (
                    f"the hub's seal on record seq {r.seq} does not verify: the record was "
                    "rewritten with its hash recomputed, or the seal was forged"
                ),
            )
        self._seals += 1
        self._covered = r.seq
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

    def _end_fault(self) -> _Fault | None:
        """Records missing at the end, or an end that the hub did not sign."""
        if self._pending:
            cp = self._pending[-1]
            return self._signature_fault(cp) or (
                self._seq + 1,
                "truncated",
                f"the chain ends at seq {self._seq} but the hub signed a checkpoint at seq "
                f"{cp.seq}: records from seq {self._seq + 1} on were removed from the end",
            )
        beyond = [a for a in self._anchors if a.seq > self._seq]
        if beyond:
            a = max(beyond, key=lambda a: a.seq)
            return (
                self._seq + 1,
                "truncated",
                f"the chain ends at seq {self._seq} but {a.saw}: "
                f"records from seq {self._seq + 1} on were removed from the end",
            )
        if self._seq > self._covered:
            first, n = self._covered + 1, self._seq - self._covered
            return (
                first,
                "unsigned_tail",
                f"unsigned tail, {n} record{'s' if n > 1 else ''} (seq {first}–{self._seq}): "
                "no seal or checkpoint of the hub covers them, so they were appended without "
                "the hub's key or the records after them were removed (the hub seals every "
                "batch as it writes it)",
            )
        return None

    def finish(self) -> VerifyReport:
        """The report: the first problem found, or ok."""
        if self._failure is None:
            fault = self._end_fault()
            if fault is not None:
                self._fail(fault)
        if self._failure is not None:
            return self._failure
        return VerifyReport(
            True,
            self._records,
            self._checkpoints,
            self._seq,
            self._hash,
            seals_checked=self._seals,
        )


def verify(
    records: Iterable[AccessRecord],
    checkpoints: Iterable[Checkpoint],
    public_key: Ed25519PublicKey,
    *,
    known_head: tuple[int, bytes] | None = None,
    witnessed: Iterable[Checkpoint] = (),
    every: int = DEFAULT_CHECKPOINT_EVERY,
) -> VerifyReport:
    """Verify records, in stored order, against the hub's seals and signed checkpoints."""
    v = Verifier(checkpoints, public_key, known_head=known_head, witnessed=witnessed, every=every)
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
    witnessed: Iterable[Checkpoint] = (),
    every: int = DEFAULT_CHECKPOINT_EVERY,
) -> VerifyReport:
    """`verify` over an async stream such as ``store.iter_all()`` (closed when done)."""
    v = Verifier(checkpoints, public_key, known_head=known_head, witnessed=witnessed, every=every)
    try:
        async for r in records:
            if not v.feed(r):
                break
    finally:
        aclose = getattr(records, "aclose", None)
        if aclose is not None:
            await aclose()
    return v.finish()
