"""The deadline sweeper: due deadlines without a record are timed out (recorded, then
answered) once; answered ones just go; forged or garbled rows are logged and dropped; a sweep
that fails leaves its rows to the next."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
from dataclasses import replace
from typing import Any

import pytest
from structlog.testing import capture_logs

from hub.records import InvalidRecord, MemoryDeadlineStore, Pending
from hub.routing.context import Context, ContextSealer
from hub.routing.deadlines import Sweeper
from hub.routing.finish import Finisher, record_key
from hub.wire import Reply, TimedOut
from tests.unit.router.desk_fakes import NOW, SEALER, context
from tests.unit.router.test_router_finish import ANSWER, FakeSink, finisher

S = dt.timedelta(seconds=1)


def query(deadline: dt.datetime = NOW) -> Context:
    ctx = context("query", "chiyoda-child", "chiyoda-tax", "child_allowance", ("local_tax",))
    return replace(ctx, deadline=deadline)


def pending(ctx: Context, sealed: str | None = None) -> Pending:
    return Pending(
        record_key(ctx.requester, ctx.query_id),
        ctx.deadline,
        SEALER.seal(ctx) if sealed is None else sealed,
    )


def sweeper(
    now: list[dt.datetime], **kw: Any
) -> tuple[Sweeper, MemoryDeadlineStore, Finisher, Any, FakeSink]:
    done, bus, sink, _, _ = finisher(now)
    store = MemoryDeadlineStore(sink)
    sweep = Sweeper(store=store, sealer=SEALER, finisher=done, clock=lambda: now[0], **kw)
    return sweep, store, done, bus, sink


def replies(bus: Any, ctx: Context) -> list[Any]:
    return [r.outcome for _, r in bus.sent() if r.envelope.correlation_id == ctx.query_id]


async def test_a_due_deadline_without_a_record_is_timed_out_once() -> None:
    now = [NOW]
    sweep, store, _, bus, sink = sweeper(now)
    ctx = query(NOW + 2 * S)
    await store.add([pending(ctx)])
    assert await sweep.sweep() == 0.25  # not due: nothing done
    assert replies(bus, ctx) == [] and len(store.pending()) == 1
    now[0] = ctx.deadline
    await sweep.sweep()
    key = record_key(ctx.requester, ctx.query_id)
    assert sink.kept[key].outcome == "timed_out"
    [outcome] = replies(bus, ctx)
    assert isinstance(outcome, TimedOut) and "did not answer" in outcome.reason
    assert store.pending() == []
    await sweep.sweep()
    assert len(replies(bus, ctx)) == 1


async def test_the_next_sweep_is_at_the_nearest_deadline_when_it_is_nearer() -> None:
    now = [NOW]
    sweep, store, _, _, _ = sweeper(now)
    assert await sweep.sweep() == 0.25  # nothing kept
    await store.add([pending(query(NOW + dt.timedelta(milliseconds=100)))])
    assert await sweep.sweep() == pytest.approx(0.1)


async def test_an_answered_querys_deadline_just_goes() -> None:
    """The usual case: the answer was recorded; its row goes in the sweep, nothing is sent."""
    now = [NOW]
    sweep, store, done, bus, sink = sweeper(now)
    ctx = query(NOW + S)
    await store.add([pending(ctx)])
    await done.finish(ctx, ANSWER)
    now[0] += 2 * S
    await sweep.sweep()
    assert replies(bus, ctx) == [ANSWER] and store.pending() == []
    assert sink.keys == [record_key(ctx.requester, ctx.query_id)]  # no second write tried


async def test_an_answer_recorded_during_the_sweep_wins() -> None:
    """The answer lands between the sweep's read and its record: the first outcome recorded
    is the one sent, once (the sweep's time-out finds the record taken)."""
    now = [NOW]
    sweep, store, done, bus, _ = sweeper(now)
    ctx = query(NOW)
    await store.add([pending(ctx)])
    due = store.due

    def answered_meanwhile(at: dt.datetime, limit: int) -> Any:
        async def enter() -> Any:
            held = due(at, limit)
            rows = await held.__aenter__()
            now[0] = ctx.deadline - dt.timedelta(milliseconds=1)  # in time, by this worker
            await done.finish(ctx, ANSWER)
            now[0] = ctx.deadline
            return held, rows

        class Held:
            async def __aenter__(self) -> Any:
                self.held, rows = await enter()
                return rows

            async def __aexit__(self, *exc: Any) -> Any:
                return await self.held.__aexit__(*exc)

        return Held()

    store.due = answered_meanwhile  # type: ignore[method-assign]
    await sweep.sweep()
    assert replies(bus, ctx) == [ANSWER] and store.pending() == []


async def test_a_recorded_time_out_still_pending_is_sent_again() -> None:
    """A sweep that died between its record and its reply: the row came back; the time-out
    recorded is sent again (the requester drops a copy it had), not recorded twice."""
    now = [NOW]
    sweep, store, done, bus, sink = sweeper(now)
    ctx = query(NOW)
    await store.add([pending(ctx)])
    sent = done._reply
    lost: list[Any] = []

    async def lose_the_first(*args: Any) -> None:
        if not lost:
            lost.append(args)
            raise ConnectionResetError("the broker went away")
        await sent(*args)

    done._reply = lose_the_first  # type: ignore[method-assign]
    with capture_logs() as logs:
        await sweep.sweep()
    assert lost and replies(bus, ctx) == [] and len(store.pending()) == 1  # left
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["deadline.retry"]
    await sweep.sweep()
    [outcome] = replies(bus, ctx)
    assert isinstance(outcome, TimedOut) and store.pending() == []
    key = record_key(ctx.requester, ctx.query_id)
    assert sink.kept[key].outcome == "timed_out" and len(sink.kept) == 1


async def test_a_time_out_the_answer_path_recorded_and_sent_is_not_sent_again() -> None:
    """An answer taken after the deadline is recorded as the time-out and that is sent (the
    answer path); its row, swept after, sends nothing more (before: a second copy, found by
    ``tests/faults/test_answer_path.py`` in CI)."""
    now = [NOW]
    sweep, store, done, bus, sink = sweeper(now)
    ctx = query(NOW)
    await store.add([pending(ctx)])
    await done.finish(ctx, TimedOut(reason="shinjuku-tax: ok came after the deadline"))
    await sweep.sweep()
    assert len(replies(bus, ctx)) == 1 and store.pending() == []
    assert len(sink.kept) == 1


async def test_a_failed_finish_leaves_its_row_to_the_next_sweep_and_the_rest_go() -> None:
    """One time-out that cannot be finished now (a bug, the broker gone) holds up neither the
    sweep nor the others: its row stays for the next sweep, the others are done and deleted."""
    now = [NOW]
    sweep, store, _, bus, sink = sweeper(now)
    ctxs = [query(NOW - i * S) for i in range(3)]
    await store.add([pending(c) for c in ctxs])
    boom = ctxs[1]
    original = sink.record

    async def failing_for_one(ctx: Any, *args: Any, **kw: Any) -> bool:
        if ctx.query_id == boom.query_id and not getattr(failing_for_one, "done", False):
            failing_for_one.done = True  # type: ignore[attr-defined]
            raise RuntimeError("a bug")
        return await original(ctx, *args, **kw)

    sink.record = failing_for_one  # type: ignore[method-assign]
    await sweep.sweep()
    assert [p.key for p in store.pending()] == [pending(boom).key]
    assert [len(replies(bus, c)) for c in ctxs] == [1, 0, 1]
    await sweep.sweep()
    assert store.pending() == []
    assert [len(replies(bus, c)) for c in ctxs] == [1, 1, 1]
    assert len(sink.kept) == 3


def _another_query_context() -> str:
    return SEALER.seal(query())


@pytest.mark.parametrize(
    "sealed",
    [
        "not base64 at all!",
        base64.b64encode(os.urandom(80)).decode(),  # random: not the hub's seal
        ContextSealer(b"k" * 32).seal(query()),  # another key's seal
        "",
        "x" * 100_000,  # oversized
        "a" * 3,
    ],
)
async def test_a_forged_or_garbled_row_is_logged_and_dropped(sealed: str) -> None:
    """Not a crash loop: the bad row goes, and the good rows of the same sweep are finished."""
    now = [NOW]
    sweep, store, _, bus, _ = sweeper(now)
    good, bad = query(), query()
    await store.add([pending(good), pending(bad, sealed)])
    with capture_logs() as logs:
        await sweep.sweep()
    assert store.pending() == []
    assert isinstance(replies(bus, good)[0], TimedOut) and replies(bus, bad) == []
    [refused] = [e for e in logs if e["event"] == "deadline.refused"]
    assert refused["code"] == "routing.forged_context" and refused["key"] == str(pending(bad).key)
    assert not sealed or sealed[:20] not in str(refused)  # the row itself is not in the log


async def test_a_context_under_another_querys_key_is_dropped() -> None:
    """A genuine context filed under another key (a row moved by whoever can write the table)
    would time out a query that is not the row's: refused."""
    now = [NOW]
    sweep, store, _, bus, sink = sweeper(now)
    victim, other = query(), query()
    await store.add([Pending(pending(victim).key, NOW, _another_query_context())])
    await store.add([pending(other)])
    with capture_logs() as logs:
        await sweep.sweep()
    assert (
        replies(bus, victim) == []
        and record_key(victim.requester, victim.query_id) not in sink.kept
    )
    assert any(e["event"] == "deadline.refused" for e in logs)


async def test_an_unrecordable_context_is_logged_and_dropped() -> None:
    """The hub's own seal over a context no record can hold (a bug): not retried forever."""
    now = [NOW]
    sweep, store, _, bus, _ = sweeper(now)
    bad = query()

    async def invalid(*_: Any, **__: Any) -> None:
        raise InvalidRecord("query_digest must be 32 bytes (sha256)")

    sweep._finisher.finish = invalid  # type: ignore[method-assign]
    await store.add([pending(bad)])
    with capture_logs() as logs:
        await sweep.sweep()
    assert store.pending() == [] and replies(bus, bad) == []
    assert [e["event"] for e in logs] == ["deadline.unrecordable"]


async def test_a_full_sweep_is_followed_by_another_at_once() -> None:
    now = [NOW]
    sweep, store, _, bus, _ = sweeper(now, limit=2)
    ctxs = [query(NOW - i * S) for i in range(3)]
    await store.add([pending(c) for c in ctxs])
    assert await sweep.sweep() == 0.0
    assert len(store.pending()) == 1
    assert [len(replies(bus, c)) for c in ctxs] == [0, 1, 1]  # the oldest first
    assert await sweep.sweep() == 0.25
    assert store.pending() == []


class GoneStore:
    def __init__(self) -> None:
        self.calls = 0

    async def nearest(self) -> dt.datetime | None:
        self.calls += 1
        raise ConnectionResetError("the database is gone")


async def test_the_sweeper_outlives_a_store_that_fails() -> None:
    done, _, _, _, _ = finisher()
    store = GoneStore()
    sweep = Sweeper(store=store, sealer=SEALER, finisher=done, clock=lambda: NOW, every=0.01)  # type: ignore[arg-type]
    with capture_logs() as logs:
        sweep.start()
        await asyncio.sleep(0.1)
        await sweep.stop()
    assert store.calls >= 3
    assert any(e["event"] == "deadlines.sweep_failed" for e in logs)


async def test_two_sweepers_on_one_store_answer_each_query_once() -> None:
    """Each row is held by one sweep at a time (the memory store's lock; PostgreSQL's SKIP
    LOCKED in tests/integration): run together, they finish every query exactly once."""
    now = [NOW]
    first, store, done, bus, sink = sweeper(now)
    second = Sweeper(store=store, sealer=SEALER, finisher=done, clock=lambda: now[0], limit=7)
    ctxs = [query(NOW - dt.timedelta(milliseconds=i)) for i in range(40)]
    await store.add([pending(c) for c in ctxs])
    for _ in range(6):
        await asyncio.gather(first.sweep(), second.sweep())
    assert store.pending() == []
    assert all(len(replies(bus, c)) == 1 for c in ctxs)
    assert len(sink.keys) == len(ctxs)  # no key written twice
    assert all(isinstance(r, Reply) for _, r in bus.sent())
