"""The dead-letter replay on real RabbitMQ and PostgreSQL (monitor/README.md, "Dead letters").

A query the broker dead-lettered (it expired in ``hub.requests`` while no hub ran) is replayed
by the ``replayer`` — the one broker user with the ``impersonator`` tag — as its sender, once
the hub is back: the hub answers it and records it, once; a second replay finds nothing, and
the same query sent again (what a crash between the replay's publish and its ack would do)
is refused by the hub as a replay (``hub.replayed_query``), never answered twice. A dishonest office, over raw AMQP, can
neither read the dead-letter queue nor impersonate; what it can put there (``renkei.dlx`` is
writable, so that offices can dead-letter what they cannot handle) with a forged ``x-death``
carries its own broker-vouched ``user_id`` and is replayed, if at all, only to where that
office may write itself: never to another office as the hub."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiormq
import aiormq.abc
import pytest
from e2e_env import Env, RawOffice, broker_refusal, envelope, real_env
from pamqp.commands import Basic

from agencies.jlis.numbers import generate_rrc
from hub.bus import OutMessage
from hub.routing.exceptions import HUB_REPLAYED_QUERY
from hub.routing.finish import record_key
from hub.wire import SIGNATURE_HEADER, Query, Refused, encode, sign
from monitor import DeadLetter, DeadLetters, NoDeadLetter, NotReplayable
from renkei.network import Network

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

CHILD, TAX = "chiyoda-child", "chiyoda-tax"
NO_HUB = ("token", "jlis", "chiyoda-resident", "chiyoda-tax")


@dataclass
class World:
    env: Env
    net: Network  # everything but the hub (and chiyoda-child, played by hand)
    office: RawOffice
    dead: DeadLetters
    raw: aiormq.abc.AbstractConnection  # chiyoda-child's password in a dishonest hand

    def user(self, code: str) -> str:
        return self.env.settings.broker_user_prefix + code

    async def waiting(self, message_id: str, timeout: float = 15) -> DeadLetter:
        async with asyncio.timeout(timeout):
            while True:
                for d in await self.dead.look():
                    if d.message_id == message_id:
                        return d
                await asyncio.sleep(0.2)

    async def refused(self, op: Callable[[aiormq.abc.AbstractChannel], Any]) -> str:
        return await broker_refusal(self.raw, op)

    async def publish_raw(self, exchange: str, key: str, body: bytes, **props: Any) -> None:
        channel = await self.raw.channel()
        try:
            confirm = await channel.basic_publish(
                body,
                exchange=exchange,
                routing_key=key,
                properties=Basic.Properties(delivery_mode=2, **props),
            )
            assert isinstance(confirm, Basic.Ack), confirm
        finally:
            if not channel.is_closed:
                await channel.close()


@pytest.fixture(scope="module")
async def world() -> AsyncIterator[World]:
    async with contextlib.aclosing(real_env()) as envs:
        env = await anext(envs)
        try:
            net = await env.network(run=NO_HUB)
            office = await env.raw(net, CHILD)
            dead = DeadLetters(await env.connect(net, "replayer"), net.topology)
            password = env.state.passwords[CHILD]
            vhost = quote(env.settings.broker_vhost, safe="")
            user = quote(env.settings.broker_user_prefix + CHILD)
            raw = await aiormq.connect(f"amqp://{user}:{quote(password)}@127.0.0.1:5672/{vhost}")
            try:
                yield World(env, net, office, dead, raw)
            finally:
                await raw.close()
        finally:
            await env.close()


def lawful_query(env: Env, seed: int) -> Query:
    q = Query(
        envelope=envelope(CHILD, TAX, "child_allowance"),
        person=env.token(generate_rrc(random.Random(seed)), CHILD),
        items=("local_tax",),
        params={"fiscal_year": 2024},
    )
    deadline = q.envelope.issued_at + dt.timedelta(seconds=60)  # the replay comes in time
    return q.model_copy(update={"envelope": q.envelope.model_copy(update={"deadline": deadline})})


async def test_a_dead_lettered_query_is_replayed_to_the_hub_once(world: World) -> None:
    q = lawful_query(world.env, 11)
    body, qid = encode(q), str(q.envelope.message_id)
    signature = sign(body, world.env.state.keys[CHILD].signing)
    out = OutMessage(body, qid, qid, headers={SIGNATURE_HEADER: signature}, expiration_ms=300)
    await world.office.bus.publish("renkei.hub", "query", out)  # no hub runs: it expires
    seen = await world.waiting(qid)
    assert (seen.reason, seen.queue, seen.exchange, seen.routing_key) == (
        "expired",
        "hub.requests",
        "renkei.hub",
        "query",
    )
    assert (seen.user_id, seen.by_broker, seen.count, seen.replayable) == (CHILD, True, 1, True)
    assert seen.at is not None and abs(dt.datetime.now(dt.UTC) - seen.at) < dt.timedelta(minutes=1)
    assert seen.size == len(body)

    hub_net = await world.env.network(run=("hub",))  # the hub is back
    assert hub_net.records is not None
    before = await hub_net.records.count()
    done = await world.dead.replay(qid)
    assert done.user_id == CHILD
    reply = await world.office.reply(timeout=15)
    assert str(reply.envelope.correlation_id) == qid and reply.record_id is not None
    key = record_key(CHILD, uuid.UUID(qid))
    assert await hub_net.records.exists([key]) == {key}  # the query has its record
    assert await hub_net.records.count() == before + 1
    assert all(d.message_id != qid for d in await world.dead.look())

    with pytest.raises(NoDeadLetter):  # replayed twice: the second finds nothing
        await world.dead.replay(qid)
    # sent again all the same (a crash between the replay's confirm and its ack would do it):
    # the hub takes a query id once — this copy is refused as a replay (recorded under a key
    # of its own), never answered, never asked of the provider again
    await world.office.send(body, message_id=qid)
    again = await world.office.reply(timeout=15)
    assert isinstance(again.outcome, Refused) and again.outcome.code == HUB_REPLAYED_QUERY
    assert again.record_id != reply.record_id
    await world.office.no_more_replies(0.5)
    assert await hub_net.records.count() == before + 2


async def test_an_office_can_neither_read_the_dead_letters_nor_impersonate(
    world: World,
) -> None:
    async def noop(_: aiormq.abc.DeliveredMessage) -> None:
        return None

    for op in (
        lambda ch: ch.basic_consume("renkei.dead", noop),
        lambda ch: ch.basic_get("renkei.dead"),
        lambda ch: ch.queue_purge("renkei.dead"),
        lambda ch: ch.basic_publish(b"{}", exchange="", routing_key="renkei.dead"),
    ):
        assert "ACCESS_REFUSED" in await world.refused(op)
    for whom in ("replayer", "hub", TAX):  # no impersonator tag: its own user_id or none
        why = await world.refused(
            lambda ch, w=whom: ch.basic_publish(
                b"{}",
                exchange="renkei.dlx",
                routing_key="query",
                properties=Basic.Properties(user_id=world.user(w), message_id="forged"),
            )
        )
        assert "PRECONDITION_FAILED" in why and "user_id" in why


def _forged_death(exchange: str, key: str) -> dict[str, Any]:
    return {
        "x-death": [
            {
                "queue": "hub.requests",
                "reason": "expired",
                "exchange": exchange,
                "routing-keys": [key],
                "count": 1,
                "time": dt.datetime.now(dt.UTC).replace(microsecond=0),
            }
        ]
    }


@pytest.mark.parametrize("with_user_id", [True, False])
async def test_a_forged_death_is_not_replayed_to_another_office(
    world: World, with_user_id: bool
) -> None:
    """chiyoda-child puts on renkei.dlx a message that claims the broker dead-lettered it
    from the hub's way to chiyoda-tax: replaying it would send chiyoda-child's bytes to
    chiyoda-tax as the hub. The broker vouches for chiyoda-child's user_id (or there is
    none): refused, and it stays."""
    mid = f"forged-{uuid.uuid4()}"
    props: dict[str, Any] = {"message_id": mid, "headers": _forged_death("renkei.offices", "x")}
    props["headers"]["x-death"][0]["routing-keys"] = ["office.chiyoda-tax.in"]
    if with_user_id:
        props["user_id"] = world.user(CHILD)
    await world.publish_raw("renkei.dlx", "office.chiyoda-tax.in", b'{"forged": 1}', **props)
    seen = await world.waiting(mid)
    assert seen.user_id == (CHILD if with_user_id else None)
    assert seen.refusal is not None and not seen.replayable
    assert ("may not write" if with_user_id else "no broker-vouched sender") in seen.refusal
    with pytest.raises(NotReplayable):
        await world.dead.replay(mid)
    assert any(d.message_id == mid for d in await world.dead.look())  # it stays
