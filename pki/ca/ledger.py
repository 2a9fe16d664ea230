"""The CA's ledger: which serials it issued, to which holder, and which it revoked.

No personal data: a record is (CA, serial, holder digest, validity); beside it, the digest
of the 住民票コード that the 市町村長's issuance application gave for a holder
(``codes``: J-LIS's 異動等失効情報 names the resident by it), the ids of the
notices applied (``notices``), and the digest of each issuance request with the serial and
subject id it got (``requests``: asked again, even after a restart, the CA makes the same
certificate again rather than a second one). A digest is an HMAC under the CA's own key, so the
ledger cannot be joined with any other data set, and the serial (random, 159 bits)
is never derived from the person.

Kept in memory, optionally backed by an SQLite database (``ledger.sqlite3``, mode 0600, WAL,
``synchronous=FULL``) that is read on open. Each record is one transaction, durable before the
call returns; a crash, even in the middle of a write, leaves every record that was
acknowledged and nothing half-written (SQLite rolls the interrupted transaction back on the
next open), so the CA starts again and appends after it. A row that is not a ledger entry
refuses to start.

A journal of JSON lines from an earlier version (``ledger.jsonl``) is imported once, in one
transaction, and renamed ``ledger.jsonl.imported``. A torn last line is skipped (never
acknowledged), and so is a torn line that a later entry was appended onto (the entry is kept:
the old journal's failure to restart); any other malformed line refuses to start.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from pki.exceptions import StateError
from pki.profiles import CaName

__all__ = ["CertRecord", "Ledger", "RequestRecord", "RevocationRecord"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS issued (
    ca TEXT NOT NULL, serial TEXT NOT NULL, holder TEXT NOT NULL,
    not_before TEXT NOT NULL, not_after TEXT NOT NULL,
    PRIMARY KEY (ca, serial)
);
CREATE TABLE IF NOT EXISTS revoked (
    ca TEXT NOT NULL, serial TEXT NOT NULL, reason TEXT NOT NULL,
    revoked_at TEXT NOT NULL, invalid_since TEXT,
    PRIMARY KEY (ca, serial)
);
CREATE TABLE IF NOT EXISTS codes (
    code TEXT NOT NULL, holder TEXT NOT NULL, PRIMARY KEY (code, holder)
);
CREATE TABLE IF NOT EXISTS notices (event TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS requests (
    digest TEXT PRIMARY KEY, ca TEXT NOT NULL, serial TEXT NOT NULL, subject_id TEXT NOT NULL
);
"""
_ISSUE = "INSERT {}INTO issued VALUES (:ca, :serial, :holder, :not_before, :not_after)"
_REVOKE = "INSERT {}INTO revoked VALUES (:ca, :serial, :reason, :revoked_at, :invalid_since)"
_REQUEST = "INSERT INTO requests VALUES (:digest, :ca, :serial, :subject_id)"
_ENTRY_START = b'{"op":'


@dataclass(frozen=True, slots=True)
class CertRecord:
    ca: CaName
    serial: int
    holder: str  # HMAC digest, hex
    not_before: dt.datetime
    not_after: dt.datetime


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """Which certificate an issuance request got: the request's digest (an HMAC under the CA's
    key, as the holder's), and the certificate's serial and subject id."""

    digest: str
    ca: CaName
    serial: int
    subject_id: str


@dataclass(frozen=True, slots=True)
class RevocationRecord:
    ca: CaName
    serial: int
    reason: x509.ReasonFlags
    revoked_at: dt.datetime
    invalid_since: dt.datetime | None  # when the change took effect, if before revoked_at


class Ledger:
    def __init__(self, path: Path | None = None, *, journal: Path | None = None) -> None:
        """In memory only, or kept in the SQLite database ``path``; ``journal``: an earlier
        version's JSON-lines journal, imported into ``path`` if it is there."""
        self._certs: dict[tuple[CaName, int], CertRecord] = {}
        self._holders: dict[str, list[CertRecord]] = {}
        self._revoked: dict[CaName, dict[int, RevocationRecord]] = {c: {} for c in CaName}
        self._codes: dict[str, set[str]] = {}  # code digest → holder digests
        self._coded: set[str] = set()  # holder digests with a code on file
        self._notices: set[str] = set()
        self._requests: dict[str, RequestRecord] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = _connect(path)
            if journal is not None and journal.exists():
                _import(self._db, journal)
            self._load(path)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __len__(self) -> int:
        return len(self._certs)

    def add(self, rec: CertRecord, request: RequestRecord | None = None) -> None:
        """A certificate issued, and the request it answers (one transaction)."""
        if self._db is not None:
            with _transaction(self._db):
                self._db.execute(_ISSUE.format(""), _issue_row(rec))
                if request is not None:
                    self._db.execute(_REQUEST, _request_row(request))
        self._index(rec)
        if request is not None:
            self._requests[request.digest] = request

    def requested(self, digest: str) -> RequestRecord | None:
        """The certificate issued for the request of this digest, if any."""
        return self._requests.get(digest)

    def link_code(self, code: str, holder: str) -> None:
        """Keep that the holder (digest) is the resident with this code (digest)."""
        if holder in self._codes.get(code, ()):
            return
        if self._db is not None:
            self._db.execute("INSERT OR IGNORE INTO codes VALUES (?, ?)", (code, holder))
        self._codes.setdefault(code, set()).add(holder)
        self._coded.add(holder)

    def holders_of_code(self, code: str) -> list[str]:
        return sorted(self._codes.get(code, ()))

    def has_code(self, holder: str) -> bool:
        """Whether an issuance application gave the holder's (digest) 住民票コード."""
        return holder in self._coded

    def notice_applied(self, event: str) -> bool:
        return event in self._notices

    def mark_notice(self, event: str) -> None:
        if self._db is not None:
            self._db.execute("INSERT OR IGNORE INTO notices VALUES (?)", (event,))
        self._notices.add(event)

    def revoke(self, rev: RevocationRecord) -> tuple[RevocationRecord, bool]:
        """Record a revocation; a second one of the same serial keeps the first (idempotent)."""
        existing = self._revoked[rev.ca].get(rev.serial)
        if existing is not None:
            return existing, False
        if self._db is not None:
            self._db.execute(_REVOKE.format(""), _revoke_row(rev))
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

    def _load(self, path: Path) -> None:
        assert self._db is not None
        db = self._db
        try:
            for row in db.execute("SELECT * FROM issued ORDER BY rowid"):
                self._index(_cert(row))
            for row in db.execute("SELECT * FROM revoked ORDER BY rowid"):
                rev = _revocation(row)
                self._revoked[rev.ca][rev.serial] = rev
            for row in db.execute("SELECT code, holder FROM codes"):
                self._codes.setdefault(str(row["code"]), set()).add(str(row["holder"]))
                self._coded.add(str(row["holder"]))
            self._notices.update(str(r["event"]) for r in db.execute("SELECT event FROM notices"))
            for row in db.execute("SELECT * FROM requests"):
                self._requests[str(row["digest"])] = _request(row)
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"{path}: a row is not a ledger entry ({exc})") from None


