"""The answer path under faults: every provision recorded, every recorded outcome delivered,
one outcome per query, deadlines kept by the broker (docs/reliability.md, "Faults under load").

Each test drives the requester and the provider by hand on the real RabbitMQ and PostgreSQL and
puts the fault exactly where it bites: the database gone while the hub records an answer, the
reply's publish lost after the record, a hub stalled past the deadline, the forwarding hub
gone while its provider never answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from faults_env import CHILD, Deployment, query

from hub.bus import NotConfirmed
from hub.records import PgRecordStore, digest
from hub.routing.finish import record_key
from hub.routing.portal import DISCLOSURE
from hub.wire import HUB, Answered, Failed, Refused, TimedOut, encode
from portal.office import PortalOffice
from renkei.network import Network

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]
RRC = "12345678903"
PORTAL = "myna-portal"


async def lose_the_first_reply(dep: Deployment, *, after: float = 0.0) -> list[Any]:
    """A hub whose first reply's publish is lost (as by a broker restart or the hub killed
    between its record and its reply), ``after`` seconds (a publish waits for a broker that is
    gone); the list fills when it is."""
    hub = await dep.hub()
    assert hub.router is not None
    finisher = hub.router._d.finisher
    sent = finisher._reply
    lost: list[Any] = []

    async def lose_the_first(*args: Any) -> None:
        if not lost:
            lost.append(args)
            await asyncio.sleep(after)
            raise NotConfirmed("the connection was lost before the confirm")
        await sent(*args)

    finisher._reply = lose_the_first  # type: ignore[method-assign]
    return lost


async def test_a_record_write_failing_holds_the_answer_until_the_database_is_back(
    dep: Deployment,
) -> None:
    """Before: the hub's write failed, the answer was redelivered to the delivery limit in
    milliseconds and dead-lettered; the provision was never recorded nor delivered."""
    await dep.services()
    await dep.hub()
    child, tax, dead = await dep.requester(), await dep.provider(), await dep.dead_letters()
    q = query(dep.token(RRC, CHILD), deadline=30)
    await child.send(encode(q))
    fwd = await tax.forwarded()
    await dep.deadline_left(CHILD, q.envelope.correlation_id)  # the fault on the answer's path
    async with dep.records_unwritable():
        await tax.answer(fwd)
        await asyncio.sleep(8)  # the hub tries, fails, holds on (nothing to wait for: a fault)
        assert await dep.records(CHILD, q.envelope.correlation_id) == []
    reply = await child.reply(timeout=30)
    assert isinstance(reply.outcome, Answered)
    record = await dep.record(CHILD, q.envelope.correlation_id)
    assert record["outcome"] == "ok"
    assert dead.empty()
    await child.no_more_replies()


async def test_past_its_deadline_an_unrecordable_answer_is_recorded_as_timed_out(
    dep: Deployment,
) -> None:
    await dep.services()
    await dep.hub()
    child, tax, dead = await dep.requester(), await dep.provider(), await dep.dead_letters()
    q = query(dep.token(RRC, CHILD), deadline=3)
    await child.send(encode(q))
    fwd = await tax.forwarded()
    await dep.deadline_left(CHILD, q.envelope.correlation_id)  # the fault on the answer's path
    async with dep.records_unwritable():
        await tax.answer(fwd)
        await asyncio.sleep(4)  # past the deadline with the database still gone
    reply = await child.reply(timeout=30)
    assert isinstance(reply.outcome, TimedOut)
    assert (await dep.record(CHILD, q.envelope.correlation_id))["outcome"] == "timed_out"
    assert dead.empty()
    await child.no_more_replies()


async def test_sessions_cut_while_the_deadline_is_written_lose_nothing(dep: Deployment) -> None:
    """The fault of the test above where CI once saw it land: the hub's database sessions cut
    (as by a restart of PostgreSQL) in the middle of the write of the query's deadline, the
    query already on its way, and the records unwritable past the deadline. The request is
    handled again, the query recorded and replied ``timed_out``, nothing dead-lettered. Before:
    asyncpg's pool detached the proxies of the connections the hub kept idle (``hub.kept``: the
    claims', the quotas'), whose ``is_closed`` then raised; the request, handled again, failed on
    them until their idle time ran out, each failure a delivery spent, and went to
    ``renkei.dead`` at its delivery limit."""
    await dep.services()
    hub = await dep.hub()
    assert hub.router is not None
    deadlines = hub.router._d.deadlines
    write, writing = deadlines.add, asyncio.Event()

    async def slow_first_write(pending: Any) -> None:
        if not writing.is_set():
            writing.set()
            await deadlines._adding.run(lambda conn: conn.execute("SELECT pg_sleep(10)"))
        await write(pending)

    deadlines.add = slow_first_write  # type: ignore[method-assign]
    child, tax, dead = await dep.requester(), await dep.provider(), await dep.dead_letters()
    q = query(dep.token(RRC, CHILD), deadline=3)
    await child.send(encode(q))
    fwd = await tax.forwarded()
    await writing.wait()
    async with dep.records_unwritable():  # the cut lands on the deadline's write
        await tax.answer(fwd)
        await asyncio.sleep(4)  # past the deadline with the records still unwritable
    reply = await child.reply(timeout=30)
    assert isinstance(reply.outcome, TimedOut)
    assert (await dep.record(CHILD, q.envelope.correlation_id))["outcome"] == "timed_out"
    await child.no_more_replies()
    assert dead.empty()


async def test_a_record_committed_as_the_sessions_are_cut_is_replied(dep: Deployment) -> None:
    """The hub's database sessions cut just as the answer's record commits (PostgreSQL killed,
    the network lost, between the commit and its acknowledgement): for the hub the write failed;
    it writes again, finds the record there — its own, the same outcome and digest — and
    replies. Before: it took its own record for another's (``query.duplicate``), sent nothing
    and acknowledged the answer, so the requester never had its reply (the deadline's sweep
    found the query answered)."""
    await dep.services()
    hub = await dep.hub()
    records = hub.records
    assert isinstance(records, PgRecordStore)
    insert, cut = records._insert, asyncio.Event()

    async def commit_then_cut(conn: Any, rows: Any) -> None:
        await insert(conn, rows)
        if conn.is_in_transaction() or cut.is_set():  # not committed yet (the locked path)
            return
        cut.set()
        ended = asyncio.Event()
        conn.add_termination_listener(lambda _conn: ended.set())
        await dep.cut_sessions()
        await asyncio.wait_for(ended.wait(), 10)
        raise asyncpg.ConnectionDoesNotExistError(
            "connection was closed in the middle of operation"
        )

    records._insert = commit_then_cut  # type: ignore[method-assign]
    child, tax, dead = await dep.requester(), await dep.provider(), await dep.dead_letters()
    for deadline in (30, 30):  # the first: the store learns the head (its next, one statement)
        q = query(dep.token(RRC, CHILD), deadline=deadline)
        await child.send(encode(q))
        await tax.answer(await tax.forwarded())
        reply = await child.reply(timeout=15)
        assert isinstance(reply.outcome, Answered)
        assert (await dep.record(CHILD, q.envelope.correlation_id))["outcome"] == "ok"
    assert cut.is_set()
    await child.no_more_replies()
    assert dead.empty()


async def test_a_reply_lost_after_its_record_is_sent_again_from_the_redelivered_answer(
    dep: Deployment,
) -> None:
    """The hub recorded ``ok`` and its reply's publish was lost (a broker restart, the hub
    killed): before, the redelivered answer found its record and nothing was ever sent."""
    await dep.services()
    lost = await lose_the_first_reply(dep)
    child, tax = await dep.requester(), await dep.provider()
    q = query(dep.token(RRC, CHILD), deadline=30)
    await child.send(encode(q))
    await tax.answer(await tax.forwarded())
    reply = await child.reply(timeout=30)
    assert lost, "the first reply was not lost: the test did not test anything"
    assert isinstance(reply.outcome, Answered)
    assert len(await dep.records(CHILD, q.envelope.correlation_id)) == 1
    await child.no_more_replies()


async def test_a_reply_lost_after_its_record_is_sent_late_from_an_answer_redelivered_late(
    dep: Deployment,
) -> None:
    """The hub recorded ``ok`` before the deadline; its reply's publish failed after it (the
    broker restarting: a publish waits for it up to 30 s). Before: the answer, redelivered after
    the deadline, was taken for a late one — a time-out, not what the record says — so nothing
    was sent again: the resident's records showed a provision the requester never received
    (found by ``bench/faults.py --rabbitmq``: disagreeing, the asker timed out, the record
    ``ok``). The recorded reply goes out, late."""
    await dep.services()
    lost = await lose_the_first_reply(dep, after=4.0)
    child, tax = await dep.requester(), await dep.provider()
    q = query(dep.token(RRC, CHILD), deadline=3)
    await child.send(encode(q))
    await tax.answer(await tax.forwarded())
    reply = await child.reply(timeout=30)
    assert lost, "the first reply was not lost: the test did not test anything"
    assert isinstance(reply.outcome, Answered), reply.outcome
    [record] = await dep.records(CHILD, q.envelope.correlation_id)
    assert (record["outcome"], record["record_id"]) == ("ok", reply.record_id)
    await child.no_more_replies()


async def test_a_refusal_lost_after_its_record_is_sent_again_to_the_redelivered_request(
    dep: Deployment,
) -> None:
    """A decision the hub makes on the request path (here: no row of the legal table), its
    reply's publish lost after the record: before, the redelivered request found its record, was
    only acknowledged, and the requester timed out while the record said ``refused``."""
    await dep.services()
    lost = await lose_the_first_reply(dep)
    child = await dep.requester()
    lawful = query(dep.token(RRC, CHILD), deadline=30)
    q = lawful.model_copy(update={"items": ("resident_record",)})  # not the tax office's to give
    await child.send(encode(q))
    reply = await child.reply(timeout=30)
    assert lost, "the first reply was not lost: the test did not test anything"
    assert isinstance(reply.outcome, Refused), reply.outcome
    [record] = await dep.records(CHILD, q.envelope.correlation_id)
    assert record["outcome"] == "refused"
    assert reply.record_id == record["record_id"]
    await child.no_more_replies()


async def test_a_hub_stalled_past_the_deadline_records_the_time_out_the_requester_saw(
    dep: Deployment,
) -> None:
    """Before: the requester concluded ``timed out`` and the record said ``refused:
    hub.deadline_passed``."""
    await dep.services()
    child = await dep.requester()
    q = query(dep.token(RRC, CHILD), deadline=1)
    await child.send(encode(q))
    await asyncio.sleep(1.5)  # no hub takes it: a stalled one
    await dep.hub()
    assert (await dep.record(CHILD, q.envelope.correlation_id))["outcome"] == "timed_out"
    assert isinstance((await child.reply()).outcome, TimedOut)


async def test_an_answer_taken_after_the_deadline_is_recorded_as_the_time_out(
    dep: Deployment,
) -> None:
    """The provider answered; no hub took the answer before the deadline (stalled). Before: a
    second hub recorded and sent ``ok`` after the requester had concluded ``timed out``."""
    await dep.services()
    first = await dep.hub()
    child, tax = await dep.requester(), await dep.provider()
    q = query(dep.token(RRC, CHILD), deadline=2)
    await child.send(encode(q))
    fwd = await tax.forwarded()
    await first.aclose()  # the hub stops before the answer comes
    await tax.answer(fwd)
    await asyncio.sleep(2.5)
    await dep.hub()
    assert (await dep.record(CHILD, q.envelope.correlation_id))["outcome"] == "timed_out"
    assert isinstance((await child.reply()).outcome, TimedOut)
    await child.no_more_replies()


async def test_a_forwarding_hub_gone_leaves_its_deadline_to_another(dep: Deployment) -> None:
    """The provider never answers and the hub that forwarded the query is gone: before, no
    time-out was ever recorded (the timer died with the hub)."""
    await dep.services()
    first = await dep.hub()
    await dep.hub()  # a second worker, running all along
    child, tax = await dep.requester(), await dep.provider()
    q = query(dep.token(RRC, CHILD), deadline=2)
    await child.send(encode(q))
    await tax.forwarded()
    await first.aclose()
    record = await dep.record(CHILD, q.envelope.correlation_id)
    assert record["outcome"] == "timed_out"
    assert isinstance((await child.reply(timeout=10)).outcome, TimedOut)
    await child.no_more_replies()


async def test_the_hub_finds_the_token_service_again_after_it_is_gone(dep: Deployment) -> None:
    """The token service stops (its connections cut): a query then is answered
    ``hub.token_service_unavailable`` and recorded; a token service started again at the same
    address is found by the hub's channel by itself, and the next query is answered."""
    token = await dep.services()
    await dep.hub()
    child, tax = await dep.requester(), await dep.provider()
    first = query(dep.token(RRC, CHILD), deadline=30)
    await child.send(encode(first))
    await tax.answer(await tax.forwarded())
    assert isinstance((await child.reply(timeout=30)).outcome, Answered)
    await token.aclose()
    gone = query(dep.token(RRC, CHILD), deadline=30)
    await child.send(encode(gone))
    reply = await child.reply(timeout=30)
    assert isinstance(reply.outcome, Failed)
    assert (reply.outcome.family, reply.outcome.code) == ("hub", "hub.token_service_unavailable")
    assert (await dep.record(CHILD, gone.envelope.correlation_id))["outcome"] == "error"
    await dep.services()  # started again, at the same address
    back = query(dep.token(RRC, CHILD), deadline=30)
    await child.send(encode(back))
    await tax.answer(await tax.forwarded())
    assert isinstance((await child.reply(timeout=30)).outcome, Answered)
    await child.no_more_replies()


