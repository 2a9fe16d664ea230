"""J-LIS does not depend on its CA being up (real RabbitMQ and PostgreSQL): with the CA reading
nothing and its queue of notices full (the broker refuses J-LIS's publish), the registers'
events are still answered; J-LIS keeps each notice in its own PostgreSQL schema and, once the
CA reads again, delivers them all — every certificate revoked, every event applied once, the
outbox empty (``agencies/jlis/outbox.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from e2e_env import ADMIN, ON_RECORD, Env, real_env
from portal_env import FACTS, WHERE
from test_juki_attacks import CHIYODA

from agencies.jlis.numbers import generate_rrc
from agencies.jlis.outbox import OUTBOX
from agencies.jlis.registry import Jlis
from hub.bus import connect_amqp
from hub.bus.juki import juki_identity, juki_notices
from hub.node import schema_for
from hub.wire import Facts
from pki import CaName, CertificationAuthority, CertKind, Endpoints, Hierarchy
from pki.ca.juki import CaNotices
from pki.ca.office import PKI_OFFICE
from renkei.network import Network

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

NOTICES = juki_notices(PKI_OFFICE)
PEOPLE = 6
ROOM = 2  # the CA's queue takes this many notices, then the broker refuses J-LIS's publishes


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[tuple[Env, Network]]:
    async with contextlib.aclosing(real_env()) as envs:
        env = await anext(envs)
        try:  # the CA's queue is on 住基ネット, but no CA reads it
            yield env, await env.network(run=["hub", "token", "jlis", CHIYODA])
        finally:
            await env.close()


async def bound_the_cas_queue(env: Env, length: int) -> None:
    """A policy over the deployment's own (``juki-bounded``): the CA's queue holds ``length``."""
    vhost = quote(env.settings.juki_vhost, safe="")
    body = {
        "pattern": f"^{NOTICES}$",
        "definition": {"max-length": length, "overflow": "reject-publish"},
        "priority": 9,
        "apply-to": "queues",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.put(f"{ADMIN}/api/policies/{vhost}/ca-full", json=body) as r,
    ):
        assert r.status in (201, 204), await r.text()


async def kept_rows(env: Env) -> int:
    conn = await asyncpg.connect(env.settings.db_url)
    try:
        n: int = await conn.fetchval(
            f"SELECT count(*) FROM {schema_for('jlis')}.docs WHERE collection = $1", OUTBOX
        )
    finally:
        await conn.close()
    return n


async def test_register_events_are_answered_while_the_ca_is_down_and_revoked_once_after(
    env: tuple[Env, Network],
) -> None:
    e, net = env
    await bound_the_cas_queue(e, ROOM)
    now = dt.datetime.now(dt.UTC)
    ca = CertificationAuthority(
        Hierarchy.generate(now - dt.timedelta(days=2)),
        holder_key=b"h" * 32,
        endpoints=Endpoints("http://127.0.0.1:9"),
    )
    jlis: Jlis = net.apps["jlis"]
    people = [generate_rrc(random.Random()) for _ in range(PEOPLE)]
    await jlis.register(dict.fromkeys(people, ON_RECORD), municipality="131016")
    cards = {}
    for rrc in people:
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        since = now - dt.timedelta(days=1)
        cards[rrc] = ca.issue(
            CertKind.SIGNATURE, key, f"t:{uuid.uuid4().hex}", WHERE, FACTS, code=rrc,
            not_before=since,
        )  # fmt: skip

    # the CA is down: every 転居 is answered all the same (within the link's 10 s)
    moved = Facts.of({**ON_RECORD.model_dump(), "address": "東京都千代田区丸の内一丁目1番1号"})
    events = {rrc: str(uuid.uuid4()) for rrc in people}
    link = net.juki[CHIYODA]
    async with asyncio.timeout(30):
        for rrc in people:
            await link.noted(
                rrc, moved, municipality="131016", reason="転居", event=events[rrc],
                effective=dt.date.today(),
            )  # fmt: skip
    # refused by the broker (a quorum queue takes about ROOM), kept in J-LIS's PostgreSQL
    assert await kept_rows(e) >= PEOPLE - ROOM - 1
    assert all(ca.status(CaName.SIGNATURE, c.serial)[1] is None for c in cards.values())

    # the CA reads again: each notice arrives (the sender retries with back-off), applied once
    applied: Counter[str] = Counter()
    delivered: Counter[str] = Counter()
    apply = ca.apply_notice

    def counting(kind, code, event, *, recorded=None):  # type: ignore[no-untyped-def]
        delivered[event] += 1
        done = apply(kind, code, event, recorded=recorded)
        applied[event] += done is not None
        return done

    ca.apply_notice = counting  # type: ignore[method-assign]
    identity = juki_identity(PKI_OFFICE)
    bus = await connect_amqp(
        e.settings.juki_url_for(identity, e.state.passwords[identity]),
        identity=identity,
        user_prefix=e.settings.broker_user_prefix,
    )
    reader = CaNotices(ca, bus, code=PKI_OFFICE, jlis="jlis")
    await reader.start()
    try:
        async with asyncio.timeout(60):
            while await kept_rows(e) or len(applied) < PEOPLE:  # noqa: ASYNC110 - polls PG
                await asyncio.sleep(0.2)
        for rrc, card in cards.items():
            assert ca.status(CaName.SIGNATURE, card.serial)[1] is not None, rrc
        assert set(applied) == set(events.values())
        assert all(n == 1 for n in applied.values())  # revoked once per event
        assert all(n >= 1 for n in delivered.values())
    finally:
        await reader.stop()
        await bus.close()
