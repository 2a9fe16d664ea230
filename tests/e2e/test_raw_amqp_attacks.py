"""An office's broker password in a dishonest hand, driven over raw AMQP (aiormq: every
property and header settable, nothing of our bus in the way), against the whole network on
real RabbitMQ and PostgreSQL. What the broker refuses is refused before anyone sees it; what
it lets through reaches the hub, which refuses it with a reason, records it under the
broker-vouched sender where it has a query id, and keeps a bounded dead letter.
``docs/reliability.md`` ("Attacks") lists each with who refused it and what was recorded."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp
import aiormq
import aiormq.abc
import orjson
import pytest
from e2e_env import ADMIN, Env, RawOffice, broker_refusal, envelope, real_env
from pamqp.commands import Basic
from yarl import URL

from agencies.jlis.numbers import generate_rrc
from hub.bus import CONTENT_TYPE, REASON_HEADER, USER_HEADER, Delivery, OutMessage
from hub.bus._bundle import BUNDLE_TYPE, encode_bundle
from hub.routing.exceptions import HUB_SENDER_MISMATCH, HUB_UNVERIFIED_SENDER
from hub.routing.finish import record_key
from hub.wire import (
    SIGNATURE_HEADER,
    Failed,
    Query,
    Refused,
    TranslateBatch,
    TranslateItem,
    encode,
    sign,
)
from hub.wire.link import HELLO, frame, hub_hello, parse_hello
from renkei.network import Network

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

CHILD, TAX = "chiyoda-child", "shinjuku-tax"  # two wards: one ward's own are in-house
EXCHANGES = (  # every exchange of the vhost: the network's, RabbitMQ's own, the firehose's
    "renkei.hub",
    "renkei.offices",
    "renkei.dlx",
    "renkei.spans",
    "renkei.interactive",
    "monitor.alerts",
    "amq.direct",
    "amq.fanout",
    "amq.topic",
    "amq.headers",
    "amq.match",
    "amq.rabbitmq.trace",
)
OTHERS_QUEUES = (
    "office.chiyoda-tax.in",
    "office.chiyoda-tax.replies",
    "hub.requests",
    "hub.replies",
    "renkei.dead",
    "monitor.spans",
)


class Attack:
    """The network up, ``chiyoda-child`` played by hand (its honest channel: ``office``), and a
    raw AMQP connection with its broker password (``raw``)."""

    def __init__(self, env: Env, net: Network, office: RawOffice) -> None:
        self.env, self.net, self.office = env, net, office
        self.raw: aiormq.abc.AbstractConnection | None = None
        self.dead: asyncio.Queue[Delivery] = asyncio.Queue()

    def user(self, code: str) -> str:
        return self.env.settings.broker_user_prefix + code

    async def connect(self) -> None:
        password = self.env.state.passwords[CHILD]
        vhost = quote(self.env.settings.broker_vhost, safe="")
        url = f"amqp://{quote(self.user(CHILD))}:{quote(password)}@127.0.0.1:5672/{vhost}"
        self.raw = await aiormq.connect(url)

    async def refused(self, op: Callable[[aiormq.abc.AbstractChannel], Awaitable[Any]]) -> str:
        """The broker's refusal of ``op`` (``broker_refusal``)."""
        assert self.raw is not None
        return await broker_refusal(self.raw, op)

    async def publish(
        self,
        body: bytes,
        *,
        exchange: str = "renkei.hub",
        key: str = "query",
        **props: Any,
    ) -> None:
        """Publish as the raw client, confirmed (a refusal closes the channel: raised)."""
        assert self.raw is not None
        channel = await self.raw.channel()
        try:
            props.setdefault("message_id", str(uuid.uuid4()))
            properties = Basic.Properties(delivery_mode=2, **props)
            confirm = await channel.basic_publish(
                body, exchange=exchange, routing_key=key, properties=properties, mandatory=True
            )
            assert isinstance(confirm, Basic.Ack), confirm
        finally:
            if not channel.is_closed:
                await channel.close()

    async def dead_letter(self, message_id: str) -> Delivery:
        async with asyncio.timeout(10):
            while True:
                letter = await self.dead.get()
                if letter.message_id == message_id:
                    return letter

    async def records(self) -> int:
        assert self.net.records is not None
        return await self.net.records.count()

    async def recorded(self, query_id: str) -> bool:
        assert self.net.records is not None
        key = record_key(CHILD, uuid.UUID(query_id))
        return await self.net.records.exists([key]) == {key}


