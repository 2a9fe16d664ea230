"""The disclosure-flag log (不開示フラグ): its own hash chain, every entry signed (pure).

Why a separate log rather than a column inside the record chain: a record's hashed content
never changes once written, so setting or lifting "not to be disclosed" (e.g. while an
investigation runs) cannot break the record chain; and each change is itself evidence — who
changed which record's flag, when and why — kept append-only, chained (a removed or reordered
change breaks the links) and signed by the hub (a forged change has no valid signature).
A record's current flag is the flag of its latest change, or False if it has none; a change
that sets it with an end (``withheld_until``, the legal maximum) stops withholding the record
at that instant without a further change (the end is signed with the change).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Final
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.records.checkpoints import checkpoint_valid
from hub.records.encoding import micros, text
from hub.records.exceptions import InvalidRecord
from hub.records.model import GENESIS_HASH, Checkpoint, FlagChange, check_text, utc
from hub.records.verify import Problem, VerifyReport

__all__ = ["FLAG_VERSION", "FLAG_VERSION_UNTIL", "encode_flag", "make_flag_change", "verify_flags"]

FLAG_VERSION: Final = 1
FLAG_VERSION_UNTIL: Final = 2  # a change with an end: the same fields, then the end
_DOMAIN: Final = b"renkei.records.flag\x00\x01"


def encode_flag(c: FlagChange) -> bytes:
    """Canonical bytes of a flag change, everything but its hash and signature (version byte,
    then fixed-width or length-prefixed fields; version 2 adds the end, in microseconds, so
    the changes written before ends existed keep their version 1 bytes)."""
    until = c.withheld_until
    return b"".join(
        (
            bytes((FLAG_VERSION if until is None else FLAG_VERSION_UNTIL,)),
            c.change_seq.to_bytes(8, "big"),
            c.prev_hash,
            c.record_id.bytes,
            b"\x01" if c.not_disclosed else b"\x00",
            micros(c.changed_at),
            text(c.actor),
            text(c.reason),
            b"" if until is None else micros(until),
        )
    )


def _hash(c: FlagChange) -> bytes:
    return hashlib.sha256(encode_flag(c)).digest()


def make_flag_change(
    key: Ed25519PrivateKey,
    head: FlagChange | None,
    record_id: UUID,
    not_disclosed: bool,
    *,
    actor: str,
    reason: str,
    changed_at: datetime | None = None,
    withheld_until: datetime | None = None,
) -> FlagChange:
    """The next change after ``head`` (None for the first), hashed and signed."""
    at = (changed_at or datetime.now(UTC)).astimezone(UTC)
    until = None if withheld_until is None else utc("withheld_until", withheld_until)
    if until is not None and not not_disclosed:
        raise InvalidRecord("only a change that withholds a record has an end")
    draft = FlagChange(
        change_seq=1 if head is None else head.change_seq + 1,
        record_id=record_id,
        not_disclosed=not_disclosed,
        changed_at=at,
        actor=check_text("actor", actor),
        reason=check_text("reason", reason),
        prev_hash=GENESIS_HASH if head is None else head.hash,
        hash=b"",
        signature=b"",
        withheld_until=until,
    )
    h = _hash(draft)
    return FlagChange(
        change_seq=draft.change_seq,
        record_id=record_id,
        not_disclosed=not_disclosed,
        changed_at=at,
        actor=actor,
        reason=reason,
        prev_hash=draft.prev_hash,
        hash=h,
        signature=key.sign(_DOMAIN + h),
        withheld_until=until,
    )


def _signed(c: FlagChange, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(c.signature, _DOMAIN + c.hash)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


_Anchors = dict[int, set[bytes]]
# (problem when a change differs, what it differs from, what reaches beyond the log's end), for
# the checkpoints in the store and the heads kept by the witness, in that order
_SOURCES: Final[tuple[tuple[Problem, str, str], ...]] = (
    ("checkpoint_mismatch", "the hub's signed checkpoint", "the hub signed a checkpoint"),
    (
        "witness_mismatch",
        "the head the hub wrote to the witness",
        "the witness holds the hub's signed head",
    ),
)


def _anchors(checkpoints: Iterable[Checkpoint], key: Ed25519PublicKey) -> _Anchors:
    """The flag heads that validly signed checkpoints name (flag_seq 0 names none)."""
    out: _Anchors = {}
    for cp in checkpoints:
        if cp.flag_seq > 0 and checkpoint_valid(cp, key):
            out.setdefault(cp.flag_seq, set()).add(cp.flag_hash)
    return out


def _fault(
    c: FlagChange, seq: int, prev: bytes, anchors: Sequence[_Anchors], key: Ed25519PublicKey
) -> tuple[Problem, str] | None:
    where = f"disclosure-flag change {c.change_seq}"
    if c.change_seq != seq + 1:
        return "seq_gap", f"disclosure-flag change {seq + 1} is missing or out of order"
    if c.prev_hash != prev:
        return "broken_link", f"{where} does not link to the one before: a change was removed"
    if _hash(c) != c.hash:
        return "hash_mismatch", f"{where} was changed: its content does not match its hash"
    if not _signed(c, key):
        return "bad_signature", f"{where} has an invalid signature: it was forged or altered"
    for found, (problem, differs, _) in zip(anchors, _SOURCES, strict=True):
        if found.get(c.change_seq, {c.hash}) != {c.hash}:
            return problem, f"{where} differs from {differs}"
    return None


def verify_flags(
    changes: Iterable[FlagChange],
    public_key: Ed25519PublicKey,
    checkpoints: Iterable[Checkpoint] = (),
    witnessed: Iterable[Checkpoint] = (),
) -> VerifyReport:
    """Verify the flag log in stored order; ``first_bad_seq`` is a ``change_seq``.

    Validly signed checkpoints — those in the store and the heads kept by the witness —
    anchor the flag log: it must reach, and match, the flag head each of them signed (so
    cutting changes off the end shows).  Checkpoints with a bad signature are ignored here;
    the record verification reports them.
    """
    anchors = (_anchors(checkpoints, public_key), _anchors(witnessed, public_key))
    seq, prev, n = 0, GENESIS_HASH, 0
    for c in changes:
        fault = _fault(c, seq, prev, anchors, public_key)
        if fault is not None:
            bad = min(c.change_seq, seq + 1)
            return VerifyReport(False, n, 0, seq, prev, bad, *fault)
        seq, prev, n = c.change_seq, c.hash, n + 1
    for found, (_, _, saw) in zip(anchors, _SOURCES, strict=True):
        beyond = max(found, default=0)
        if beyond > seq:
            detail = (
                f"the disclosure-flag log ends at change {seq} but {saw} after change "
                f"{beyond}: changes were removed from the end"
            )
            return VerifyReport(False, n, 0, seq, prev, seq + 1, "truncated", detail)
    return VerifyReport(True, n, 0, seq, prev, detail="the disclosure-flag log is intact")
