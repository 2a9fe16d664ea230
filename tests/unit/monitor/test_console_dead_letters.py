"""The console's dead-letter pages: the operator sees each message's reason and sender,
never its body; a replay needs the operator's role, the console's origin, the session's CSRF
token and the confirmation, and is recorded; a copy is shown but not replayable; a second
replay finds nothing; bad input is a clear 4xx."""

from __future__ import annotations

import dataclasses

import pytest
from console_fakes import PUBLIC, Env, start

from hub.bus import DEAD_QUEUE
from monitor.deadletters import DeadLetter
from monitor.exceptions import (
    CONSOLE_BAD_REQUEST,
    CONSOLE_CROSS_SITE,
    CONSOLE_FORBIDDEN,
    NoDeadLetter,
    NotReplayable,
)


async def _replay(env: Env, message: str, **extra: str) -> tuple[int, str]:
    form = {"csrf": env.csrf(), "message": message, "confirm": "yes", **extra}
    response = await env.client.post(
        "/dead/replay", data=form, headers={"Origin": PUBLIC}, allow_redirects=False
    )
    return response.status, await response.text()


async def test_the_operator_sees_the_queue_without_bodies(env: Env) -> None:
    await env.dead_query("q-dead-1")
    await env.dead_copy("q-copy-1")
    assert (await env.sign_in("op")).status == 303
    page = await env.client.get("/dead")
    text = await page.text()
    assert page.status == 200
    row = text.split('data-id="q-dead-1"')[1].split("</tr>")[0]
    for shown in ("delivery_limit", "hub.requests", "renkei.hub", "query", "chiyoda-child"):
        assert shown in row
    assert 'href="/dead/replay?message=q-dead-1"' in row
    copy = text.split('data-id="q-copy-1"')[1].split("</tr>")[0]
    assert "wire.malformed" in copy and "not dead-lettered by the broker" in copy
    assert "says it came from chiyoda-child" in copy and "/dead/replay" not in copy
    assert '{"query": 1}' not in text and "&#34;query&#34;" not in text  # never a body
    assert env.broker.depth(DEAD_QUEUE) == 2  # looking takes nothing
    assert "view_dead_letters" in [a.action for a in await env.actions.recent(3)]


async def test_confirm_then_replay(env: Env) -> None:
    await env.dead_query("q-dead-1")
    assert (await env.sign_in("op")).status == 303
    confirm = await env.client.get("/dead/replay?message=q-dead-1")
    text = await confirm.text()
    assert confirm.status == 200
    assert "as chiyoda-child" in text and 'name="confirm" value="yes"' in text
    hub = await env.hub_takes()
    form = {"csrf": env.csrf(), "message": "q-dead-1", "confirm": "yes"}
    done = await env.client.post(
        "/dead/replay", data=form, headers={"Origin": PUBLIC}, allow_redirects=False
    )
    assert (done.status, done.headers["Location"]) == (303, "/dead?replayed=q-dead-1")
    page = await (await env.client.get(done.headers["Location"])).text()
    assert 'id="replayed"' in page and "q-dead-1" in page
    (again,) = hub
    assert (again.user_id, again.message_id, again.body) == (
        "chiyoda-child",
        "q-dead-1",
        b'{"query": 1}',
    )
    assert env.broker.depth(DEAD_QUEUE) == 0
    log = [(a.action, a.detail, a.outcome) for a in await env.actions.recent(5)]
    assert ("replay", "q-dead-1 as chiyoda-child to renkei.hub query", "ok") in log
    # a second replay (a double click, another operator) finds nothing
    status, body = await _replay(env, "q-dead-1")
    assert status == 404 and NoDeadLetter.code in body
    assert len(hub) == 1
    assert (await env.client.get("/dead/replay?message=q-dead-1")).status == 404


async def test_a_copy_is_refused(env: Env) -> None:
    await env.dead_copy("q-copy-1")
    assert (await env.sign_in("op")).status == 303
    status, body = await _replay(env, "q-copy-1")
    assert status == 409 and NotReplayable.code in body
    assert env.broker.depth(DEAD_QUEUE) == 1
    last = (await env.actions.recent(1))[0]
    assert (last.action, last.detail, last.outcome) == ("replay", "q-copy-1", NotReplayable.code)


async def test_an_auditor_may_not_replay_nor_look(env: Env) -> None:
    await env.dead_query("q-dead-1")
    assert (await env.sign_in("aud")).status == 303
    for path in ("/dead", "/dead/replay?message=q-dead-1"):
        response = await env.client.get(path)
        assert response.status == 403 and CONSOLE_FORBIDDEN in await response.text()
    status, _ = await _replay(env, "q-dead-1")
    assert status == 403
    assert env.broker.depth(DEAD_QUEUE) == 1
    assert 'href="/dead"' not in await (await env.client.get("/stats")).text()