def _connect(path: Path) -> sqlite3.Connection:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # SQLite's files take this mode
    try:
        # autocommit: every statement is its own transaction, committed before it returns
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # the WAL is fsync'd at every commit
        db.executescript(_SCHEMA)
    except sqlite3.DatabaseError as exc:
        raise StateError(f"{path} is not a ledger database ({exc})") from None
    return db


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """Its statements committed together or not at all (the connection autocommits)."""
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _request_row(req: RequestRecord) -> dict[str, str]:
    return {
        "digest": req.digest,
        "ca": req.ca.value,
        "serial": f"{req.serial:x}",
        "subject_id": req.subject_id,
    }


def _request(e: Any) -> RequestRecord:
    return RequestRecord(
        str(e["digest"]), CaName(e["ca"]), int(e["serial"], 16), str(e["subject_id"])
    )


def _issue_row(rec: CertRecord) -> dict[str, str]:
    return {
        "ca": rec.ca.value,
        "serial": f"{rec.serial:x}",
        "holder": rec.holder,
        "not_before": rec.not_before.isoformat(),
        "not_after": rec.not_after.isoformat(),
    }


def _revoke_row(rev: RevocationRecord) -> dict[str, str | None]:
    return {
        "ca": rev.ca.value,
        "serial": f"{rev.serial:x}",
        "reason": rev.reason.value,
        "revoked_at": rev.revoked_at.isoformat(),
        "invalid_since": rev.invalid_since.isoformat() if rev.invalid_since else None,
    }


def _cert(e: Any) -> CertRecord:
    return CertRecord(
        CaName(e["ca"]),
        int(e["serial"], 16),
        str(e["holder"]),
        dt.datetime.fromisoformat(e["not_before"]),
        dt.datetime.fromisoformat(e["not_after"]),
    )


def _revocation(e: Any) -> RevocationRecord:
    since = e["invalid_since"]
    return RevocationRecord(
        CaName(e["ca"]),
        int(e["serial"], 16),
        x509.ReasonFlags(e["reason"]),
        dt.datetime.fromisoformat(e["revoked_at"]),
        dt.datetime.fromisoformat(since) if since else None,
    )


def _import(db: sqlite3.Connection, journal: Path) -> None:
    """The old journal's entries into the database, in one transaction (an import cut short
    is done again: rows already there are kept), then the journal renamed."""
    records = list(_journal_records(journal))
    db.execute("BEGIN IMMEDIATE")
    try:
        for r in records:
            if isinstance(r, CertRecord):
                db.execute(_ISSUE.format("OR IGNORE "), _issue_row(r))
            else:
                db.execute(_REVOKE.format("OR IGNORE "), _revoke_row(r))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    journal.rename(journal.with_name(journal.name + ".imported"))


def _journal_records(journal: Path) -> Iterator[CertRecord | RevocationRecord]:
    lines = journal.read_bytes().split(b"\n")
    if lines and lines[-1]:
        lines = lines[:-1]  # a torn write at a crash: the entry was never acknowledged
    for n, line in enumerate(lines, 1):
        if not line:
            continue
        # a torn write that the next entry was appended onto: only the last piece is an entry
        last = line.rfind(_ENTRY_START)
        piece = line[last:] if last > 0 and line.startswith(_ENTRY_START) else line
        try:
            yield _journal_record(json.loads(piece))
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"{journal}: line {n} is not a ledger entry ({exc})") from None


def _journal_record(e: dict[str, Any]) -> CertRecord | RevocationRecord:
    if e["op"] == "issue":
        return _cert(e)
    if e["op"] == "revoke":
        return _revocation(e)
    raise ValueError(f"unknown op {e['op']!r}")