@pytest.fixture(scope="module")
async def attack() -> AsyncIterator[Attack]:
    async with contextlib.aclosing(real_env()) as envs:  # cleaned up even when set-up fails
        env = await anext(envs)
        try:
            net = await env.network()
            found = Attack(env, net, await env.raw(net, CHILD))
            found.dead = await env.dead_letters(net)
            await found.connect()
            assert found.raw is not None
            try:
                yield found
            finally:
                await found.raw.close()
        finally:
            await env.close()


async def bindings(env: Env) -> list[tuple[str, str, str, str]]:
    """Every binding of the vhost, from the management API."""
    admin = URL(ADMIN)
    auth = {"Authorization": aiohttp.encode_basic_auth(admin.user or "", admin.password or "")}
    vhost = quote(env.settings.broker_vhost, safe="")
    url = URL(f"{admin.with_user(None)}/api/bindings/{vhost}", encoded=True)
    async with aiohttp.ClientSession(headers=auth) as http, http.get(url) as resp:
        assert resp.status == 200, resp.status
        rows = await resp.json()
    return sorted(
        (r["source"], r["destination"], r["destination_type"], r["routing_key"]) for r in rows
    )


def lawful_query(env: Env, *, sender: str = CHILD, seed: int = 71) -> Query:
    return Query(
        envelope=envelope(sender, TAX, "child_allowance"),
        person=env.token(generate_rrc(random.Random(seed)), sender),
        items=("local_tax",),
        params={"fiscal_year": 2024},
    )


# ---- refused by the broker ------------------------------------------------------------------


@pytest.mark.parametrize("as_whom", [TAX, "hub", "token", "monitor", "replayer"])
async def test_publishing_under_another_identitys_user_id_is_refused_by_the_broker(
    attack: Attack, as_whom: str
) -> None:
    body = encode(lawful_query(attack.env))
    why = await attack.refused(
        lambda ch: ch.basic_publish(
            body,
            exchange="renkei.hub",
            routing_key="query",
            properties=Basic.Properties(user_id=attack.user(as_whom), message_id="forged"),
        )
    )
    assert "PRECONDITION_FAILED" in why and "user_id" in why


@pytest.mark.parametrize("queue", OTHERS_QUEUES)
async def test_reading_another_offices_queue_or_the_hubs_is_refused(
    attack: Attack, queue: str
) -> None:
    async def noop(_: aiormq.abc.DeliveredMessage) -> None:
        return None

    assert "ACCESS_REFUSED" in await attack.refused(lambda ch: ch.basic_consume(queue, noop))
    assert "ACCESS_REFUSED" in await attack.refused(lambda ch: ch.basic_get(queue))
    assert "ACCESS_REFUSED" in await attack.refused(lambda ch: ch.queue_purge(queue))
    assert "ACCESS_REFUSED" in await attack.refused(lambda ch: ch.queue_delete(queue))


