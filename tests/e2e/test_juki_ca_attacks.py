"""J-LIS's 異動等失効情報 to its CA over 住基ネット, in a dishonest hand (raw AMQP, real RabbitMQ
and PostgreSQL): a register publishing a notice to the CA or reading the CA's queue, the CA
publishing to J-LIS's queue; malformed, forged and oversized notices; a notice delivered twice.
``hub/bus/README.md`` ("住基ネット") says who may do what."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiormq
import aiormq.abc
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from e2e_env import ADMIN, broker_refusal, real_env
from pamqp.commands import Basic
from portal_env import FACTS, WHERE
from test_juki_attacks import CHIYODA, Juki

from agencies.jlis.numbers import generate_rrc
from hub.bus.admin import peek_messages
from hub.bus.juki import JUKI_IN, JUKI_JLIS, JUKI_OUT, juki_identity, juki_notices
from pki import CaName, CertificationAuthority, CertKind, Endpoints, Hierarchy, Issued
from pki.ca.office import PKI_OFFICE, CaListener

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

NOTICES = juki_notices(PKI_OFFICE)


class Ca(Juki):
    ca: CertificationAuthority

    async def notify(self, body: bytes, **props: Any) -> str:
        """Publish ``body`` to the CA's queue as J-LIS (its user, its password)."""
        channel = await (await self.connect(juki_identity("jlis"))).channel()
        mid = str(uuid.uuid4())
        props.setdefault("user_id", self.env.settings.broker_user_prefix + juki_identity("jlis"))
        properties = Basic.Properties(delivery_mode=2, message_id=mid, **props)
        await channel.basic_publish(
            body, exchange=JUKI_OUT, routing_key=NOTICES, properties=properties
        )
        await channel.close()
        return mid

    def card(self, rrc: str) -> tuple[Issued, Issued]:
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        holder = f"t:{uuid.uuid4().hex}"
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        sig = self.ca.issue(
            CertKind.SIGNATURE, key, holder, WHERE, FACTS, code=rrc, not_before=since
        )
        auth = self.ca.issue(
            CertKind.AUTHENTICATION, key, holder, WHERE, code=rrc, not_before=since
        )
        return sig, auth


@pytest.fixture(scope="module")
async def juki() -> AsyncIterator[Ca]:
    async with contextlib.aclosing(real_env()) as envs:
        env = await anext(envs)
        try:
            now = dt.datetime.now(dt.UTC)
            ca = CertificationAuthority(
                Hierarchy.generate(now - dt.timedelta(days=2)),
                holder_key=b"h" * 32,
                endpoints=Endpoints("http://127.0.0.1:9"),
            )
            net = await env.network(
                run=["hub", "token", "jlis", CHIYODA, PKI_OFFICE],
                listeners={PKI_OFFICE: CaListener(ca)},
            )
            attack = Ca(env, net)
            attack.ca = ca
            yield attack
            await attack.close()
        finally:
            await env.close()


def notice(rrc: str, kind: str = "moved", event: str | None = None) -> dict[str, Any]:
    return {"v": 1, "event": event or str(uuid.uuid4()), "rrc": rrc, "kind": kind}


async def revoked(ca: CertificationAuthority, name: CaName, serial: int) -> None:
    async with asyncio.timeout(10):
        while True:
            if ca.status(name, serial)[1] is not None:
                return
            await asyncio.sleep(0.02)


async def dead_letter(juki: Ca, mid: str) -> str:
    """The reason the vhost's ``renkei.dead`` keeps the message ``mid`` with."""
    async with asyncio.timeout(20):
        while True:
            for m in await peek_messages(ADMIN, juki.env.settings.juki_vhost, "renkei.dead"):
                if m["properties"].get("message_id") == mid:
                    return str(m["properties"]["headers"]["renkei-reason"])
            await asyncio.sleep(0.3)


async def test_a_register_cannot_publish_a_notice_to_the_ca(juki: Ca) -> None:
    chiyoda = await juki.connect(juki_identity(CHIYODA))
    body = orjson.dumps(notice(generate_rrc(random.Random())))
    for exchange in (JUKI_OUT, ""):  # J-LIS's exchange, or the default one to the queue

        async def publish(ch: aiormq.abc.AbstractChannel, x: str = exchange) -> Any:
            props = Basic.Properties(delivery_mode=2, message_id="x")
            return await ch.basic_publish(body, exchange=x, routing_key=NOTICES, properties=props)

        assert "ACCESS_REFUSED" in await broker_refusal(chiyoda, publish)


