"""The finisher: record once, reply once (only what was recorded), the directory on Enrolled,
an alert for what was recorded."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from hub.directory import MemoryDirectory
from hub.routing.finish import Finisher, record_id_for, record_key, refused, replay_key
from hub.wire import Answered, Delivered, Enrolled, Reply, seal
from tests.unit.router.desk_fakes import HUB_KEYS, KEYS, NOW, FakeBus, context, token


@dataclass
class FakeSink:
    keys: list[uuid.UUID] = field(default_factory=list)

    async def record(
        self, ctx: Any, outcome: Any, record_id: Any, at: Any, digest: Any, *, key: uuid.UUID
    ) -> bool:
        first = key not in self.keys
        self.keys.append(key)
        return first


@dataclass
class FakeAnnouncer:
    noted: list[Any] = field(default_factory=list)

    def note(self, sighting: Any) -> None:
        self.noted.append(sighting)


def finisher() -> tuple[Finisher, FakeBus, FakeSink, MemoryDirectory, FakeAnnouncer]:
    bus, sink, directory, announcer = FakeBus(), FakeSink(), MemoryDirectory(), FakeAnnouncer()
    done = Finisher(
        bus=bus,  # type: ignore[arg-type]
        records=sink,
        directory=directory,
        hub_keys=HUB_KEYS,
        clock=lambda: NOW,
        announcer=announcer,  # type: ignore[arg-type]
    )
    return done, bus, sink, directory, announcer


ANSWER = Answered(payload=seal(b"{}", KEYS["chiyoda-child"].seal))


async def test_a_query_is_recorded_and_answered_once() -> None:
    done, bus, sink, _, announcer = finisher()
    ctx = context("query", "chiyoda-child", "chiyoda-tax", "child_allowance", ("local_tax",))
    await done.finish(ctx, ANSWER)
    await done.finish(ctx, refused("hub.late", "a second outcome"))  # a redelivery, a late one
    assert sink.keys == [record_key(ctx.requester, ctx.query_id)] * 2
    [(key, reply)] = bus.sent()
    assert key == "office.chiyoda-child.replies" and isinstance(reply, Reply)
    assert reply.outcome == ANSWER and reply.envelope.correlation_id == ctx.query_id
    assert reply.record_id == record_id_for(record_key(ctx.requester, ctx.query_id))
    [sighting] = announcer.noted
    assert sighting.record_id == reply.record_id and sighting.status == "ok"


async def test_an_enrollment_enters_the_holding_once() -> None:
    done, _, _, directory, _ = finisher()
    ctx = context("enroll", "chiyoda-child", "jlis", "enrollment")

    ctx = replace(ctx, person=token("p1", "hub"))
    enrolled = Enrolled(token=token("p1", "chiyoda-child"))
    await done.finish(ctx, enrolled)
    await done.finish(ctx, enrolled)
    [held] = await directory.holders(ctx.person)
    assert (held.office, held.since) == ("chiyoda-child", NOW)


async def test_a_refused_replay_is_recorded_under_a_key_of_its_own() -> None:
    done, bus, sink, _, _ = finisher()
    ctx = context("query", "chiyoda-child", "chiyoda-tax", "child_allowance", ("local_tax",))
    key = replay_key(ctx.requester, ctx.query_id, b"other")
    await done.finish(ctx, refused("hub.replayed_query", "again"), key=key)
    assert sink.keys == [key]
    [(_, reply)] = bus.sent()
    assert reply.record_id == record_id_for(key)


async def test_a_notice_is_answered_but_not_an_access_record() -> None:
    done, bus, sink, _, announcer = finisher()
    ctx = context("notice", "chiyoda-tax", "myna-portal", "notice")
    await done.finish(ctx, Delivered())
    assert sink.keys == [] and announcer.noted == []
    [(_, reply)] = bus.sent()
    assert reply.outcome == Delivered() and reply.record_id is None