class StopBeforeReply:
    """A hub that stops between its record and its reply of a disclosure: its broker connection
    closed without a goodbye (the broker requeues the request it had not acknowledged) and its
    handler ended there, nothing after the record done."""

    def __init__(self, hub: Network) -> None:
        assert hub.router is not None
        self.bus = hub.router._d.bus
        finisher = hub.router._d.finisher
        self.sent = finisher._reply
        self.stopped = asyncio.Event()
        self.closing: asyncio.Task[None] | None = None
        finisher._reply = self  # type: ignore[method-assign]

    async def __call__(self, ctx: Any, *args: Any) -> None:
        if ctx.affair != DISCLOSURE or self.stopped.is_set():
            await self.sent(ctx, *args)
            return
        self.stopped.set()
        # closed from outside this handler (a connection's close waits for its handlers)
        self.closing = asyncio.create_task(self.bus.connection.close())  # type: ignore[attr-defined]
        raise asyncio.CancelledError  # the process is gone: nothing after this point runs


async def test_a_disclosure_lost_after_its_record_is_sent_again_by_the_hub_in_its_place(
    dep: Deployment,
) -> None:
    """情報提供等記録の開示, which the hub answers itself: the hub recorded ``ok`` and stopped
    before its reply went out. Before: the request, redelivered to the hub started in its
    place, found its record — which holds no content — and nothing was sent: the portal timed
    out while the resident's records showed the disclosure provided. Now the reply held with
    the record (sealed for the portal) is sent, and the portal shows the records."""
    net = await dep.services(run=("token", PORTAL))
    portal: PortalOffice = net.apps[PORTAL]
    person = dep.token(RRC, PORTAL)
    first_hub = await dep.hub()
    [earlier] = (await portal.history(person)).entries or [None]  # none yet; its own record now
    assert earlier is None
    stop = StopBeforeReply(first_hub)
    asking = asyncio.create_task(portal.node.ask(DISCLOSURE, HUB, ("access_records",), person))
    await asyncio.wait_for(stop.stopped.wait(), 10)
    assert stop.closing is not None
    await stop.closing
    await dep.hub()  # in its place
    answer = await asyncio.wait_for(asking, 30)
    assert answer.status == "ok", answer
    assert answer.data is not None
    [shown] = answer.data["access_records"]  # the first disclosure's record
    [record] = await dep.db.fetch(
        "SELECT record_id, outcome, reply_digest FROM records.access_record WHERE query_id = $1",
        record_key(PORTAL, answer.query_id),
    )
    assert (record["outcome"], record["record_id"]) == ("ok", answer.record_id)
    assert shown["affair"] == DISCLOSURE and shown["record_id"] != str(answer.record_id)
    # the record's reply digest is the digest of the reply held and sent
    [held] = await dep.db.fetch(
        "SELECT digest, body FROM records.held_reply WHERE key = $1",
        record_key(PORTAL, answer.query_id),
    )
    assert held["digest"] == record["reply_digest"] == digest(held["body"])
    # sealed for the portal: nothing of what it disclosed in clear
    assert b"access_records" not in held["body"] and shown["record_id"].encode() not in held["body"]

    # another office sending the portal's query id (as its own, or as the portal's) is
    # answered for itself — refused and recorded under its own key — never with the portal's
    child = await dep.requester()
    for sender in (CHILD, PORTAL):
        copy = query(dep.token(RRC, CHILD), deadline=30)
        env = copy.envelope.model_copy(
            update={
                "message_id": answer.query_id,
                "correlation_id": answer.query_id,
                "sender": sender,
                "recipient": HUB,
                "affair": DISCLOSURE,
            }
        )
        forged = copy.model_copy(update={"envelope": env, "items": ("access_records",)})
        await child.send(encode(forged))
        reply = await child.reply(timeout=30)
        assert isinstance(reply.outcome, Refused), reply.outcome
    [refused] = await dep.records(CHILD, answer.query_id)
    assert refused["outcome"] == "refused"
    assert len(await dep.records(PORTAL, answer.query_id)) == 1
    await child.no_more_replies()