async def test_unauthenticated_and_cross_site(env: Env) -> None:
    await env.dead_query("q-dead-1")
    assert (await env.client.get("/dead", allow_redirects=False)).status == 303
    form = {"csrf": "x", "message": "q-dead-1", "confirm": "yes"}
    assert (
        await env.client.post("/dead/replay", data=form, headers={"Origin": PUBLIC})
    ).status == 401
    assert (await env.sign_in("op")).status == 303
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {}):
        response = await env.client.post(
            "/dead/replay", data={**form, "csrf": env.csrf()}, headers=headers
        )
        assert response.status == 403 and CONSOLE_CROSS_SITE in await response.text()
    forged = await env.client.post("/dead/replay", data=form, headers={"Origin": PUBLIC})
    assert forged.status == 403
    assert env.broker.depth(DEAD_QUEUE) == 1


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"message": "q-dead-1", "confirm": ""}, 400),  # not confirmed
        ({"message": "q-dead-1"}, 400),
        ({"message": "q-dead-1", "confirm": "no"}, 400),
        ({"message": "", "confirm": "yes"}, 400),
        ({"message": "x" * 256, "confirm": "yes"}, 400),
        ({"message": "a\x00b", "confirm": "yes"}, 400),
        ({"message": "x" * 300, "confirm": "yes"}, 400),  # over a field's 256 characters
        ({"message": "no-such-message", "confirm": "yes"}, 404),
    ],
)
async def test_bad_replays(env: Env, form: dict[str, str], status: int) -> None:
    await env.dead_query("q-dead-1")
    assert (await env.sign_in("op")).status == 303
    response = await env.client.post(
        "/dead/replay", data={"csrf": env.csrf(), **form}, headers={"Origin": PUBLIC}
    )
    text = await response.text()
    assert response.status == status and "Traceback" not in text
    assert CONSOLE_BAD_REQUEST in text or NoDeadLetter.code in text
    assert env.broker.depth(DEAD_QUEUE) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/dead/replay",
        "/dead/replay?message=",
        "/dead/replay?message=" + "x" * 256,
        "/dead/replay?message=%00",
        "/dead/replay?message=" + "x" * 1100,
        "/dead?replayed=%00",
        "/dead?replayed=" + "x" * 256,
        "/dead?x=" + "y" * 1100,
    ],
)
async def test_bad_confirmations(env: Env, path: str) -> None:
    assert (await env.sign_in("op")).status == 303
    response = await env.client.get(path)
    assert response.status == 400 and CONSOLE_BAD_REQUEST in await response.text()


async def test_oversized_and_non_form_bodies(env: Env) -> None:
    assert (await env.sign_in("op")).status == 303
    big = await env.client.post(
        "/dead/replay", data={"message": "x" * 100_000}, headers={"Origin": PUBLIC}
    )
    assert big.status == 413
    as_json = await env.client.post(
        "/dead/replay",
        data=b'{"message": "q"}',
        headers={"Origin": PUBLIC, "Content-Type": "application/json"},
    )
    assert as_json.status == 415


async def test_without_a_replayer() -> None:
    async for env in start(dead_letters=None):
        assert (await env.sign_in("op")).status == 303
        assert 'id="not-running"' in await (await env.client.get("/dead")).text()
        status, _ = await _replay(env, "q-dead-1")
        assert status == 404


class BundleLetters:
    """What ``DeadLetters`` says of a bundle the broker dead-lettered (two items, one label):
    its replay sends both (tests/integration/bus/test_bus_bundles.py)."""

    def __init__(self, name: str = "b-7f3a") -> None:
        self.name = name
        self.replayed: list[str] = []

    def _letter(self, message_id: str) -> DeadLetter:
        return DeadLetter(
            message_id=message_id,
            reason="expired",
            queue="office.chiyoda-child.in",
            user_id="hub",
            by_broker=True,
            exchange="renkei.offices",
            routing_key="office.chiyoda-child.in",
            count=1,
            at=None,
            size=600,
            claimed_sender=None,
            refusal=None,
            bundle=self.name,
            bundle_items=2,
        )

    async def look(self, limit: int = 200) -> list[DeadLetter]:
        return [self._letter(m) for m in ("q-1", "q-2")[:limit]]

    async def replay(self, message_id: str) -> DeadLetter:
        self.replayed.append(message_id)
        return self._letter(message_id)


@pytest.mark.parametrize("name", ["b-7f3a", ""])
async def test_a_bundles_items_are_shown_and_replayed_together(name: str) -> None:
    """The bundle's id is its publisher's choice, and may be none (""): its items are still
    replayed together, so the page, the confirmation and the action log must say so."""
    letters = BundleLetters(name=name)
    async for env in start(dead_letters=letters):
        assert (await env.sign_in("op")).status == 303
        text = await (await env.client.get("/dead")).text()
        row = text.split('data-id="q-2"')[1].split("</tr>")[0]
        shown = name or "(no id)"
        assert f"one of 2 in bundle <code>{shown}</code>, replayed together" in row
        confirm = await (await env.client.get("/dead/replay?message=q-1")).text()
        assert 'id="bundle"' in confirm and "all 2 of its messages" in confirm
        assert (await _replay(env, "q-1"))[0] == 303
        assert letters.replayed == ["q-1"]
        log = [(a.action, a.detail) for a in await env.actions.recent(5)]
        detail = "q-1 and the 1 other(s) of its bundle as hub to renkei.offices"
        assert ("replay", f"{detail} office.chiyoda-child.in") in log


async def test_the_confirmation_shows_the_message_the_replay_sends() -> None:
    """Two dead letters with one id (an office's, which may not be replayed, listed first):
    the replay sends the one that may be (``DeadLetters.replay``), so the page shows that."""
    letters = BundleLetters()
    forged = dataclasses.replace(
        letters._letter("q-1"), user_id="a", bundle=None, bundle_items=1, refusal="no"
    )
    look = letters.look

    async def both(limit: int = 200) -> list[DeadLetter]:
        return [forged, *await look(limit)][:limit]

    letters.look = both  # type: ignore[method-assign]
    async for env in start(dead_letters=letters):
        assert (await env.sign_in("op")).status == 303
        confirm = await (await env.client.get("/dead/replay?message=q-1")).text()
        assert "Replay as hub" in confirm and 'id="bundle"' in confirm