@pytest.mark.parametrize(
    ("exchange", "key"),
    [
        ("renkei.offices", "office.chiyoda-tax.in"),
        ("", "office.chiyoda-tax.in"),  # the default exchange, straight into the queue
        ("", "renkei.dead"),  # the dead letters: only through renkei.dlx, as itself
        ("renkei.interactive", "hub.interactive"),  # the portal's lane: not a batch office's
        ("monitor.alerts", ""),
        *((name, "office.chiyoda-tax.in") for name in EXCHANGES if name.startswith("amq.")),
    ],
)
async def test_publishing_anywhere_but_the_hub_dlx_and_spans_is_refused(
    attack: Attack, exchange: str, key: str
) -> None:
    """Straight to another office (bypassing the hub), or through any of RabbitMQ's own
    exchanges (the token service is not on the broker: the next test)."""
    body = encode(lawful_query(attack.env))
    why = await attack.refused(
        lambda ch: ch.basic_publish(body, exchange=exchange, routing_key=key)
    )
    assert "ACCESS_REFUSED" in why


async def test_the_token_service_is_out_of_an_offices_reach(attack: Attack) -> None:
    """Not on the broker at all (no exchange, no queue: the hub asks it over the token
    channel), and on that channel an office signing the hello with its own key is refused:
    the connection closed before the token service proves itself or reads a request."""
    body = encode(lawful_query(attack.env))
    why = await attack.refused(
        lambda ch: ch.basic_publish(body, exchange="renkei.token", routing_key="token.requests")
    )
    assert "ACCESS_REFUSED" in why or "NOT_FOUND" in why

    async def noop(_: aiormq.abc.DeliveredMessage) -> None:
        return None

    why = await attack.refused(lambda ch: ch.basic_consume("token.requests", noop))
    assert "ACCESS_REFUSED" in why or "NOT_FOUND" in why
    assert attack.net.token_address is not None
    reader, writer = await asyncio.open_connection(*attack.net.token_address)
    try:
        server = parse_hello(await reader.readexactly(HELLO))
        writer.write(hub_hello(server, attack.env.state.keys[CHILD].signing)[0])
        item = TranslateItem(token=lawful_query(attack.env).person, holder=CHILD, targets=(TAX,))
        writer.write(frame(1, encode(TranslateBatch(items=(item,)))))
        async with asyncio.timeout(10):
            assert await reader.read() == b""  # closed: no proof, no answer
    finally:
        writer.close()


async def test_declaring_and_binding_to_sniff_is_refused_on_every_exchange(attack: Attack) -> None:
    """No queue or exchange of its own (named, server-named, exclusive), no binding of its
    own queues (a copy of every query, every reply, every dead letter, the firehose), no
    exchange-to-exchange binding into an exchange it may write to, no deleting."""
    before = await bindings(attack.env)
    declares: list[Callable[[aiormq.abc.AbstractChannel], Awaitable[Any]]] = [
        lambda ch: ch.queue_declare("sniff"),
        lambda ch: ch.queue_declare(""),  # server-named: amq.gen-…
        lambda ch: ch.queue_declare("sniff", exclusive=True, auto_delete=True),
        lambda ch: ch.exchange_declare("sniff", exchange_type="fanout"),
        lambda ch: ch.exchange_declare("renkei.hub", exchange_type="fanout"),  # redeclared
        lambda ch: ch.exchange_delete("renkei.hub"),
    ]
    for op in declares:
        assert "ACCESS_REFUSED" in await attack.refused(op)
    own = ("office.chiyoda-child.in", "office.chiyoda-child.replies")
    for exchange in EXCHANGES:
        for queue in own:
            for key in ("query", "reply", "#", "office.chiyoda-tax.in", ""):
                why = await attack.refused(
                    lambda ch, q=queue, e=exchange, k=key: ch.queue_bind(q, e, routing_key=k)
                )
                assert "ACCESS_REFUSED" in why, (exchange, queue, key)
        for destination in ("renkei.hub", "renkei.dlx", "renkei.spans"):
            if destination == exchange:
                continue
            why = await attack.refused(
                lambda ch, d=destination, s=exchange: ch.exchange_bind(d, s, routing_key="#")
            )
            assert "ACCESS_REFUSED" in why, (destination, exchange)
    assert await bindings(attack.env) == before


# ---- let through by the broker, refused and recorded by the hub ----------------------------


