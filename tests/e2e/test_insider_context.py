"""A dishonest provider and the hub's routing context (issue 11: separation, part 1).

The context a forwarded query carries is sealed under a key only the hub holds
(``var/hub/context-key``). A provider's reply is taken only with a context the hub sealed, only
from the provider it was sealed for, and only once: here the tax office is played by hand
(``RawOffice`` with its own broker credentials and keys) and tries each way round that.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import secrets
import uuid

from e2e_env import Env, RawOffice, envelope

from agencies.jlis.numbers import generate_rrc
from hub.bus import REASON_HEADER, Delivery
from hub.routing.context import Context, ContextSealer
from hub.wire import (
    HUB,
    ForwardedQuery,
    NotFound,
    ProviderReply,
    Query,
    Refused,
    decode,
    encode,
)
from renkei.network import Network

# two wards: the ward's own offices read each other in-house (庁内連携), not over the network
CHILD, TAX, OTHER = "chiyoda-child", "shinjuku-tax", "chiyoda-tax"
WITHOUT_TAX = ("hub", "token", "jlis", "chiyoda-resident")  # the tax office is played by hand


async def provider(env: Env, net: Network, code: str) -> tuple[RawOffice, asyncio.Queue[bytes]]:
    """``code`` played by hand: what the hub forwards to it, as the bytes it received."""
    office = await env.raw(net, code)
    inbox: asyncio.Queue[bytes] = asyncio.Queue()

    async def keep(d: Delivery) -> None:
        await inbox.put(d.body)
        await d.ack()

    await office.bus.consume(f"office.{code}.in", keep)
    return office, inbox


async def forwarded(inbox: asyncio.Queue[bytes]) -> ForwardedQuery:
    msg = decode(await asyncio.wait_for(inbox.get(), 5))
    assert isinstance(msg, ForwardedQuery)
    return msg


def answer(by: str, fwd: ForwardedQuery, context: str, reason: str) -> bytes:
    reply = ProviderReply(
        envelope=envelope(by, HUB, fwd.envelope.affair).model_copy(
            update={"correlation_id": fwd.envelope.correlation_id}
        ),
        context=context,
        outcome=NotFound(reason=reason),
    )
    return encode(reply)


async def ask(env: Env, net: Network, seed: int) -> tuple[RawOffice, str, Query]:
    child = await env.raw(net, CHILD)
    rrc = generate_rrc(random.Random(seed))
    q = Query(
        envelope=envelope(CHILD, TAX, "child_allowance"),
        person=env.token(rrc, CHILD),
        items=("local_tax",),
        params={"fiscal_year": 2024},
    )
    await child.send(encode(q), message_id=str(q.envelope.message_id))
    return child, rrc, q


async def reasons(dead: asyncio.Queue[Delivery], n: int) -> list[str]:
    out = []
    async with asyncio.timeout(5):
        while len(out) < n:
            out.append((await dead.get()).headers[REASON_HEADER].split(":")[0])
    return out


async def test_a_context_sealed_by_anyone_but_the_hub_is_dead_lettered_unrecorded(
    env: Env,
) -> None:
    """What the office did when it held the hub's key, now with the only key it could have:
    a context naming a query nobody asked, to plant a record and a reply."""
    net = await env.network(run=WITHOUT_TAX)
    tax, inbox = await provider(env, net, TAX)
    child, rrc, _ = await ask(env, net, 41)
    fwd = await forwarded(inbox)
    dead = await env.dead_letters(net)
    now = dt.datetime.now(dt.UTC)
    planted = Context(
        kind="query",
        query_id=uuid.uuid4(),
        requester=CHILD,
        provider=TAX,
        affair="child_allowance",
        items=("local_tax",),
        person=env.token(rrc, HUB),
        asked_at=now,
        deadline=now + dt.timedelta(seconds=5),
        query_digest=b"\0" * 32,
        traceparent="",
    )
    own_key = ContextSealer(secrets.token_bytes(32)).seal(planted)
    await tax.send(answer(TAX, fwd, own_key, "planted"), key="reply")
    assert await reasons(dead, 1) == ["routing.forged_context"]
    await tax.send(answer(TAX, fwd, fwd.context, "the real answer"), key="reply")
    reply = await child.reply()
    assert isinstance(reply.outcome, NotFound) and reply.outcome.reason == "the real answer"
    await child.no_more_replies()
    assert net.records is not None
    [record] = await net.records.for_person(env.token(rrc, HUB), include_not_disclosed=True)
    assert (record.requester, record.provider, record.outcome) == (CHILD, TAX, "not_found")


async def test_only_the_provider_the_context_was_sealed_for_may_answer(env: Env) -> None:
    net = await env.network(run=WITHOUT_TAX)
    _, inbox = await provider(env, net, TAX)
    other = await env.raw(net, OTHER)
    child, _, _ = await ask(env, net, 42)
    fwd = await forwarded(inbox)
    dead = await env.dead_letters(net)
    # another ward's tax office replays the context it saw nowhere — or learnt — as its own
    await other.send(answer(OTHER, fwd, fwd.context, "not yours to answer"), key="reply")
    assert await reasons(dead, 1) == ["routing.forged_context"]
    await child.no_more_replies()


async def test_a_reply_is_taken_once_however_often_it_is_sent(env: Env) -> None:
    """The provider answers, then sends the same reply again and a re-signed one that says
    otherwise: the requester hears the first, once, and the record says the first."""
    net = await env.network(run=WITHOUT_TAX)
    tax, inbox = await provider(env, net, TAX)
    child, rrc, _ = await ask(env, net, 43)
    fwd = await forwarded(inbox)
    first = answer(TAX, fwd, fwd.context, "first")
    await tax.send(first, key="reply")
    reply = await child.reply()
    assert isinstance(reply.outcome, NotFound) and reply.outcome.reason == "first"
    await tax.send(first, key="reply")
    second = ProviderReply(
        envelope=envelope(TAX, HUB, fwd.envelope.affair),
        context=fwd.context,
        outcome=Refused(code="office.changed_its_mind", reason="second"),
    )
    await tax.send(encode(second), key="reply")
    await child.no_more_replies()
    assert net.records is not None
    [record] = await net.records.for_person(env.token(rrc, HUB), include_not_disclosed=True)
    assert record.outcome == "not_found" and record.provider == TAX
