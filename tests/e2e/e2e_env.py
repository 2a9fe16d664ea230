"""Helpers of the whole-network flows (imported as ``e2e_env``; the fixtures are in conftest).

Whole-network flows run twice: on the embedded defaults and on RabbitMQ + PostgreSQL.

``network`` starts the services named (default: all but ``chiyoda-child``, which the tests
play by hand through ``RawOffice`` so they can send anything, forged or malformed, and see
every reply). On the real backend each test module gets its own vhost and database, dropped
afterwards; a missing RabbitMQ or PostgreSQL fails the run rather than skipping it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

import aiormq
import aiormq.abc
import asyncpg
import pytest
from proc_env import free_port

from hub.bus import (
    CONTENT_TYPE,
    Bus,
    Delivery,
    OutMessage,
    connect_amqp,
    delete_users,
    delete_vhost,
)
from hub.node import ChangeListener
from hub.routing import Office, load_default_registry, load_default_table
from hub.wire import (
    SIGNATURE_HEADER,
    Envelope,
    Facts,
    OfficeKeys,
    Reply,
    decode,
    new_traceparent,
    sign,
)
from issuance.seal import Seal
from renkei.network import Network, identities, migrate, open_network, setup
from renkei.pki_checks import PkiSignatureCheck
from renkei.secrets import State
from renkei.settings import Settings
from token_service import KeyRing

AMQP = "amqp://guest:guest@127.0.0.1:5672/"
PG = "postgresql://postgres@127.0.0.1:5432/"
ADMIN = "http://guest:guest@127.0.0.1:15672"
# the providers the tests ask (of two wards: one ward's own offices are in-house, not the network)
ALL_BUT_CHILD = (
    "hub",
    "token",
    "jlis",
    "chiyoda-resident",
    "chiyoda-tax",
    "shinjuku-resident",
    "shinjuku-tax",
)

TABLE = load_default_table()
REGISTRY = load_default_registry(TABLE)
IDS = identities(REGISTRY)
# the four facts J-LIS keeps for the tests' residents, and that the offices enrolling them hold
ON_RECORD = Facts(
    name="高橋 翼", address="東京都千代田区九段南一丁目2番1号", birth_date="1990-05-05", sex="1"
)


def noted_at(
    net: Network, rrc: str, municipality: str = "131041"
) -> Callable[[Facts], Awaitable[None]]:
    """The 転入's 記載, notified to J-LIS's 本人確認情報 over 住基ネット by the municipality's
    register (move_in's ``noted``)."""
    register = next(
        o.code
        for o in REGISTRY
        if o.municipality == municipality and "resident_register" in o.roles
    )

    async def noted(facts: Facts) -> None:
        await net.juki[register].noted(rrc, facts, municipality=municipality)

    return noted


def envelope(sender: str, recipient: str, affair: str) -> Envelope:
    """A request's envelope (its correlation id is its message id), due in 5 s."""
    now = dt.datetime.now(dt.UTC)
    qid = uuid.uuid4()
    return Envelope(
        message_id=qid,
        correlation_id=qid,
        sender=sender,
        recipient=recipient,
        affair=affair,
        issued_at=now,
        deadline=now + dt.timedelta(seconds=5),
        traceparent=new_traceparent(),
    )


@dataclass
class RawOffice:
    """An office driven by hand: publishes any bytes, collects every reply the hub sends it."""

    code: str
    bus: Bus
    keys: OfficeKeys
    replies: asyncio.Queue[Reply] = field(default_factory=asyncio.Queue)

    async def start(self) -> None:
        async def on_reply(d: Delivery) -> None:
            msg = decode(d.body)
            assert isinstance(msg, Reply)
            await self.replies.put(msg)
            await d.ack()

        await self.bus.consume(f"office.{self.code}.replies", on_reply)

    async def send(
        self,
        body: bytes,
        *,
        key: str = "query",
        message_id: str = "",
        signed: bool = True,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = CONTENT_TYPE,
    ) -> None:
        extra = dict(headers or {})
        if signed:
            extra[SIGNATURE_HEADER] = sign(body, self.keys.signing)
        out = OutMessage(
            body=body,
            message_id=message_id or secrets.token_hex(8),
            headers=extra,
            content_type=content_type,
        )
        await self.bus.publish("renkei.hub", key, out)

    async def reply(self, timeout: float = 5.0) -> Reply:
        return await asyncio.wait_for(self.replies.get(), timeout)

    async def no_more_replies(self, wait: float = 0.5) -> None:
        await asyncio.sleep(wait)
        assert self.replies.empty(), f"unexpected extra reply: {self.replies.get_nowait()}"


@dataclass
class Env:
    kind: str
    settings: Settings
    state: State
    nets: list[Network] = field(default_factory=list)

    @property
    def ring(self) -> KeyRing:
        return KeyRing(self.state.token_master)

    def token(self, rrc: str, office: str) -> str:
        return self.ring.token_for(self.ring.link_id(rrc), office)

    async def network(
        self,
        run: Iterable[str] | None = ALL_BUT_CHILD,
        listeners: Mapping[str, ChangeListener] | None = None,
        signatures: PkiSignatureCheck | None = None,
        settings: Settings | None = None,
        seals: Callable[[Office], Seal | None] | None = None,
    ) -> Network:
        net = await open_network(
            settings or self.settings,
            self.state,
            run=run,
            table=TABLE,
            registry=REGISTRY,
            listeners=listeners,
            signatures=signatures,
            seals=seals,
        )
        self.nets.append(net)
        return net

    async def connect(self, net: Network, code: str) -> Bus:
        if net.broker is not None:
            bus: Bus = net.broker.connect(code)
        else:
            url = self.settings.broker_url_for(code, self.state.passwords[code])
            bus = await connect_amqp(
                url, identity=code, user_prefix=self.settings.broker_user_prefix
            )
        net._closers.append(bus.close)
        return bus

    async def raw(self, net: Network, code: str) -> RawOffice:
        office = RawOffice(code, await self.connect(net, code), self.state.keys[code])
        await office.start()
        return office

    async def dead_letters(self, net: Network) -> asyncio.Queue[Delivery]:
        """What reaches ``renkei.dead``, read as the monitor."""
        found: asyncio.Queue[Delivery] = asyncio.Queue()

        async def keep(d: Delivery) -> None:
            await found.put(d)
            await d.ack()

        await (await self.connect(net, "monitor")).consume("renkei.dead", keep)
        return found

    async def close(self) -> None:
        for net in reversed(self.nets):
            await net.aclose()
        self.nets.clear()


async def real_env() -> AsyncIterator[Env]:
    vhost = f"renkei-e2e-{secrets.token_hex(4)}"
    db = f"renkei_e2e_{secrets.token_hex(4)}"
    try:
        admin = await asyncpg.connect(PG + "postgres")
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is required at {PG}: {exc} (scripts/services starts it)", pytrace=False
        )
    await admin.execute(f'CREATE DATABASE "{db}"')
    prefix = f"e2e{secrets.token_hex(3)}-"  # broker users of their own: others' are left alone
    settings = Settings(
        broker_url=AMQP,
        broker_vhost=vhost,
        broker_user_prefix=prefix,
        db_url=PG + db,
        token_address=f"127.0.0.1:{free_port()}",  # every network of the test: one channel
        _env_file=None,
    )
    state = State.generate(IDS)
    try:
        await setup(settings, state, REGISTRY)
        await migrate(settings.db_url or "", REGISTRY, state.keys["hub"].signing)
        yield Env("real", settings, state)
    finally:
        await delete_vhost(ADMIN, vhost)
        await delete_vhost(ADMIN, settings.juki_vhost)
        await delete_users(ADMIN, [prefix + i for i in IDS])
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()


async def broker_refusal(
    raw: aiormq.abc.AbstractConnection,
    op: Callable[[aiormq.abc.AbstractChannel], Awaitable[object]],
) -> str:
    """The broker's refusal of ``op`` on a channel of its own (the channel dies with it);
    fails the test when the broker lets it through."""
    channel = await raw.channel()
    try:
        await op(channel)
    except aiormq.exceptions.ChannelClosed as exc:
        return str(exc)
    finally:
        if not channel.is_closed:
            await channel.close()
    pytest.fail(f"the broker let chiyoda-child do it: {op}")
