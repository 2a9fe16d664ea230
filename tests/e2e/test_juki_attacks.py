"""住基ネット in a dishonest hand, over raw AMQP (aiormq: every property settable), on real
RabbitMQ and PostgreSQL: a register's 住基ネット password used to speak for another
municipality, read J-LIS's queue or another register's answers, or forge J-LIS's answers; an
office of the information-provision network trying 住基ネット at all; malformed, forged and
oversized messages to J-LIS. ``hub/bus/README.md`` ("住基ネット") says who refuses what."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiormq
import aiormq.abc
import orjson
import pytest
from e2e_env import ADMIN, ON_RECORD, Env, broker_refusal, real_env
from pamqp.commands import Basic

from agencies.jlis.numbers import generate_rrc
from agencies.jlis.registry import Jlis
from hub.bus.admin import peek_messages
from hub.bus.juki import JUKI_IN, JUKI_JLIS, JUKI_OUT, juki_identity, juki_replies
from renkei.network import Network

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

CHIYODA, SHINJUKU = "chiyoda-resident", "shinjuku-resident"  # 131016, 131041


class Juki:
    """The network up (J-LIS and both registers), and raw connections by broker login."""

    def __init__(self, env: Env, net: Network) -> None:
        self.env, self.net = env, net
        self.conns: dict[tuple[str, str], aiormq.abc.AbstractConnection] = {}

    def url(self, identity: str, vhost: str) -> str:
        user = quote(self.env.settings.broker_user_prefix + identity)
        password = quote(self.env.state.passwords[identity])
        return f"amqp://{user}:{password}@127.0.0.1:5672/{quote(vhost, safe='')}"

    async def connect(
        self, identity: str, vhost: str | None = None
    ) -> aiormq.abc.AbstractConnection:
        """One connection a login and vhost (a 住基ネット user may hold 8)."""
        key = (identity, vhost or self.env.settings.juki_vhost)
        if key not in self.conns or self.conns[key].is_closed:
            self.conns[key] = await aiormq.connect(self.url(*key))
        return self.conns[key]

    async def ask(
        self, conn: aiormq.abc.AbstractConnection, register: str, body: bytes, **props: Any
    ) -> dict[str, Any]:
        """Publish ``body`` to J-LIS as the connection's user and wait for J-LIS's answer on
        ``register``'s reply queue (the honest link is stopped meanwhile: the test reads it)."""
        link = self.net.juki[register]
        await link.stop()
        channel = await conn.channel()
        try:
            mid = str(uuid.uuid4())
            got: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

            async def on_answer(msg: aiormq.abc.DeliveredMessage) -> None:
                if msg.header.properties.correlation_id == mid and not got.done():
                    got.set_result(orjson.loads(msg.body))
                await channel.basic_ack(msg.delivery.delivery_tag)

            await channel.basic_consume(juki_replies(register), on_answer)
            props.setdefault(
                "user_id", self.env.settings.broker_user_prefix + juki_identity(register)
            )
            properties = Basic.Properties(delivery_mode=2, message_id=mid, **props)
            await channel.basic_publish(
                body, exchange=JUKI_IN, routing_key=JUKI_JLIS, properties=properties
            )
            async with asyncio.timeout(15):
                return await got
        finally:
            await channel.close()
            await link.start()

    async def close(self) -> None:
        for conn in self.conns.values():
            with contextlib.suppress(Exception):
                await conn.close()


@pytest.fixture(scope="module")
async def juki() -> AsyncIterator[Juki]:
    async with contextlib.aclosing(real_env()) as envs:
        env = await anext(envs)
        try:
            net = await env.network(run=["hub", "token", "jlis", CHIYODA, SHINJUKU])
            attack = Juki(env, net)
            yield attack
            await attack.close()
        finally:
            await env.close()


async def shinjuku_resident(net: Network) -> str:
    """A resident J-LIS keeps for 新宿区 (131041)."""
    rrc = generate_rrc(random.Random())
    jlis: Jlis = net.apps["jlis"]
    await jlis.register({rrc: ON_RECORD}, municipality="131041")
    return rrc


