"""The witness: the hub's signed heads, kept outside its database.

Every checkpoint a store signs — each batch's seal, the periodic ones, those over a flag
change — is also appended, once its transaction has committed, as one line to a witness file
outside the database: the oversight role's copy (``RENKEI_WITNESS_DIR``; ship it off the hub's
host like any audit log).  ``renkei records verify --witness FILE`` then demands, in the manner
of RFC 9162's consistency check, that the chain in the database still holds the newest
witnessed head unchanged (a record at that seq with that hash) and the flag log the newest
witnessed flag head: records cut off the end *together with* their seals and checkpoints,
which the database alone cannot show, then show as a head the chain no longer reaches.

A line is JSON: ``seq``, ``hash``, ``signed_at`` (ISO 8601, microseconds), ``flag_seq``,
``flag_hash``, ``signature`` (bytes in hex) — a `Checkpoint`, which anyone can check with the
hub's public key.  Each line is one ``write`` to a file opened ``O_APPEND``, so the hub's
workers on one host may share the file; one on another host keeps its own (verify against
each).  Lines are not fsync'd: they survive the hub's crash, not the host's.  A failed write
is logged (``records.witness_failed``) and does not fail the batch, whose records are durable
by then: a lost line only makes the witness older.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

from hub.log import get_logger
from hub.records.exceptions import WitnessError
from hub.records.model import Checkpoint

__all__ = [
    "WITNESS_FILE",
    "FileWitness",
    "Witness",
    "newest_heads",
    "note_committed",
    "parse_line",
    "read_witness",
    "witness_line",
]

WITNESS_FILE: Final = "records.witness"
"""The witness file's name in the witness directory."""

log = get_logger("hub.records.witness")


class Witness(Protocol):
    """Where a store sends the checkpoints it has just committed."""

    def note(self, checkpoints: Sequence[Checkpoint]) -> None: ...


def note_committed(witness: Witness | None, checkpoints: Iterable[Checkpoint | None]) -> None:
    """What a store calls after a commit: the new seals and checkpoints (None: no such)."""
    if witness is not None:
        witness.note([cp for cp in checkpoints if cp is not None])


def witness_line(cp: Checkpoint) -> bytes:
    """One checkpoint as one line of the witness file."""
    fields = {
        "seq": cp.seq,
        "hash": cp.hash.hex(),
        "signed_at": cp.signed_at.isoformat(),
        "flag_seq": cp.flag_seq,
        "flag_hash": cp.flag_hash.hex(),
        "signature": cp.signature.hex(),
    }
    return json.dumps(fields, separators=(",", ":")).encode() + b"\n"


def parse_line(raw: bytes | str, where: str = "") -> Checkpoint:
    """A witness line back as a `Checkpoint` (its signature is not checked here)."""
    try:
        d: Any = json.loads(raw)
        cp = Checkpoint(
            seq=_int(d["seq"]),
            hash=bytes.fromhex(d["hash"]),
            signed_at=_time(d["signed_at"]),
            signature=bytes.fromhex(d["signature"]),
            flag_seq=_int(d["flag_seq"]),
            flag_hash=bytes.fromhex(d["flag_hash"]),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise WitnessError(f"{where or 'a witness line'} is not a checkpoint: {exc}") from None
    return cp


def _time(value: str) -> datetime:
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise ValueError("signed_at has no time zone")
    return at


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{value!r} is not a seq")
    return value


def newest_heads(checkpoints: Iterable[Checkpoint]) -> list[Checkpoint]:
    """The witnessed heads a verification compares with: the newest of the record chain
    (highest seq) and, when another, the newest of the flag log (highest flag_seq)."""
    by_seq: Checkpoint | None = None
    by_flag: Checkpoint | None = None
    for cp in checkpoints:
        if by_seq is None or (cp.seq, cp.flag_seq) > (by_seq.seq, by_seq.flag_seq):
            by_seq = cp
        if by_flag is None or (cp.flag_seq, cp.seq) > (by_flag.flag_seq, by_flag.seq):
            by_flag = cp
    heads = [h for h in (by_seq, by_flag) if h is not None]
    return heads[:1] if len(heads) == 2 and heads[0] == heads[1] else heads


def read_witness(path: Path) -> list[Checkpoint]:
    """The newest witnessed heads in the file at ``path`` (streamed: memory stays flat)."""

    def lines(f: Iterable[bytes]) -> Iterable[Checkpoint]:
        for n, raw in enumerate(f, 1):
            if raw.strip():
                yield parse_line(raw, f"{path} line {n}")

    try:
        with path.open("rb") as f:
            return newest_heads(lines(f))
    except OSError as exc:
        raise WitnessError(f"cannot read the witness {path}: {exc.strerror or exc}") from None


class FileWitness:
    """Appends each committed checkpoint to the witness file (created ``0640`` if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def note(self, checkpoints: Sequence[Checkpoint]) -> None:
        if not checkpoints:
            return
        data = b"".join(witness_line(cp) for cp in checkpoints)
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
                self._fd = os.open(self.path, flags, 0o640)
            os.write(self._fd, data)
        except OSError as exc:
            # the reason is in the line; a traceback would add nothing to "disk full"
            log.error("records.witness_failed", path=str(self.path), error=str(exc))  # noqa: TRY400

    async def close(self) -> None:
        """Close the file (a later `note` opens it again)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
