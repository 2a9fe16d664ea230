"""Server-side sessions, in memory and bounded; the browser holds only a random id.

A session is made only after a card login (so its id is always fresh: no fixation), ends after
``ttl`` without a request, when the resident logs out, or when the certificate it was opened
with stops passing the checker. It also holds the applications waiting for the card's signature.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from portal.model import ApplicationKind, CheckedCertificate

__all__ = ["MAX_PENDING", "Lookup", "Pending", "Session", "SessionStore"]

MAX_PENDING = 20


@dataclass(slots=True)
class Pending:
    """An application built and waiting for (or retrying after) the card's signature."""

    application_id: UUID
    kind: ApplicationKind
    form: dict[str, str]
    document: bytes
    created: dt.datetime
    signed: bytes | None = None  # kept when the office was unavailable, for a retry


@dataclass(slots=True)
class Session:
    id: str
    person: str
    serial: int
    der: bytes
    csrf: str
    created: dt.datetime
    last_seen: dt.datetime
    checked_at: dt.datetime
    pending: dict[str, Pending] = field(default_factory=dict)
    name: str = ""  # as the resident register holds it, to greet them ("" when unknown)

    def add_pending(self, pending: Pending) -> None:
        while len(self.pending) >= MAX_PENDING:
            del self.pending[next(iter(self.pending))]
        self.pending[str(pending.application_id)] = pending


Lookup = Session | Literal["unknown", "expired"]


class SessionStore:
    """id → session. Least recently seen first, so expiry and the cap evict from the front."""

    def __init__(self, ttl: dt.timedelta, cap: int = 100_000) -> None:
        self.ttl = ttl
        self._cap = cap
        self._items: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._items

    def create(self, person: str, certificate: CheckedCertificate, now: dt.datetime) -> Session:
        self._evict(now)
        session_id = secrets.token_urlsafe(32)
        while session_id in self._items:  # pragma: no cover - 256 random bits
            session_id = secrets.token_urlsafe(32)
        session = Session(
            id=session_id,
            person=person,
            serial=certificate.serial,
            der=certificate.der,
            csrf=secrets.token_urlsafe(32),
            created=now,
            last_seen=now,
            checked_at=now,
        )
        self._items[session_id] = session
        return session

    def get(self, session_id: str | None, now: dt.datetime) -> Lookup:
        """The live session, touched; "expired" (and removed) or "unknown"."""
        session = self._items.get(session_id) if session_id else None
        if session is None:
            return "unknown"
        if now - session.last_seen >= self.ttl:
            del self._items[session.id]
            return "expired"
        session.last_seen = max(now, session.last_seen)
        self._items[session.id] = self._items.pop(session.id)  # to the back: most recent
        return session

    def by_pending(self, pending_id: str, now: dt.datetime) -> Lookup:
        """The session an application waiting for its signature belongs to: the bridge posts
        the signature back from another site, without the session cookie; the pending id (122
        random bits, one use, one session) is what it brings. A scan: signing is rare."""
        if not pending_id:
            return "unknown"
        for session in self._items.values():
            if pending_id in session.pending:
                return self.get(session.id, now)
        return "unknown"

    def destroy(self, session_id: str | None) -> bool:
        return self._items.pop(session_id, None) is not None if session_id else False

    def _evict(self, now: dt.datetime) -> None:
        while self._items:
            oldest = next(iter(self._items.values()))
            if now - oldest.last_seen < self.ttl and len(self._items) < self._cap:
                break
            del self._items[oldest.id]