async def test_a_query_with_no_user_id_is_dead_lettered_unanswered_and_named_unverified(
    attack: Attack,
) -> None:
    """RabbitMQ checks a user_id only when one is set: without it nothing says who sent the
    message, so the hub answers no one and records nothing (a record names its requester);
    the dead letter says why, and names no office."""
    before = await attack.records()
    q = lawful_query(attack.env)
    body = encode(q)
    mid = str(q.envelope.message_id)
    headers = {SIGNATURE_HEADER: sign(body, attack.env.state.keys[CHILD].signing)}
    await attack.publish(body, message_id=mid, content_type=CONTENT_TYPE, headers=headers)
    letter = await attack.dead_letter(mid)
    assert letter.headers[REASON_HEADER].startswith(f"{HUB_UNVERIFIED_SENDER}: ")
    assert USER_HEADER not in letter.headers
    await attack.office.no_more_replies(0.3)
    assert await attack.records() == before


async def test_signed_as_another_office_is_refused_and_recorded_under_the_sender(
    attack: Attack,
) -> None:
    """The envelope says chiyoda-tax; the broker says chiyoda-child: refused, recorded under
    chiyoda-child (the only office it can speak for)."""
    q = lawful_query(attack.env, sender=TAX)
    body = encode(q)
    mid = str(q.envelope.message_id)
    headers = {SIGNATURE_HEADER: sign(body, attack.env.state.keys[CHILD].signing)}
    await attack.publish(
        body, message_id=mid, user_id=attack.user(CHILD), content_type=CONTENT_TYPE, headers=headers
    )
    reply = await attack.office.reply()
    assert isinstance(reply.outcome, Refused) and reply.outcome.code == HUB_SENDER_MISMATCH
    assert await attack.recorded(mid)


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


def _query_data(env: Env) -> dict[str, Any]:
    return orjson.loads(encode(lawful_query(env)))


MALFORMED: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "empty": lambda q: b"",
    "not-json": lambda q: b"\x00\xff\xfe garbage",
    "not-utf8": lambda q: b'{"kind": "query", "x": "\xff\xfe"}',
    "array": lambda q: orjson.dumps([q]),
    "number": lambda q: b"12345678901234567890123456789012345678901234567890",
    "nan": lambda q: orjson.dumps(q)[:-1] + b', "extra": NaN}',
    "nested-100k": lambda q: _deep(100_000),
    "duplicate-key": lambda q: orjson.dumps(q)[:-1] + b', "kind": "reply"}',
    "items-a-string": lambda q: orjson.dumps({**q, "items": "local_tax"}),
    "items-a-number": lambda q: orjson.dumps({**q, "items": 7}),
    "year-huge": lambda q: orjson.dumps(q).replace(
        b'"fiscal_year":2024', b'"fiscal_year":' + b"9" * 40
    ),
    "envelope-a-list": lambda q: orjson.dumps({**q, "envelope": list(q["envelope"].values())}),
    "id-not-uuid": lambda q: orjson.dumps(
        {**q, "envelope": {**q["envelope"], "message_id": "1; DROP TABLE records"}}
    ),
    "unknown-field": lambda q: orjson.dumps({**q, "number": "123456789018"}),
    "a-reply-kind": lambda q: orjson.dumps({**q, "kind": "reply"}),
    "64KiB+1": lambda q: orjson.dumps({**q, "pad": "p" * 65_536}),
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_a_malformed_or_wrongly_typed_body_is_refused_recorded_and_dead_lettered(
    attack: Attack, name: str
) -> None:
    """Signed and sent under chiyoda-child's own user id (all an office can do): one error
    reply, one access record, one dead letter naming the reason and the vouched sender."""
    body = MALFORMED[name](_query_data(attack.env))
    mid = str(uuid.uuid4())
    before = await attack.records()
    headers = {SIGNATURE_HEADER: sign(body, attack.env.state.keys[CHILD].signing)}
    await attack.publish(
        body, message_id=mid, user_id=attack.user(CHILD), content_type=CONTENT_TYPE, headers=headers
    )
    reply = await attack.office.reply()
    assert isinstance(reply.outcome, Failed), reply.outcome
    assert reply.outcome.family == "requester"
    assert reply.outcome.code in {"wire.malformed", "wire.too_large", "hub.unexpected_kind"}
    assert str(reply.envelope.correlation_id) == mid
    letter = await attack.dead_letter(mid)
    assert letter.headers[REASON_HEADER].startswith(reply.outcome.code + ": ")
    assert letter.headers[USER_HEADER] == CHILD
    await attack.office.no_more_replies(0.2)
    assert await attack.recorded(mid)
    assert await attack.records() == before + 1


HEADERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "signature-as-int": lambda sig: {SIGNATURE_HEADER: 12345},
    "signature-as-table": lambda sig: {SIGNATURE_HEADER: {"sig": sig}},
    "signature-as-array": lambda sig: {SIGNATURE_HEADER: [sig, sig]},
    "signature-as-bool": lambda sig: {SIGNATURE_HEADER: True},
    "signature-as-timestamp": lambda sig: {SIGNATURE_HEADER: dt.datetime(2026, 1, 1)},
    "signature-1000-times-longer": lambda sig: {SIGNATURE_HEADER: sig * 1000},
    "no-signature": lambda sig: {},
}


@pytest.mark.parametrize("name", list(HEADERS))
async def test_a_wrongly_typed_or_missing_signature_header_is_refused_and_recorded(
    attack: Attack, name: str
) -> None:
    """A lawful, well-formed query whose signature header is not a string (AMQP tables carry
    bytes, numbers, tables, arrays, booleans, timestamps): the hub reads none of those as a
    signature, so ``wire.bad_signature``, recorded; nothing is forwarded."""
    q = lawful_query(attack.env)
    body = encode(q)
    mid = str(q.envelope.message_id)
    sig = sign(body, attack.env.state.keys[CHILD].signing)
    await attack.publish(
        body,
        message_id=mid,
        user_id=attack.user(CHILD),
        content_type=CONTENT_TYPE,
        headers=HEADERS[name](sig),
    )
    reply = await attack.office.reply()
    assert isinstance(reply.outcome, Refused), reply.outcome
    assert reply.outcome.code == "wire.bad_signature"
    assert await attack.recorded(mid)


@pytest.mark.parametrize(
    "props",
    [
        {"content_type": "application/json; charset=latin-1"},
        {"content_type": "APPLICATION/JSON "},
        {"content_type": "application/x-java-serialized-object"},
    ],
    ids=["charset", "case-and-space", "java"],
)
async def test_a_body_said_to_be_anything_but_plain_json_is_refused_and_recorded(
    attack: Attack, props: dict[str, str]
) -> None:
    q = lawful_query(attack.env)
    body = encode(q)
    mid = str(q.envelope.message_id)
    headers = {SIGNATURE_HEADER: sign(body, attack.env.state.keys[CHILD].signing)}
    await attack.publish(body, message_id=mid, user_id=attack.user(CHILD), headers=headers, **props)
    reply = await attack.office.reply()
    assert isinstance(reply.outcome, Failed) and reply.outcome.code == "wire.content_type"
    assert await attack.recorded(mid)


async def test_a_content_encoding_changes_nothing_the_hub_reads(attack: Attack) -> None:
    """Said to be gzip: the hub never decompresses, it reads the bytes that were signed, so the
    label can make it read nothing else. The query goes through as the plain one would."""
    q = lawful_query(attack.env)
    body = encode(q)
    mid = str(q.envelope.message_id)
    headers = {SIGNATURE_HEADER: sign(body, attack.env.state.keys[CHILD].signing)}
    await attack.publish(
        body,
        message_id=mid,
        user_id=attack.user(CHILD),
        headers=headers,
        content_type=CONTENT_TYPE,
        content_encoding="gzip",
    )
    reply = await attack.office.reply()
    assert not isinstance(reply.outcome, Failed | Refused), reply.outcome
    assert await attack.recorded(mid)