async def test_a_register_cannot_read_the_cas_notices(juki: Ca) -> None:
    chiyoda = await juki.connect(juki_identity(CHIYODA))

    async def consume(ch: aiormq.abc.AbstractChannel) -> Any:
        return await ch.basic_consume(NOTICES, lambda _m: asyncio.sleep(0))

    assert "ACCESS_REFUSED" in await broker_refusal(chiyoda, consume)


async def test_the_ca_cannot_publish_to_jlis_nor_read_its_queue(juki: Ca) -> None:
    ca = await juki.connect(juki_identity(PKI_OFFICE))
    body = orjson.dumps({"v": 1, "act": "code_of", "number": "123456789018"})
    for exchange, key in ((JUKI_IN, JUKI_JLIS), ("", JUKI_JLIS), (JUKI_OUT, NOTICES)):

        async def publish(ch: aiormq.abc.AbstractChannel, x: str = exchange, k: str = key) -> Any:
            props = Basic.Properties(delivery_mode=2, message_id="x")
            return await ch.basic_publish(body, exchange=x, routing_key=k, properties=props)

        assert "ACCESS_REFUSED" in await broker_refusal(ca, publish)

    async def consume(ch: aiormq.abc.AbstractChannel) -> Any:
        return await ch.basic_consume(JUKI_JLIS, lambda _m: asyncio.sleep(0))

    assert "ACCESS_REFUSED" in await broker_refusal(ca, consume)


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        (b"not json", "juki.malformed", "not a notice"),
        (orjson.dumps({"v": 1, "rrc": "12345678901", "kind": "moved"}), "juki.malformed", "event"),
        (orjson.dumps(notice("1234567890x")), "juki.malformed", "rrc"),
        (orjson.dumps(notice("12345678901", "card_lost")), "juki.malformed", "kind"),
        (orjson.dumps(notice("12345678901") | {"holder": "t:x"}), "juki.malformed", "holder"),
        (orjson.dumps(notice("12345678901") | {"v": 2}), "juki.malformed", "v"),
        (b"{" + b" " * 9000 + b"}", "juki.oversized", "at most 8192 bytes"),
    ],
    # fixed ids: a notice's random event id would differ between pytest-xdist workers
    ids=["not-json", "no-event", "bad-rrc", "bad-kind", "holder", "v2", "oversized"],
)
async def test_a_malformed_or_oversized_notice_is_refused_and_kept(
    juki: Ca, body: bytes, code: str, says: str
) -> None:
    mid = await juki.notify(body)
    reason = await dead_letter(juki, mid)
    assert reason.startswith(code) and says in reason


async def test_a_notice_without_jlis_as_sender_is_refused_and_kept(juki: Ca) -> None:
    """No ``user_id`` (the broker vouches for no one): the CA revokes nothing."""
    rrc = generate_rrc(random.Random())
    sig, _ = juki.card(rrc)
    mid = await juki.notify(orjson.dumps(notice(rrc)), user_id=None)
    assert (await dead_letter(juki, mid)).startswith("juki.unknown_sender")
    assert juki.ca.status(CaName.SIGNATURE, sig.serial)[1] is None


async def test_a_notice_delivered_twice_is_applied_once(juki: Ca) -> None:
    rrc, marker = generate_rrc(random.Random()), generate_rrc(random.Random())
    sig, auth = juki.card(rrc)
    first = notice(rrc)
    await juki.notify(orjson.dumps(first))
    await revoked(juki.ca, CaName.SIGNATURE, sig.serial)
    assert juki.ca.status(CaName.AUTHENTICATION, auth.serial)[1] is None  # a move: sign only
    # a new card after the move; the same notice again must not revoke it
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    new = juki.ca.issue(CertKind.SIGNATURE, key, "t:after", WHERE, FACTS, code=rrc)
    await juki.notify(orjson.dumps(first))
    marked, _ = juki.card(marker)  # a later notice, to know the repeated one was consumed
    await juki.notify(orjson.dumps(notice(marker)))
    await revoked(juki.ca, CaName.SIGNATURE, marked.serial)
    await asyncio.sleep(0.5)
    assert juki.ca.status(CaName.SIGNATURE, new.serial)[1] is None
    # a notice of a new event (a death) does revoke it
    await juki.notify(orjson.dumps(notice(rrc, "died")))
    await revoked(juki.ca, CaName.SIGNATURE, new.serial)
    await revoked(juki.ca, CaName.AUTHENTICATION, auth.serial)
