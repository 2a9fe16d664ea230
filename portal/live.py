"""``GET /events``: the resident's live feed as Server-Sent Events.

The backend's queue for the logged-in person is relayed as ``event: access`` and
``event: notice`` with a JSON ``data`` line (the same fields as the pages' rows) — but not the
records of the portal's own look-ups (the resident's login and pages: the live alert is for
offices' accesses; they are listed apart on やりとり履歴) — with a
``: heartbeat`` comment when nothing happened for ``heartbeat`` seconds. Between events the
stream checks that the session still lives (logout, idle expiry, a revoked certificate end it)
and it always unsubscribes when it ends, the browser having gone away or not.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from hub.log import get_logger
from portal.exceptions import LoginRefused, Unavailable
from portal.model import AccessEntry, NoticeEntry
from portal.present import access_row, notice_row
from portal.sessions import Session
from portal.state import portal_of, session_of

__all__ = ["encode_event", "events"]

log = get_logger("portal.live")


def encode_event(item: AccessEntry | NoticeEntry) -> bytes:
    if isinstance(item, AccessEntry):
        name, data = "access", access_row(item)
    else:
        name, data = "notice", notice_row(item)
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _still_valid(request: web.Request, session: Session) -> bool:
    portal = portal_of(request)
    now = portal.clock()
    if session.id not in portal.sessions:  # logged out, or evicted
        return False
    if now - session.last_seen >= portal.sessions.ttl:  # the stream alone keeps no one in
        portal.sessions.destroy(session.id)
        return False
    if now - session.checked_at >= portal.recheck:
        try:
            await portal.checker.check(session.der, now)
        except LoginRefused:
            portal.sessions.destroy(session.id)
            log.info("session ended", reason="certificate refused")
            return False
        except Unavailable:
            log.warning("live feed ended", reason="certificate status unavailable")
            return False
        session.checked_at = now
    return True


async def events(request: web.Request) -> web.StreamResponse:
    portal, session = portal_of(request), session_of(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "X-Accel-Buffering": "no",
        }
    )
    queue = portal.backend.subscribe(session.person)
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n\n")
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), portal.heartbeat)
            except TimeoutError:
                if not await _still_valid(request, session):
                    break
                await response.write(b": heartbeat\n\n")
                continue
            if not await _still_valid(request, session):
                break
            if isinstance(item, AccessEntry) and item.own:
                continue  # the resident's own doing: on the page, never an alert
            await response.write(encode_event(item))
    except (ConnectionResetError, ConnectionError):
        log.debug("live feed closed by the browser")
    finally:
        portal.backend.unsubscribe(session.person, queue)
    return response