async def test_a_bundle_of_lawful_forged_and_malformed_queries_is_judged_query_by_query(
    attack: Attack,
) -> None:
    """One message of four queries (``hub/bus/README.md``, "Bundles"): a lawful one, one signed
    as another office, one malformed, and a lawful one whose headers claim the dead letters'
    ``renkei-*``. Each is what it would be alone: the lawful ones answered, the forged one
    refused, the malformed one refused and dead-lettered alone under the vouched sender, all
    four recorded under chiyoda-child; the claims change nothing."""
    lawful, forged = lawful_query(attack.env, seed=72), lawful_query(attack.env, sender=TAX)
    claiming = lawful_query(attack.env, seed=73)
    key = attack.env.state.keys[CHILD].signing
    bodies = [encode(lawful), encode(forged), b'{"kind": "query"', encode(claiming)]
    mids = [str(lawful.envelope.message_id), str(forged.envelope.message_id)]
    mids += [str(uuid.uuid4()), str(claiming.envelope.message_id)]
    claims = {USER_HEADER: TAX, REASON_HEADER: "claimed"}
    items = [
        OutMessage(body, mid, None, {SIGNATURE_HEADER: sign(body, key), **extra})
        for body, mid, extra in zip(bodies, mids, [{}, {}, {}, claims], strict=True)
    ]
    before = await attack.records()
    await attack.publish(encode_bundle(items), user_id=attack.user(CHILD), content_type=BUNDLE_TYPE)
    replies = {}
    for _ in items:
        reply = await attack.office.reply()
        replies[str(reply.envelope.correlation_id)] = reply.outcome
    await attack.office.no_more_replies(0.3)
    assert not isinstance(replies[mids[0]], Failed | Refused), replies[mids[0]]
    assert isinstance(replies[mids[1]], Refused) and replies[mids[1]].code == HUB_SENDER_MISMATCH
    assert isinstance(replies[mids[2]], Failed) and replies[mids[2]].code == "wire.malformed"
    assert not isinstance(replies[mids[3]], Failed | Refused), replies[mids[3]]
    letter = await attack.dead_letter(mids[2])
    assert (letter.headers[USER_HEADER], letter.content_type) == (CHILD, CONTENT_TYPE)
    assert all([await attack.recorded(mid) for mid in mids])
    assert await attack.records() == before + 4


async def test_a_malformed_bundle_is_dead_lettered_whole_unread(attack: Attack) -> None:
    """Bytes said to be a bundle that are none: no query is read from them, so no reply and no
    record (nothing names a query); the dead letter keeps them opaque, with the reason and the
    vouched sender."""
    before = await attack.records()
    body = b"RB1\x00\x03" + encode(lawful_query(attack.env))  # no lengths: not a bundle
    await attack.publish(
        body, message_id="bundle-1", user_id=attack.user(CHILD), content_type=BUNDLE_TYPE
    )
    letter = await attack.dead_letter("bundle-1")
    assert letter.headers[REASON_HEADER].startswith("bad bundle: ")
    assert (letter.headers[USER_HEADER], letter.content_type, letter.body) == (CHILD, None, body)
    await attack.office.no_more_replies(0.3)
    assert await attack.records() == before


async def test_after_every_attack_a_lawful_query_is_answered(attack: Attack) -> None:
    """Run last in this module (pytest keeps file order with -p no:randomly; in any order
    it holds): the hub, the broker's topology and the office's channel are intact."""
    q = lawful_query(attack.env)
    body = encode(q)
    await attack.office.send(body, message_id=str(q.envelope.message_id))
    reply = await attack.office.reply(timeout=10)
    assert not isinstance(reply.outcome, Failed | Refused), reply.outcome  # reached the provider
