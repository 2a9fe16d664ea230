"""The oversight's pages: the anomaly alerts (seen by both roles, acknowledged by an auditor
only) and the access-record chain as the monitor verifies it continuously, each with a live
feed (Server-Sent Events) that tells the page when what it shows has changed.

An alert names offices, affairs, counts and record ids — the rules put nothing else into it
(``monitor/anomaly``) — so the page shows every fact as it is. Operators see the alerts (they
run the hub and must know of a spike or a break) but may not acknowledge one: that is the
oversight commission's judgement (``POST /alerts/ack`` is the auditor's; an operator's try is
refused with 403 and recorded).
"""

from __future__ import annotations

import hashlib
import json

from aiohttp import web

from hub.log import get_logger
from monitor.alerts import Alert
from monitor.chain import ChainState
from monitor.console.state import SESSION, console_of, read_form, record, render, see_other
from monitor.console.views import AUDITOR, BOTH, allow, feed
from monitor.exceptions import CONSOLE_NOT_FOUND, AlertError

__all__ = ["MAX_ALERTS", "acknowledge", "alert_events", "alerts", "chain", "chain_events"]

log = get_logger("monitor.console")
MAX_ALERTS = 200  # the newest alerts the page lists, open and acknowledged


async def _alerts(request: web.Request) -> list[Alert]:
    oversight = console_of(request).oversight
    return [] if oversight is None else await oversight.alerts.recent(MAX_ALERTS)


def _alerts_digest(found: list[Alert]) -> str:
    """Changes when an alert opens, repeats or is acknowledged."""
    text = "|".join(f"{a.id}:{a.count}:{a.acked_at}" for a in found)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _chain_digest(state: ChainState) -> str:
    return hashlib.sha256(json.dumps(state.as_json(), sort_keys=True).encode()).hexdigest()[:16]


@allow(BOTH)
async def alerts(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    await record(request, "view_alerts")
    found = await _alerts(request)
    return render(
        request,
        "alerts.html",
        running=console.oversight is not None,
        open_alerts=[a for a in found if a.open],
        acked=[a for a in found if not a.open],
        digest=_alerts_digest(found),
        may_ack=request[SESSION].role == "auditor",
    )


@allow(AUDITOR)
async def acknowledge(request: web.Request) -> web.StreamResponse:
    """An auditor's 「確認」: the alert closed under their name (``Oversight.acknowledge``);
    every try is recorded with its outcome, a refused one (malformed, unknown, acknowledged
    before) answered with its code."""
    console, session = console_of(request), request[SESSION]
    alert_id = (await read_form(request)).get("alert", "")
    shown = alert_id if len(alert_id) == 36 and alert_id.isprintable() else "?"
    if console.oversight is None:
        await record(request, "acknowledge", shown, CONSOLE_NOT_FOUND)
        raise web.HTTPNotFound(reason="no oversight runs in this console")
    try:
        alert = await console.oversight.acknowledge(
            alert_id,
            by=session.name,
            is_auditor=lambda name: name == session.name and session.role == "auditor",
        )
    except AlertError as exc:
        await record(request, "acknowledge", shown, exc.code)
        raise
    await record(request, "acknowledge", f"{alert.id} {alert.rule} {alert.subject}")
    log.info("alert.acknowledged", rule=alert.rule, subject=alert.subject, by=session.name)
    return see_other("/alerts")


@allow(BOTH)
async def chain(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    await record(request, "view_chain")
    state = console.oversight.chain_state if console.oversight is not None else None
    return render(
        request,
        "chain.html",
        state=state,
        every=console.oversight.chain.checkpoint_every if console.oversight else 0,
        digest=_chain_digest(state) if state is not None else "",
    )


@allow(BOTH)
async def alert_events(request: web.Request) -> web.StreamResponse:
    async def digest() -> dict[str, object]:
        return {"digest": _alerts_digest(await _alerts(request))}

    return await feed(request, "changed", digest)


@allow(BOTH)
async def chain_events(request: web.Request) -> web.StreamResponse:
    oversight = console_of(request).oversight

    async def digest() -> dict[str, object]:
        return {"digest": _chain_digest(oversight.chain_state) if oversight else ""}

    return await feed(request, "changed", digest)
