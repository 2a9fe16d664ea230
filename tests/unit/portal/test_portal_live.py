"""The live feed: Server-Sent Events fed by the backend's subscription."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from portal_fakes import PUBLIC, TARO, Env, access, start

from portal.live import encode_event
from portal.model import NoticeEntry


@pytest.fixture
async def fast() -> AsyncIterator[Env]:
    async for e in start(heartbeat=0.05):
        yield e


async def read_event(response: aiohttp.ClientResponse, name: str) -> dict[str, str]:
    event = ""
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 2)).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == name:
            data: dict[str, str] = json.loads(line.removeprefix("data: "))
            return data


async def wait_for(predicate: object, seconds: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not predicate():  # type: ignore[operator]
        assert loop.time() < end, "condition never came true"
        await asyncio.sleep(0.01)


async def open_feed(env: Env) -> aiohttp.ClientResponse:
    """Taro logged in, his live feed open and subscribed to the backend."""
    await env.login(TARO)
    response = await env.client.get("/events")
    await wait_for(lambda: env.backend.queues.get("tok-taro"))
    return response


async def test_access_pushed_by_the_backend_arrives_as_an_event(env: Env) -> None:
    await env.login(TARO)
    response = await env.client.get("/events")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert "object-src 'none'" in response.headers["Content-Security-Policy"]
    await wait_for(lambda: env.backend.queues.get("tok-taro"))
    entry = access("tok-taro", requester_name="日本年金機構")
    env.backend.push("tok-taro", entry)
    data = await asyncio.wait_for(read_event(response, "access"), 1.0)  # within a second
    assert data["record_id"] == str(entry.record_id)
    assert data["requester_name"] == "日本年金機構"
    assert data["outcome_label"] == "提供 (provided)"
    response.close()


async def test_notice_event_and_heartbeat_and_unsubscribe(fast: Env) -> None:
    env = fast
    response = await open_feed(env)
    heartbeat = await asyncio.wait_for(response.content.readuntil(b": heartbeat\n\n"), 2)
    assert heartbeat.endswith(b": heartbeat\n\n")
    env.backend.push(
        "tok-taro",
        NoticeEntry(uuid.uuid4(), env.clock.now, "o", "区", "件名", "本文"),
    )
    data = await read_event(response, "notice")
    assert data["title"] == "件名"
    response.close()
    await wait_for(lambda: not env.backend.queues["tok-taro"])


async def test_feed_ends_on_logout(fast: Env) -> None:
    env = fast
    response = await open_feed(env)
    token = await env.csrf()
    await env.client.post("/logout", data={"csrf": token}, headers={"Origin": PUBLIC})
    await asyncio.wait_for(response.read(), 2)  # the server closes the stream
    await wait_for(lambda: not env.backend.queues["tok-taro"])


async def test_feed_ends_when_the_certificate_is_revoked(fast: Env) -> None:
    env = fast
    response = await open_feed(env)
    env.checker.refused[TARO.serial] = "revoked"
    env.clock.shift(seconds=10)
    await asyncio.wait_for(response.read(), 2)
    await wait_for(lambda: not env.backend.queues["tok-taro"])
    assert (await env.client.get("/", allow_redirects=False)).status == 303


async def test_feed_needs_a_session(env: Env) -> None:
    response = await env.client.get("/events", allow_redirects=False)
    assert response.status == 401


def test_event_encoding_is_one_json_line() -> None:
    entry = access("x", affair="改行\nのある事務")
    raw = encode_event(entry).decode()
    assert raw.startswith("event: access\ndata: {")
    assert raw.endswith("}\n\n")
    assert raw.count("\n") == 3  # JSON escapes the newline in the data
