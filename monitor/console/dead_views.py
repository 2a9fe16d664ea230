"""The operator's dead-letter pages: what waits in ``renkei.dead`` and why (never a body),
and the replay of one message — confirmed on a page of its own, then a POST (origin- and
CSRF-checked like every form), recorded in the action log with its outcome.

Only operators: they run the hub and decide when a failure is over and what is sent again;
an auditor's try is refused (403, recorded). What may be replayed at all is
``monitor.deadletters``' decision (only what the broker dead-lettered, as its vouched sender,
to an exchange that sender may write); the page shows why a message may not be.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from hub.log import get_logger
from monitor.console.params import MAX_QUERY, BadParam
from monitor.console.state import SESSION, console_of, read_form, record, render, see_other
from monitor.console.views import OPERATOR, allow
from monitor.deadletters import MAX_MESSAGE_ID, DeadLetter, DeadLetters
from monitor.exceptions import CONSOLE_BAD_REQUEST, DeadLetterError

__all__ = ["MAX_LISTED", "confirm", "dead", "replay"]

log = get_logger("monitor.console")
MAX_LISTED = 200  # the oldest messages the page lists


def _message_id(value: str) -> str:
    if not value or len(value) > MAX_MESSAGE_ID or not value.isprintable():
        raise BadParam("message", f"a message id of 1 to {MAX_MESSAGE_ID} printable characters")
    return value


def _service(request: web.Request) -> DeadLetters:
    service = console_of(request).dead_letters
    if service is None:
        raise web.HTTPNotFound(reason="the dead-letter queue is not read here (no replayer)")
    return service


@allow(OPERATOR)
async def dead(request: web.Request) -> web.StreamResponse:
    service = console_of(request).dead_letters
    if len(request.query_string) > MAX_QUERY:
        raise BadParam("query", f"at most {MAX_QUERY} characters")
    replayed = request.query.get("replayed", "")
    if replayed:  # just replayed (the POST's redirect says which)
        _message_id(replayed)
    await record(request, "view_dead_letters")
    found = await service.look(MAX_LISTED) if service is not None else []
    return render(
        request,
        "dead.html",
        running=service is not None,
        found=found,
        most=MAX_LISTED,
        replayed=replayed,
    )


async def _find(request: web.Request, message_id: str) -> DeadLetter | None:
    """The one a replay of ``message_id`` sends: the first that may be replayed, else the
    first (ids are their publishers' choice: several may wait)."""
    found = [d for d in await _service(request).look(MAX_LISTED) if d.message_id == message_id]
    return next((d for d in found if d.replayable), found[0] if found else None)


@allow(OPERATOR)
async def confirm(request: web.Request) -> web.StreamResponse:
    """The replay's confirmation: the message as the list shows it, and what will be sent."""
    if len(request.query_string) > MAX_QUERY:
        raise BadParam("query", f"at most {MAX_QUERY} characters")
    message_id = _message_id(request.query.get("message", ""))
    found = await _find(request, message_id)
    await record(request, "confirm_replay", message_id)
    if found is None:
        raise web.HTTPNotFound(reason=f"no message {message_id!r} waits in the dead-letter queue")
    return render(request, "replay.html", d=found)


@allow(OPERATOR)
async def replay(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    raw = form.get("message", "")
    shown = raw if raw and len(raw) <= MAX_MESSAGE_ID and raw.isprintable() else "?"
    if form.get("confirm") != "yes":
        await record(request, "replay", shown, CONSOLE_BAD_REQUEST)
        raise BadParam("confirm", "confirm the replay on its page first")
    message_id = _message_id(raw)
    service = _service(request)
    try:
        done = await service.replay(message_id)
    except DeadLetterError as exc:
        await record(request, "replay", message_id, exc.code)
        raise
    others = (
        f" and the {done.bundle_items - 1} other(s) of its bundle"
        if done.bundle is not None
        else ""
    )
    detail = f"{message_id}{others} as {done.user_id} to {done.exchange} {done.routing_key}"
    await record(request, "replay", detail)
    log.info("dead_letter.replay", by=request[SESSION].name, reason=done.reason, queue=done.queue)
    return see_other(f"/dead?replayed={quote(message_id, safe='')}")
