"""The console's alerts and record-chain pages: who sees them, who may acknowledge, what an
acknowledgement needs (an auditor, the console's origin, the session's CSRF token, a
well-formed id of an open alert) — each refusal with a clear status and recorded — and the
live feeds."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from console_fakes import PUBLIC, Env, start

from monitor.exceptions import (
    CONSOLE_CROSS_SITE,
    CONSOLE_FORBIDDEN,
    AlreadyAcknowledged,
    BadAck,
    UnknownAlert,
)


async def _ack(env: Env, alert_id: str, **headers: str) -> tuple[int, str]:
    form = {"csrf": env.csrf(), "alert": alert_id}
    response = await env.client.post(
        "/alerts/ack", data=form, headers={"Origin": PUBLIC, **headers}, allow_redirects=False
    )
    return response.status, await response.text()


async def test_an_auditor_sees_and_acknowledges(env: Env) -> None:
    alert_id = await env.raise_alert()
    other = await env.raise_alert("off_hours", "chiyoda-welfare")
    assert (await env.sign_in("aud")).status == 303
    page = await env.client.get("/alerts")
    text = await page.text()
    assert page.status == 200
    assert f'data-id="{alert_id}"' in text and f'data-id="{other}"' in text
    assert "11111111-2222-3333-4444-555555555555" in text  # the record ids of the finding
    assert 'action="/alerts/ack"' in text and "確認" in text
    assert '<script src="/static/live.js"' in text and "<script>" not in text
    status, _ = await _ack(env, alert_id)
    assert status == 303
    alert = await env.oversight.alerts.get(alert_id)
    assert alert is not None and (alert.acked_by, alert.acked_at) == ("aud", env.clock())
    text = await (await env.client.get("/alerts")).text()
    acked = text.split('id="acked-alerts"')[1]
    assert alert_id in acked and "aud<br>2026-06-01 09:00:30" in acked
    assert other not in acked
    log = [(a.action, a.detail, a.outcome) for a in await env.actions.recent(10)]
    assert ("acknowledge", f"{alert_id} repeated_lookups chiyoda-child", "ok") in log
    # the next finding opens a new alert
    again = await env.raise_alert()
    assert again != alert_id


async def test_an_operator_sees_but_may_not_acknowledge(env: Env) -> None:
    alert_id = await env.raise_alert()
    assert (await env.sign_in("op")).status == 303
    text = await (await env.client.get("/alerts")).text()
    assert alert_id in text and 'action="/alerts/ack"' not in text
    assert 'href="/alerts"' in text and 'href="/chain"' in text
    status, body = await _ack(env, alert_id)
    assert status == 403 and CONSOLE_FORBIDDEN in body
    alert = await env.oversight.alerts.get(alert_id)
    assert alert is not None and alert.open
    last = (await env.actions.recent(1))[0]
    assert (last.official, last.action, last.outcome) == ("op", "refused", CONSOLE_FORBIDDEN)


@pytest.mark.parametrize(
    ("alert_id", "status", "code"),
    [
        ("", 400, BadAck.code),
        ("not-a-uuid", 400, BadAck.code),
        ("x" * 36, 400, BadAck.code),
        ("'; DROP TABLE monitor.alert; --" + " " * 5, 400, BadAck.code),
        ("0" * 36, 400, BadAck.code),
        ("\x00" * 36, 400, BadAck.code),
        ("01234567-89ab-cdef-0123-456789abcdef", 404, UnknownAlert.code),
    ],
)
async def test_malformed_or_forged_acknowledgements(
    env: Env, alert_id: str, status: int, code: str
) -> None:
    real = await env.raise_alert()
    assert (await env.sign_in("aud")).status == 303
    got, body = await _ack(env, alert_id)
    assert (got, code in body, "Traceback" in body) == (status, True, False)
    alert = await env.oversight.alerts.get(real)
    assert alert is not None and alert.open
    last = (await env.actions.recent(1))[0]
    assert (last.action, last.outcome) == ("acknowledge", code)
    assert last.detail in ("?", alert_id)


async def test_a_second_acknowledgement_is_refused(env: Env) -> None:
    alert_id = await env.raise_alert()
    assert (await env.sign_in("aud")).status == 303
    assert (await _ack(env, alert_id))[0] == 303
    first = await env.oversight.alerts.get(alert_id)
    env.clock.now += dt.timedelta(minutes=1)
    status, body = await _ack(env, alert_id)
    assert status == 409 and AlreadyAcknowledged.code in body
    assert await env.oversight.alerts.get(alert_id) == first  # unchanged


async def test_cross_site_and_unauthenticated_acknowledgements(env: Env) -> None:
    alert_id = await env.raise_alert()
    form = {"csrf": "x", "alert": alert_id}
    signed_out = await env.client.post("/alerts/ack", data=form, headers={"Origin": PUBLIC})
    assert signed_out.status == 401
    assert (await env.client.get("/alerts", allow_redirects=False)).status == 303
    assert (await env.client.get("/chain", allow_redirects=False)).status == 303
    for feed in ("/alerts/events", "/chain/events"):
        assert (await env.client.get(feed)).status == 401
    assert (await env.sign_in("aud")).status == 303
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}):
        status, body = await _ack(env, alert_id, **headers)
        assert status == 403 and CONSOLE_CROSS_SITE in body
    forged = await env.client.post(
        "/alerts/ack", data={"csrf": "forged", "alert": alert_id}, headers={"Origin": PUBLIC}
    )
    assert forged.status == 403
    no_token = await env.client.post("/alerts/ack", data={"alert": alert_id}, headers={})
    assert no_token.status == 403
    big = await env.client.post(
        "/alerts/ack", data={"alert": "x" * 100_000}, headers={"Origin": PUBLIC}
    )
    assert big.status == 413
    long = await env.client.post(
        "/alerts/ack", data={"csrf": env.csrf(), "alert": "x" * 300}, headers={"Origin": PUBLIC}
    )
    assert long.status == 400
    as_json = await env.client.post(
        "/alerts/ack",
        data=json.dumps({"alert": alert_id}).encode(),
        headers={"Origin": PUBLIC, "Content-Type": "application/json"},
    )
    assert as_json.status == 415
    alert = await env.oversight.alerts.get(alert_id)
    assert alert is not None and alert.open
    refused = [a for a in await env.actions.recent(20) if a.outcome == CONSOLE_CROSS_SITE]
    assert len(refused) == 4
    assert (await env.client.get("/alerts/ack")).status == 405


async def test_the_chain_page(env: Env) -> None:
    assert (await env.sign_in("op")).status == 303
    text = await (await env.client.get("/chain")).text()
    assert "not verified yet" in text  # no check ran yet
    await env.oversight.check()
    text = await (await env.client.get("/chain")).text()
    assert 'class="verdict intact"' in text and "Intact: verified up to record 0" in text
    assert '<script src="/static/live.js"' in text
    assert "view_chain" in [a.action for a in await env.actions.recent(5)]


async def test_the_chain_page_shows_a_break(env: Env) -> None:
    from dataclasses import replace

    env.oversight.chain.state = replace(
        env.oversight.chain.state,
        checked_at=env.clock(),
        broken_at=7,
        problem="hash_mismatch",
        detail="record 7's hash does not match its content",
    )
    assert (await env.sign_in("aud")).status == 303
    text = await (await env.client.get("/chain")).text()
    assert 'class="verdict broken"' in text and "BROKEN at record 7: hash_mismatch" in text
    assert "record 7&#39;s hash does not match" in text


async def test_the_feeds_change_with_what_they_show(env: Env) -> None:
    async def digest(path: str) -> str:
        async with env.client.get(path) as feed:
            while not (line := await feed.content.readline()).startswith(b"data: "):
                pass
        return str(json.loads(line[6:])["digest"])

    assert (await env.sign_in("aud")).status == 303
    page = await (await env.client.get("/alerts")).text()
    m = re.search(r'data-digest="([0-9a-f]+)"', page)
    assert m is not None and await digest("/alerts/events") == m.group(1)
    alert_id = await env.raise_alert()
    assert await digest("/alerts/events") != m.group(1)
    before = await digest("/alerts/events")
    await env.raise_alert()  # the same alert again: its count moves
    after = await digest("/alerts/events")
    assert after != before
    assert (await _ack(env, alert_id))[0] == 303
    assert await digest("/alerts/events") != after
    chain_before = await digest("/chain/events")
    await env.oversight.check()
    assert await digest("/chain/events") != chain_before


async def test_without_oversight() -> None:
    async for env in start(oversight=None):
        assert (await env.sign_in("aud")).status == 303
        text = await (await env.client.get("/alerts")).text()
        assert 'id="not-running"' in text
        assert "no oversight runs" in await (await env.client.get("/chain")).text()
        status, _ = await _ack(env, "01234567-89ab-cdef-0123-456789abcdef")
        assert status == 404
