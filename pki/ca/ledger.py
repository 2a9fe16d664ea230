"""The CA's ledger: which serials it issued, to which holder, and which it revoked.

No personal data: a record is (CA, serial, holder digest, validity). The holder digest is an
HMAC of the holder reference under the CA's own key, so the ledger cannot be joined with any
other data set, and the serial (random, 159 bits) is never derived from the person.

Kept in memory, optionally backed by an append-only journal of JSON lines (``ledger.jsonl``,
mode 0600, fsync'd on every write) that is replayed on open; a torn last line from a crash is
ignored, anything else malformed refuses to start.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from pki.exceptions import StateError
from pki.profiles import CaName

__all__ = ["CertRecord", "Ledger", "RevocationRecord"]


@dataclass(frozen=True, slots=True)
class CertRecord:
    ca: CaName
    serial: int
    holder: str  # HMAC digest, hex
    not_before: dt.datetime
    not_after: dt.datetime


@dataclass(frozen=True, slots=True)
class RevocationRecord:
    ca: CaName
    serial: int
    reason: x509.ReasonFlags
    revoked_at: dt.datetime
    invalid_since: dt.datetime | None  # when the change took effect, if before revoked_at


class Ledger:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._certs: dict[tuple[CaName, int], CertRecord] = {}
        self._holders: dict[str, list[CertRecord]] = {}
        self._revoked: dict[CaName, dict[int, RevocationRecord]] = {c: {} for c in CaName}
        self._fd: int | None = None
        if path is not None:
            self._replay(path)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __len__(self) -> int:
        return len(self._certs)

    def add(self, rec: CertRecord) -> None:
        self._append(
            {
                "op": "issue",
                "ca": rec.ca.value,
                "serial": f"{rec.serial:x}",
                "holder": rec.holder,
                "not_before": rec.not_before.isoformat(),
                "not_after": rec.not_after.isoformat(),
            }
        )
        self._index(rec)

    def revoke(self, rev: RevocationRecord) -> tuple[RevocationRecord, bool]:
        """Record a revocation; a second one of the same serial keeps the first (idempotent)."""
        existing = self._revoked[rev.ca].get(rev.serial)
        if existing is not None:
            return existing, False
        self._append(
            {
                "op": "revoke",
                "ca": rev.ca.value,
                "serial": f"{rev.serial:x}",
                "reason": rev.reason.value,
                "revoked_at": rev.revoked_at.isoformat(),
                "invalid_since": rev.invalid_since.isoformat() if rev.invalid_since else None,
            }
        )
        self._revoked[rev.ca][rev.serial] = rev
        return rev, True

    def get(self, ca: CaName, serial: int) -> CertRecord | None:
        return self._certs.get((ca, serial))

    def revocation(self, ca: CaName, serial: int) -> RevocationRecord | None:
        return self._revoked[ca].get(serial)

    def of_holder(self, holder: str) -> list[CertRecord]:
        return list(self._holders.get(holder, ()))

    def revoked(self, ca: CaName) -> list[RevocationRecord]:
        return sorted(self._revoked[ca].values(), key=lambda r: (r.revoked_at, r.serial))

    def _index(self, rec: CertRecord) -> None:
        self._certs[(rec.ca, rec.serial)] = rec
        self._holders.setdefault(rec.holder, []).append(rec)

    def _append(self, entry: dict[str, Any]) -> None:
        if self._fd is None:
            return
        os.write(self._fd, json.dumps(entry, separators=(",", ":")).encode() + b"\n")
        os.fsync(self._fd)

    def _replay(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        lines = data.split(b"\n")
        if lines and lines[-1]:
            lines = lines[:-1]  # a torn write at a crash: the entry was never acknowledged
        for n, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                self._apply(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise StateError(f"{path}: line {n} is not a ledger entry ({exc})") from None

    def _apply(self, e: dict[str, Any]) -> None:
        ca, serial = CaName(e["ca"]), int(e["serial"], 16)
        if e["op"] == "issue":
            self._index(
                CertRecord(
                    ca,
                    serial,
                    str(e["holder"]),
                    dt.datetime.fromisoformat(e["not_before"]),
                    dt.datetime.fromisoformat(e["not_after"]),
                )
            )
        elif e["op"] == "revoke":
            since = e["invalid_since"]
            self._revoked[ca][serial] = RevocationRecord(
                ca,
                serial,
                x509.ReasonFlags(e["reason"]),
                dt.datetime.fromisoformat(e["revoked_at"]),
                dt.datetime.fromisoformat(since) if since else None,
            )
        else:
            raise ValueError(f"unknown op {e['op']!r}")
