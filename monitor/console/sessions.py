"""Officials' sessions, in memory and bounded; the browser holds only a random id.

A session is made only at a sign-in (a fresh id: no fixation); it ends after ``idle`` without
a request, ``longest`` after the sign-in whatever happens, or at sign-out.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from hub.web import new_token
from monitor.console.officials import Role

__all__ = ["Session", "Sessions"]


@dataclass(slots=True)
class Session:
    id: str
    name: str
    role: Role
    csrf: str
    created: dt.datetime
    last_seen: dt.datetime


class Sessions:
    """id → session, least recently seen first (expiry and the cap evict from the front)."""

    def __init__(self, idle: dt.timedelta, longest: dt.timedelta, cap: int = 10_000) -> None:
        self.idle, self.longest, self._cap = idle, longest, cap
        self._items: dict[str, Session] = {}

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._items

    def create(self, name: str, role: Role, now: dt.datetime) -> Session:
        while self._items and len(self._items) >= self._cap:
            del self._items[next(iter(self._items))]
        session = Session(secrets.token_urlsafe(32), name, role, new_token(), now, now)
        self._items[session.id] = session
        return session

    def get(self, session_id: str | None, now: dt.datetime) -> Session | None:
        """The live session, touched; None (and removed when it expired)."""
        session = self._items.get(session_id) if session_id else None
        if session is None:
            return None
        if now - session.last_seen >= self.idle or now - session.created >= self.longest:
            del self._items[session.id]
            return None
        session.last_seen = max(now, session.last_seen)
        self._items[session.id] = self._items.pop(session.id)
        return session

    def alive(self, session: Session, now: dt.datetime) -> bool:
        """Is ``session`` still live at ``now``, without touching it (a live feed alone keeps
        no one signed in)?"""
        return (
            session.id in self._items
            and now - session.last_seen < self.idle
            and now - session.created < self.longest
        )

    def destroy(self, session_id: str | None) -> None:
        if session_id:
            self._items.pop(session_id, None)
