"""J-LIS's outbox of 異動等失効情報 for its CA (``agencies/jlis/outbox.py``): kept in J-LIS's
store, sent oldest first and deleted only after the broker's confirm, kept when a publish fails;
and on the in-process broker, a register's events answered while the CA's queue is full, every
notice delivered once the CA reads again."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest
from test_offices_juki import CHIYODA, REGISTERS
from test_offices_register_desk import KEPT

from agencies.jlis.juki import JukiServer
from agencies.jlis.outbox import OUTBOX, NoticeSender, Outbox, drain
from agencies.jlis.registry import Jlis
from agencies.municipality.juki import JukiLink
from hub.bus import Delivery, InMemoryBroker, OutMessage, Rejected
from hub.bus.juki import juki_identity, juki_notices, juki_topology
from hub.bus.topology import Policy
from hub.node import MemoryStore
from hub.node.backoff import Backoff
from hub.numbers import resident_record_code
from hub.wire import Facts
from hub.wire.juki import JukiNotice

CA = "jlis-pki"


def notice(kind: str = "moved") -> JukiNotice:
    rrc = resident_record_code(f"{uuid.uuid4().int % 10**10:010d}")
    return JukiNotice.model_validate({"v": 1, "event": str(uuid.uuid4()), "rrc": rrc, "kind": kind})


async def test_drain_sends_the_oldest_first_and_deletes_each_after_its_confirm() -> None:
    store = MemoryStore()
    outbox = Outbox(store, CA)
    kept = [notice(), notice("died"), notice("number_changed")]
    for n in kept:
        await outbox.keep(n)
    sent: list[JukiNotice] = []

    async def publish(n: JukiNotice) -> None:
        assert await store.get(OUTBOX, n.event) is not None  # still kept while it is sent
        sent.append(n)

    assert await drain(outbox, publish) == 3
    assert sent == kept
    assert await outbox.pending() == [] and await store.keys(OUTBOX) == []
    assert await drain(outbox, publish) == 0


async def test_a_failed_publish_keeps_that_notice_and_the_later_ones() -> None:
    outbox = Outbox(MemoryStore(), CA)
    kept = [notice() for _ in range(3)]
    for n in kept:
        await outbox.keep(n)
    tries: list[str] = []

    async def refused_second(n: JukiNotice) -> None:
        tries.append(n.event)
        if len(tries) == 2:
            raise Rejected.publish("juki.out", juki_notices(CA))

    with pytest.raises(Rejected):
        await drain(outbox, refused_second)
    assert await outbox.pending() == kept[1:]

    async def ok(n: JukiNotice) -> None:
        tries.append(n.event)

    assert await drain(outbox, ok) == 2
    assert tries == [kept[0].event, kept[1].event, kept[1].event, kept[2].event]
    assert await outbox.pending() == []


async def test_a_notice_kept_again_is_one_row_as_first_kept() -> None:
    store = MemoryStore()
    outbox = Outbox(store, CA)
    n = notice()
    await outbox.keep(n)
    first = await store.get(OUTBOX, n.event)
    await asyncio.sleep(0.01)
    await outbox.keep(n)
    assert await store.keys(OUTBOX) == [n.event]
    assert await store.get(OUTBOX, n.event) == first
    assert await Outbox(store, "another-ca").pending() == []  # each CA its own


async def test_register_events_are_answered_while_the_cas_queue_is_full(jlis: Jlis) -> None:
    """The CA reads nothing and its queue takes one message: every register event is answered
    all the same; the CA reading again gets every notice, each once, and the outbox empties."""
    topology = juki_topology(REGISTERS, ca=CA)
    tight = Policy("ca-full", rf"^{juki_notices(CA)}$", {"max-length": 1, "overflow": "reject-publish"}, priority=9)  # fmt: skip
    broker = InMemoryBroker(dataclasses.replace(topology, policies=(*topology.policies, tight)))
    server = JukiServer(jlis, broker.connect(juki_identity("jlis")), REGISTERS, CA)
    assert server.sender is not None and server.outbox is not None
    server.sender.backoff = Backoff(first=0.01, most=0.05)
    link = JukiLink(CHIYODA, broker.connect(juki_identity(CHIYODA)), timeout=2)
    await server.start()
    await link.start()
    people = [resident_record_code(f"{uuid.uuid4().int % 10**10:010d}") for _ in range(4)]
    await jlis.register(dict.fromkeys(people, KEPT), municipality="131016")
    moved = Facts.of({**KEPT.model_dump(), "address": "東京都千代田区丸の内一丁目1番1号"})
    events = [str(uuid.uuid4()) for _ in people]
    for rrc, event in zip(people, events, strict=True):  # each answered, none waits on the CA
        await link.noted(
            rrc, moved, municipality="131016", reason="転居", event=event,
            effective=dt.date(2026, 12, 1),
        )  # fmt: skip
    await asyncio.sleep(0.1)
    assert len(await server.outbox.pending()) >= 2  # the CA's queue took what it could

    got: list[JukiNotice] = []

    async def keep(d: Delivery) -> None:
        got.append(JukiNotice.model_validate_json(d.body))
        await d.ack()

    sub = await broker.connect(juki_identity(CA)).consume(juki_notices(CA), keep)
    async with asyncio.timeout(5):
        while len(got) < 4 or await server.outbox.pending():  # noqa: ASYNC110 - in a task
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert sorted(n.event for n in got) == sorted(events)  # each once (deleted once confirmed)
    assert {(n.rrc, n.kind) for n in got} == {(rrc, "moved") for rrc in people}
    assert all(n.at is not None for n in got)  # J-LIS's 記録年月日
    await sub.cancel()
    await link.stop()
    await server.stop()


async def test_the_sender_keeps_trying_after_a_failure() -> None:
    """A publish refused (the CA's queue full) is tried again after the back-off."""
    outbox = Outbox(MemoryStore(), CA)
    await outbox.keep(notice())
    calls = 0

    class FlakyBus:
        identity = juki_identity("jlis")

        async def publish(self, *_: object, **__: object) -> None:
            nonlocal calls
            calls += 1
            if calls < 3:
                raise Rejected("full")

    sender = NoticeSender(outbox, FlakyBus(), backoff=Backoff(first=0.01, most=0.02))  # type: ignore[arg-type]
    await sender.start()
    async with asyncio.timeout(5):
        while await outbox.pending():  # noqa: ASYNC110 - the sender runs in a task
            await asyncio.sleep(0.01)
    await sender.stop()
    assert calls == 3


async def test_the_memory_store_deletes_a_document_and_its_token() -> None:
    store = MemoryStore()
    await store.put_many("c", [("a", "t-a", {"n": 1}), ("b", None, {"n": 2})])
    await store.delete("c", "a")
    await store.delete("c", "missing")
    assert await store.keys("c") == ["b"]
    assert await store.by_token("c", "t-a") is None and await store.token("c", "a") is None


async def test_the_sender_outlives_its_store_out_of_reach() -> None:
    """J-LIS's PostgreSQL out of reach for a while: the sender tries again, it does not end."""

    class Flaky(MemoryStore):
        fails = 2

        async def find(self, collection: str, field: str, value: str) -> list[tuple[str, Any]]:
            if self.fails:
                self.fails -= 1
                raise OSError("connection refused")
            return await super().find(collection, field, value)

    outbox = Outbox(Flaky(), CA)
    await outbox.keep(notice())
    published: list[str] = []

    class Bus:
        identity = juki_identity("jlis")

        async def publish(self, _x: str, _k: str, out: OutMessage, **_: object) -> None:
            published.append(out.message_id)

    sender = NoticeSender(outbox, Bus(), backoff=Backoff(first=0.01, most=0.02))  # type: ignore[arg-type]
    await sender.start()
    async with asyncio.timeout(5):
        while not published:  # noqa: ASYNC110 - the sender runs in a task
            await asyncio.sleep(0.01)
    await sender.stop()
    assert len(published) == 1 and await outbox.pending() == []