def noted(rrc: str, name: str = "偽 名前") -> bytes:
    facts = {**ON_RECORD.model_dump(), "name": name}
    event = str(uuid.uuid4())
    body = {
        "v": 1,
        "act": "noted",
        "rrc": rrc,
        "facts": facts,
        "reason": "氏名変更",
        "event": event,
    }
    return orjson.dumps(body)


async def dead_letters(juki: Juki) -> list[dict[str, Any]]:
    return await peek_messages(ADMIN, juki.env.settings.juki_vhost, "renkei.dead")


async def test_a_register_cannot_note_a_change_for_another_municipality(juki: Juki) -> None:
    rrc = await shinjuku_resident(juki.net)
    chiyoda = await juki.connect(juki_identity(CHIYODA))
    answer = await juki.ask(chiyoda, CHIYODA, noted(rrc))
    assert answer["ok"] is False and answer["code"] == "jlis.not_the_municipality"
    doc = await juki.net.apps["jlis"].store.get("residents", rrc)
    assert doc["facts"]["name"] == ON_RECORD.name  # unchanged
    # nor by a number change for them
    change = {"v": 1, "act": "change_number", "rrc": rrc, "effective": "2026-12-01"}
    change["event"] = str(uuid.uuid4())
    answer = await juki.ask(chiyoda, CHIYODA, orjson.dumps(change))
    assert answer["ok"] is False and answer["code"] == "jlis.not_the_municipality"


async def test_naming_the_other_municipality_in_the_message_changes_nothing(juki: Juki) -> None:
    """The municipality is the broker user's, never a field: one added is a forged field."""
    rrc = await shinjuku_resident(juki.net)
    chiyoda = await juki.connect(juki_identity(CHIYODA))
    body = orjson.loads(noted(rrc)) | {"municipality": "131041"}
    answer = await juki.ask(chiyoda, CHIYODA, orjson.dumps(body))
    assert answer["ok"] is False and answer["code"] == "juki.malformed"
    assert "municipality" in answer["reason"]


async def test_a_register_cannot_pass_as_another_or_as_jlis(juki: Juki) -> None:
    """The broker checks user_id against the login: a forged sender closes the channel."""
    rrc = await shinjuku_resident(juki.net)
    chiyoda = await juki.connect(juki_identity(CHIYODA))
    prefix = juki.env.settings.broker_user_prefix
    for forged in (juki_identity(SHINJUKU), juki_identity("jlis")):
        props = Basic.Properties(delivery_mode=2, user_id=prefix + forged, message_id="x")

        async def publish(ch: aiormq.abc.AbstractChannel, p: Basic.Properties = props) -> Any:
            return await ch.basic_publish(
                noted(rrc), exchange=JUKI_IN, routing_key=JUKI_JLIS, properties=p
            )

        assert "PRECONDITION_FAILED" in await broker_refusal(chiyoda, publish)


async def test_a_register_cannot_read_jlis_queue_or_another_registers_answers(juki: Juki) -> None:
    chiyoda = await juki.connect(juki_identity(CHIYODA))
    for queue in (JUKI_JLIS, juki_replies(SHINJUKU), "renkei.dead"):

        async def consume(ch: aiormq.abc.AbstractChannel, q: str = queue) -> Any:
            return await ch.basic_consume(q, lambda _m: asyncio.sleep(0))

        assert "ACCESS_REFUSED" in await broker_refusal(chiyoda, consume)


async def test_a_register_cannot_forge_jlis_answers(juki: Juki) -> None:
    chiyoda = await juki.connect(juki_identity(CHIYODA))
    body = orjson.dumps({"v": 1, "ok": True, "number": "123456789018"})

    async def publish(ch: aiormq.abc.AbstractChannel) -> Any:
        props = Basic.Properties(delivery_mode=2, correlation_id="x", message_id="y")
        return await ch.basic_publish(
            body, exchange=JUKI_OUT, routing_key=juki_replies(SHINJUKU), properties=props
        )

    assert "ACCESS_REFUSED" in await broker_refusal(chiyoda, publish)


