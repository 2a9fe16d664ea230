"""The finisher: record once, reply once (only what was recorded), the directory on Enrolled,
an alert for what was recorded."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from hub.directory import MemoryDirectory
from hub.records import Recorded, RecordWriteError, digest
from hub.routing import finish as finish_module
from hub.routing.finish import (
    HELD_SLACK,
    Finisher,
    decided,
    record_id_for,
    record_key,
    record_outcome,
    refused,
    replay_key,
)
from hub.wire import (
    Answered,
    Delivered,
    Enrolled,
    Failed,
    NotFound,
    Refused,
    Reply,
    TimedOut,
    outcome_code,
    outcome_reason,
    seal,
)
from tests.unit.router.desk_fakes import HUB_KEYS, KEYS, NOW, FakeBus, context, token


@dataclass
class FakeSink:
    keys: list[uuid.UUID] = field(default_factory=list)
    kept: dict[uuid.UUID, Recorded] = field(default_factory=dict)
    failing: int = 0  # writes that fail before one goes through
    clock: list[dt.datetime] | None = None  # moved on by each failed write, if given
    bodies: dict[tuple[uuid.UUID, bytes], bytes] = field(default_factory=dict)  # held replies
    held_until: dict[tuple[uuid.UUID, bytes], dt.datetime] = field(default_factory=dict)

    async def record(
        self, ctx: Any, outcome: Any, record_id: Any, at: Any, digest: Any, *, key: uuid.UUID
    ) -> bool:
        if self.failing:
            self.failing -= 1
            if self.clock is not None:
                self.clock[0] += dt.timedelta(seconds=1)
            raise RecordWriteError("the database is gone")
        first = key not in self.keys
        self.keys.append(key)
        if first:  # as WriterSink records it: the reason after the code
            code, why = outcome_code(outcome), outcome_reason(outcome)
            self.kept[key] = Recorded(
                record_outcome(outcome), digest, f"{code}: {why}" if code else why
            )
        return first

    async def recorded(self, key: uuid.UUID) -> Recorded | None:
        return self.kept.get(key)

    async def hold(self, key: uuid.UUID, body: bytes, until: dt.datetime) -> None:
        if self.failing:  # the same database as the records'
            self.failing -= 1
            raise RecordWriteError("the database is gone")
        self.held_until[key, digest(body)] = until
        self.bodies.setdefault((key, digest(body)), body)

    async def held(self, key: uuid.UUID, reply_digest: bytes) -> bytes | None:
        return self.bodies.get((key, reply_digest))


@dataclass
class FakeAnnouncer:
    noted: list[Any] = field(default_factory=list)

    def note(self, sighting: Any) -> None:
        self.noted.append(sighting)


def finisher(
    clock: list[dt.datetime] | None = None,
) -> tuple[Finisher, FakeBus, FakeSink, MemoryDirectory, FakeAnnouncer]:
    bus, sink, directory, announcer = FakeBus(), FakeSink(), MemoryDirectory(), FakeAnnouncer()
    now = clock or [NOW]
    sink.clock = now
    done = Finisher(
        bus=bus,  # type: ignore[arg-type]
        records=sink,
        directory=directory,
        hub_keys=HUB_KEYS,
        clock=lambda: now[0],
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


async def test_a_failed_write_is_tried_again_until_the_record_is_durable(monkeypatch: Any) -> None:
    monkeypatch.setattr(finish_module, "RETRY_FIRST", 0.001)
    done, bus, sink, _, _ = finisher()
    sink.failing, sink.clock = 3, None  # the database back before the deadline
    ctx = context("query", "chiyoda-child", "chiyoda-tax", "child_allowance", ("local_tax",))
    await done.finish(ctx, ANSWER, reply_digest=b"r" * 32)
    [(_, reply)] = bus.sent()
    assert reply.outcome == ANSWER
    assert sink.kept[record_key(ctx.requester, ctx.query_id)][:2] == ("ok", b"r" * 32)


async def test_an_answer_that_cannot_be_recorded_by_its_deadline_is_a_time_out(
    monkeypatch: Any,
) -> None:
    """Never dead-lettered, never sent unrecorded: recorded as what the requester concluded."""
    monkeypatch.setattr(finish_module, "RETRY_FIRST", 0.001)
    done, bus, sink, _, _ = finisher()
    sink.failing = 12  # each failure moves the clock a second: past the 10 s deadline
    ctx = context("query", "chiyoda-child", "chiyoda-tax", "child_allowance", ("local_tax",))
    await done.finish(ctx, ANSWER, reply_digest=b"r" * 32)
    [(_, reply)] = bus.sent()
    assert isinstance(reply.outcome, TimedOut)
    assert sink.kept[record_key(ctx.requester, ctx.query_id)][:2] == ("timed_out", b"")


async def test_a_write_tried_again_that_finds_its_own_answer_recorded_replies(
    monkeypatch: Any,
) -> None:
    """Its first try committed and only the acknowledgement was lost (the session cut)."""
    monkeypatch.setattr(finish_module, "RETRY_FIRST", 0.001)
    done, bus, sink, _, _ = finisher()
    ctx = context("query", "chiyoda-child", "chiyoda-tax", "child_allowance", ("local_tax",))
    key = record_key(ctx.requester, ctx.query_id)
    sink.failing, sink.clock = 1, None
    sink.kept[key] = Recorded("ok", b"r" * 32, "")  # what the first try committed
    sink.keys.append(key)
    await done.finish(ctx, ANSWER, reply_digest=b"r" * 32)
    [(_, reply)] = bus.sent()
    assert reply.outcome == ANSWER


async def test_a_time_out_tried_again_that_finds_a_time_out_recorded_does_not_reply_again(
    monkeypatch: Any,
) -> None:
    """The deadline's sweep and a late answer record the same time-out: the one whose write
    was tried again cannot tell the other's record from its own first try, and the other has
    replied (found by tests/faults/test_answer_path.py: the requester had the time-out twice)."""
    monkeypatch.setattr(finish_module, "RETRY_FIRST", 0.001)
    done, bus, sink, _, _ = finisher()
    ctx = context("query", "chiyoda-child", "chiyoda-tax", "child_allowance", ("local_tax",))
    key = record_key(ctx.requester, ctx.query_id)
    sink.failing, sink.clock = 1, None
    sink.kept[key] = Recorded("timed_out", b"", "shinjuku-tax: ok came after the deadline")
    sink.keys.append(key)
    await done.finish(ctx, TimedOut(reason="chiyoda-tax did not answer before the deadline"))
    assert bus.sent() == []


async def test_an_outcome_after_the_deadline_is_a_time_out() -> None:
    clock = [NOW]
    done, bus, sink, _, _ = finisher(clock)
    ctx = context("query", "chiyoda-child", "chiyoda-tax", "child_allowance", ("local_tax",))
    clock[0] = ctx.deadline
    await done.finish(ctx, ANSWER, reply_digest=b"r" * 32)
    [(_, reply)] = bus.sent()
    assert isinstance(reply.outcome, TimedOut) and reply.outcome.reason
    assert sink.kept[record_key(ctx.requester, ctx.query_id)][:2] == ("timed_out", b"")


async def test_a_change_event_sent_on_stays_delivered_when_its_record_is_late(
    monkeypatch: Any,
) -> None:
    """The holders have it (forwarded before the deadline): a record that can be written only
    after the deadline (the records' disk full, the database restarting) says delivered — not a
    time-out the register would report again under a new id, for every holder to apply twice."""
    monkeypatch.setattr(finish_module, "RETRY_FIRST", 0.001)
    monkeypatch.setattr(finish_module, "RETRY_MOST", 0.001)
    done, bus, sink, _, _ = finisher()
    sink.failing = 12  # each failure moves the clock a second: past the 10 s deadline
    ctx = context("change", "chiyoda-resident", "hub", "change_notice", ("address_changed",))
    await done.finish(ctx, Delivered())
    [(_, reply)] = bus.sent()
    assert reply.outcome == Delivered()
    assert sink.kept[record_key(ctx.requester, ctx.query_id)][0] == "ok"


async def test_a_redelivered_answer_whose_record_exists_is_sent_again() -> None:
    """The hub died between recording and replying: the same answer, redelivered, is sent."""
    done, bus, _, _, _ = finisher()
    ctx = context("query", "chiyoda-child", "chiyoda-tax", "child_allowance", ("local_tax",))
    await done.finish(ctx, ANSWER, reply_digest=b"r" * 32)
    await done.finish(ctx, ANSWER, reply_digest=b"r" * 32, redelivered=True)
    assert [reply.outcome for _, reply in bus.sent()] == [ANSWER, ANSWER]
    # a different answer (another copy, a late one) is never sent, redelivered or not
    await done.finish(ctx, ANSWER, reply_digest=b"s" * 32, redelivered=True)
    await done.finish(ctx, TimedOut(reason="late"), redelivered=True)
    assert len(bus.sent()) == 2


@pytest.mark.parametrize(
    "outcome",
    [
        refused("routing.not_in_legal_table", "no row: chiyoda-child may not ask for pension"),
        NotFound(reason="no such person"),
        TimedOut(reason="the deadline 10:00:00.000000 had passed"),
    ],
)
async def test_a_redelivered_request_whose_decision_is_recorded_gets_it_again(
    outcome: Refused | NotFound | TimedOut,
) -> None:
    """The hub died between recording a decision of no content and replying: the redelivered
    request (``seen``: done) gets the recorded decision again, under the same record id."""
    done, bus, _, _, _ = finisher()
    ctx = context("query", "chiyoda-child", "chiyoda-tax", "child_allowance", ("local_tax",))
    await done.finish(ctx, outcome)
    await done.again(ctx)
    [(_, first), (key, again)] = bus.sent()
    assert key == "office.chiyoda-child.replies"
    assert again.outcome == first.outcome == outcome
    assert again.record_id == first.record_id is not None


async def test_an_answer_or_an_unrecorded_query_is_not_sent_again_from_its_request() -> None:
    """The record holds no content: a provider's answer goes out again only from its
    redelivered answer (it is not held); an error's family is not recorded; a query with no
    record has nothing to say."""
    done, bus, _, _, _ = finisher()
    ctx = context("query", "chiyoda-child", "chiyoda-tax", "child_allowance", ("local_tax",))
    await done.again(ctx)  # nothing recorded
    await done.finish(ctx, ANSWER, reply_digest=b"r" * 32)
    await done.again(ctx)
    assert len(bus.sent()) == 1
    assert decided(Recorded("error", b"", "hub.internal: broken")) is None
    assert decided(Recorded("error", b"", "office.system_error: KeyError")) is None
    assert decided(Recorded("error", b"", "hub.bad_outcome: a provider's")) is None
    assert decided(Recorded("ok", b"r" * 32, "")) is None


@pytest.mark.parametrize(
    "code", ["hub.token_service_unavailable", "hub.provider_unreachable", "hub.no_records"]
)
async def test_the_hubs_own_error_on_the_request_path_is_sent_again(code: str) -> None:
    """The hub died between recording an error it decided at once and replying: before, the
    requester timed out while the record said ``error``; now it is told the error again."""
    done, bus, _, _, _ = finisher()
    ctx = context("query", "chiyoda-child", "chiyoda-tax", "child_allowance", ("local_tax",))
    failed = Failed(family="hub", code=code, reason="down: try later")
    await done.finish(ctx, failed)
    await done.again(ctx)
    [(_, first), (_, again)] = bus.sent()
    assert again.outcome == first.outcome == failed
    assert again.record_id == first.record_id is not None


async def test_an_answer_the_hub_made_is_held_and_sent_again_to_the_redelivered_request() -> None:
    """A disclosure (the portal's 開示, answered by the hub itself): the hub recorded ``ok`` and
    stopped before its reply went out. Before: the redelivered request found the record, which
    holds no content, and sent nothing — the portal timed out while the resident's records
    showed the disclosure provided. Now the answer is held as sent (sealed for the portal)
    under the record's key and reply digest, and sent again, the same, under the same id."""
    done, bus, sink, _, _ = finisher()
    ctx = context("query", "myna-portal", "hub", "disclosure", ("access_records",))
    disclosed = Answered(payload=seal(b'{"access_records": []}', KEYS["myna-portal"].seal))
    await done.finish(ctx, disclosed)
    key = record_key(ctx.requester, ctx.query_id)
    body = disclosed.model_dump_json().encode()
    # the record's reply digest is the digest of what was sent, and that is what is held
    assert sink.kept[key].reply_digest == digest(body)
    assert sink.bodies == {(key, digest(body)): body}
    assert sink.held_until[key, digest(body)] == ctx.deadline + HELD_SLACK
    await done.again(ctx)
    [(_, first), (to, again)] = bus.sent()
    assert to == "office.myna-portal.replies"
    assert again.outcome == first.outcome == disclosed
    assert again.record_id == first.record_id == record_id_for(key)


async def test_a_held_answer_goes_only_to_its_requester_and_only_as_recorded() -> None:
    """Another office redelivering (or sending) the portal's query id gets nothing of it: the
    record key, and so the held reply's, is the requester's own. A held reply whose digest is
    not the record's is never sent."""
    done, bus, sink, _, _ = finisher()
    ctx = context("query", "myna-portal", "hub", "disclosure", ("access_records",))
    await done.finish(ctx, Answered(payload=seal(b"{}", KEYS["myna-portal"].seal)))
    await done.again(replace(ctx, requester="chiyoda-child"))
    key = record_key(ctx.requester, ctx.query_id)
    sink.bodies = {(k, b"x" * 32): b for (k, _), b in sink.bodies.items()}  # not the record's
    await done.again(ctx)
    assert [to for to, _ in bus.sent()] == ["office.myna-portal.replies"]
    assert (
        key == record_key("myna-portal", ctx.query_id) != record_key("chiyoda-child", ctx.query_id)
    )


async def test_a_redelivered_request_another_worker_recorded_first_gets_that_workers_answer() -> (
    None
):
    """Two workers took the same request (the first one's broker connection cut while it went
    on): each makes and holds its own answer (sealed anew), the first recorded wins, and the
    redelivered copy that lost sends the winner's answer — the one the record describes."""
    done, bus, sink, _, _ = finisher()
    ctx = context("query", "myna-portal", "hub", "disclosure", ("access_records",))
    first = Answered(payload=seal(b"{}", KEYS["myna-portal"].seal))
    second = Answered(payload=seal(b"{}", KEYS["myna-portal"].seal))
    assert first != second  # sealed anew: another ephemeral key
    await done.finish(ctx, first)
    await done.finish(ctx, second, redelivered=True)
    await done.finish(ctx, second)  # not a redelivery: a worker that recorded first sent it
    assert [reply.outcome for _, reply in bus.sent()] == [first, first]
    assert len(sink.bodies) == 2


async def test_a_reply_that_cannot_be_held_is_tried_again_before_its_record(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(finish_module, "RETRY_FIRST", 0.001)
    done, bus, sink, _, _ = finisher()
    sink.failing = 1  # the hold fails once: nothing recorded before it is held
    ctx = context("query", "myna-portal", "hub", "disclosure", ("access_records",))
    await done.finish(ctx, ANSWER)
    key = record_key(ctx.requester, ctx.query_id)
    assert sink.keys == [key] and len(sink.bodies) == 1
    await done.again(ctx)
    assert len(bus.sent()) == 2


def test_decided_rebuilds_a_refusal_from_its_record() -> None:
    found = Recorded("refused", b"", "routing.quota_exceeded: over quota: 5 a second")
    assert decided(found) == Refused(code="routing.quota_exceeded", reason="over quota: 5 a second")
