"""An office using its own broker credentials to send what no honest office would: poison
values, claimed headers, huge bodies, bodies that are not JSON. Each gets a clear error reply
(where there is a request to answer), one record, and a bounded dead letter with the reason."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import random
import uuid

import orjson
import pytest
from e2e_env import Env, RawOffice

from agencies.jlis.numbers import generate_rrc
from hub.bus import (
    BODY_SHA256_HEADER,
    BODY_SIZE_HEADER,
    DEAD_LETTER_MAX_BODY,
    QUEUE_HEADER,
    REASON_HEADER,
    USER_HEADER,
    Delivery,
)
from hub.routing.finish import record_key
from hub.wire import Envelope, Failed, Query, encode, new_traceparent
from renkei.network import Network

CHILD, TAX = "chiyoda-child", "chiyoda-tax"


async def dead_letter_of(dead: asyncio.Queue[Delivery], message_id: str) -> Delivery:
    """The dead letter of ``message_id`` (others, e.g. leftovers of earlier tests, are passed)."""
    async with asyncio.timeout(10):
        while True:
            letter = await dead.get()
            if letter.message_id == message_id:
                return letter


async def refused_once(
    env: Env, net: Network, child: RawOffice, mid: str, code: str
) -> tuple[Failed, Delivery]:
    """The one error reply to request ``mid`` and its one access record; its dead letter."""
    reply = await child.reply()
    assert isinstance(reply.outcome, Failed), reply.outcome
    assert (reply.outcome.family, reply.outcome.code) == ("requester", code)
    assert str(reply.envelope.correlation_id) == mid
    await child.no_more_replies(0.3)
    assert net.records is not None
    key = record_key(CHILD, uuid.UUID(mid))
    assert await net.records.exists([key]) == {key}
    return reply.outcome, await dead_letter_of(await env.dead_letters(net), mid)


@pytest.mark.parametrize(
    "kind", ["x" * 3000, "a\x00b", "\x00" * 3000], ids=["3000-characters", "nul", "3000-nuls"]
)
async def test_a_poison_kind_is_answered_recorded_once_and_dead_lettered(
    env: Env, kind: str
) -> None:
    """The explanation quoted the kind as sent: longer than an outcome's reason may be, or with
    a NUL the access record refuses. The handler failed six times; the office got nothing."""
    net = await env.network()
    child = await env.raw(net, CHILD)
    assert net.records is not None
    before = await net.records.count()
    mid = str(uuid.uuid4())
    await child.send(orjson.dumps({"kind": kind}), message_id=mid)
    outcome, letter = await refused_once(env, net, child, mid, "wire.malformed")
    assert "found using 'kind' does not match" in outcome.reason
    assert "\x00" not in outcome.reason and len(outcome.reason) < 1000
    assert letter.headers[REASON_HEADER].startswith("wire.malformed: ")  # not delivery_limit
    assert await net.records.count() == before + 1


async def test_a_dead_letter_names_the_office_the_broker_vouched_for(env: Env) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    mid = str(uuid.uuid4())
    claims = {USER_HEADER: TAX, REASON_HEADER: "nothing", QUEUE_HEADER: "elsewhere"}
    await child.send(b'{"kind": "query", oops', message_id=mid, headers=claims)
    _, letter = await refused_once(env, net, child, mid, "wire.malformed")
    assert letter.headers[USER_HEADER] == CHILD  # the broker's user_id, not the claim
    assert letter.headers[REASON_HEADER].startswith("wire.malformed: ")
    assert letter.headers[QUEUE_HEADER] == "hub.requests"


async def test_an_8_mib_request_is_refused_and_only_its_head_is_kept(env: Env) -> None:
    """Eight of these whole would fill the dead queue's 1 GiB."""
    net = await env.network()
    child = await env.raw(net, CHILD)
    body = b'{"kind": "query", "pad": "' + b"p" * (8 * 1024 * 1024) + b'"}'
    mid = str(uuid.uuid4())
    await child.send(body, message_id=mid)
    outcome, letter = await refused_once(env, net, child, mid, "wire.too_large")
    assert str(len(body)) in outcome.reason
    assert letter.body == body[:DEAD_LETTER_MAX_BODY]
    assert letter.headers[BODY_SIZE_HEADER] == str(len(body))
    assert letter.headers[BODY_SHA256_HEADER] == hashlib.sha256(body).hexdigest()
    assert letter.headers[USER_HEADER] == CHILD


@pytest.mark.parametrize("content_type", ["text/plain", None], ids=["text", "none"])
async def test_a_body_that_is_not_said_to_be_json_is_refused(
    env: Env, content_type: str | None
) -> None:
    """A well-formed, signed query: refused for its content type alone, before it is parsed."""
    net = await env.network()
    child = await env.raw(net, CHILD)
    now, qid = dt.datetime.now(dt.UTC), uuid.uuid4()
    q = Query(
        envelope=Envelope(
            message_id=qid,
            correlation_id=qid,
            sender=CHILD,
            recipient=TAX,
            affair="child_allowance",
            issued_at=now,
            deadline=now + dt.timedelta(seconds=5),
            traceparent=new_traceparent(),
        ),
        person=env.token(generate_rrc(random.Random(71)), CHILD),
        items=("local_tax",),
        params={"fiscal_year": 2024},
    )
    mid = str(qid)
    await child.send(encode(q), message_id=mid, content_type=content_type)
    outcome, letter = await refused_once(env, net, child, mid, "wire.content_type")
    assert "application/json" in outcome.reason
    assert letter.headers[REASON_HEADER].startswith("wire.content_type: ")
    assert letter.content_type == content_type  # kept as it came