@pytest.mark.parametrize("identity", ["chiyoda-child", CHIYODA, "jlis", "hub"])
async def test_the_provision_network_cannot_reach_juki_at_all(juki: Juki, identity: str) -> None:
    """An office's (or the hub's) user of the information-provision network has no access to
    住基ネット's vhost — a register's and J-LIS's provision-network users neither."""
    with pytest.raises(aiormq.exceptions.AMQPError):
        await juki.connect(identity)


async def test_a_juki_user_cannot_reach_the_provision_network(juki: Juki) -> None:
    with pytest.raises(aiormq.exceptions.AMQPError):
        await juki.connect(juki_identity(CHIYODA), juki.env.settings.broker_vhost)


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        (b"not json", "juki.malformed", "not a 住基ネット request"),
        (b'{"v": 1, "act": "noted"}', "juki.malformed", "noted needs rrc, facts, reason"),
        (b'{"v": 1, "act": "vanish", "rrc": "12345678901"}', "juki.malformed", "act"),
        (b'{"v": 2, "act": "code_of", "number": "123456789018"}', "juki.malformed", "v"),
        (b'{"v": 1, "act": "code_of", "number": "12345678901x"}', "juki.malformed", "number"),
        (b"{" + b" " * 9000 + b"}", "juki.oversized", "at most 8192 bytes"),
    ],
)
async def test_malformed_forged_or_oversized_is_refused_with_a_reason_and_kept(
    juki: Juki, body: bytes, code: str, says: str
) -> None:
    chiyoda = await juki.connect(juki_identity(CHIYODA))
    answer = await juki.ask(chiyoda, CHIYODA, body)
    assert answer["ok"] is False and answer["code"] == code and says in answer["reason"]
    async with asyncio.timeout(20):
        while True:
            letters = await dead_letters(juki)
            reasons = [m["properties"].get("headers", {}).get("renkei-reason", "") for m in letters]
            if any(r.startswith(code) and says[:20] in r for r in reasons):
                break
            await asyncio.sleep(0.3)


async def test_a_message_without_a_vouched_sender_is_refused_and_kept(juki: Juki) -> None:
    """No ``user_id``: the broker vouches for no one, J-LIS answers no one and keeps it."""
    rrc = await shinjuku_resident(juki.net)
    chiyoda = await juki.connect(juki_identity(CHIYODA))
    channel = await chiyoda.channel()
    mid = str(uuid.uuid4())
    properties = Basic.Properties(delivery_mode=2, message_id=mid)
    await channel.basic_publish(
        noted(rrc), exchange=JUKI_IN, routing_key=JUKI_JLIS, properties=properties
    )
    await channel.close()
    async with asyncio.timeout(20):
        while not any(  # noqa: ASYNC110 - a queue read over HTTP, no event
            m["properties"].get("message_id") == mid
            and m["properties"]["headers"]["renkei-reason"].startswith("juki.unknown_sender")
            for m in await dead_letters(juki)
        ):
            await asyncio.sleep(0.3)
    doc = await juki.net.apps["jlis"].store.get("residents", rrc)
    assert doc["facts"]["name"] == ON_RECORD.name


async def test_a_repeated_note_is_applied_once(juki: Juki) -> None:
    """The same event twice (a retry after a lost answer): J-LIS's history keeps it once."""
    rrc = generate_rrc(random.Random())
    jlis: Jlis = juki.net.apps["jlis"]
    await jlis.register({rrc: ON_RECORD}, municipality="131016")
    chiyoda = await juki.connect(juki_identity(CHIYODA))
    body = orjson.loads(noted(rrc, "高橋 翔"))
    body |= {"event": str(uuid.uuid4()), "effective": "2026-12-01"}
    for _ in range(2):
        answer = await juki.ask(chiyoda, CHIYODA, orjson.dumps(body))
        assert answer == {"v": 1, "ok": True}
    doc = await jlis.store.get("residents", rrc)
    assert [h["reason"] for h in doc["history"]] == ["氏名変更"]
    assert doc["facts"]["name"] == "高橋 翔"
