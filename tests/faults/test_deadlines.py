"""A query's deadline, kept in PostgreSQL, outlives a crash of PostgreSQL: written before the
forward counts as sent (a durable commit), it is there after the server stops without a
checkpoint (``pg_ctl stop -m immediate``, as a kill) and starts again, and a sweeper then
records and answers the time-out."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace

import asyncpg
import pytest
from campaign import own_postgres
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.directory import MemoryDirectory
from hub.records import Pending, PgDeadlineStore, PgRecordStore, RecordWriter, ReplyHold
from hub.routing.deadlines import Sweeper
from hub.routing.finish import Finisher, WriterSink, record_key
from hub.wire import TimedOut
from tests.unit.router.desk_fakes import HUB_KEYS, SEALER, FakeBus, context

pytestmark = [pytest.mark.postgres]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def test_a_pending_deadline_survives_a_crash_of_postgresql() -> None:
    key = Ed25519PrivateKey.generate()
    with own_postgres() as (url, pg_ctl):
        async with asyncpg.create_pool(url + "postgres", min_size=1, max_size=2) as pool:
            await PgRecordStore(pool, signing_key=key).migrate()
            ctxs = [
                replace(
                    context("query", "chiyoda-child", "chiyoda-tax", "child_allowance"),
                    deadline=utcnow() + dt.timedelta(seconds=1),
                    query_digest=bytes(32),
                )
                for _ in range(3)
            ]
            await PgDeadlineStore(pool).add(
                [
                    Pending(record_key(c.requester, c.query_id), c.deadline, SEALER.seal(c))
                    for c in ctxs
                ]
            )
        for args in (["stop", "-m", "immediate"], ["start", "-w"]):  # a kill, then back
            proc = await asyncio.create_subprocess_exec(
                *pg_ctl, *args, stdout=asyncio.subprocess.DEVNULL
            )
            assert await proc.wait() == 0, f"pg_ctl {args[0]} failed"
        async with asyncpg.create_pool(url + "postgres", min_size=1, max_size=3) as pool:
            records = PgRecordStore(pool, signing_key=key)
            async with RecordWriter(records) as writer:
                bus = FakeBus()
                done = Finisher(
                    bus=bus,  # type: ignore[arg-type]
                    records=WriterSink(writer, ReplyHold(records, clock=utcnow)),
                    directory=MemoryDirectory(),
                    hub_keys=HUB_KEYS,
                    clock=utcnow,
                )
                sweeper = Sweeper(
                    store=PgDeadlineStore(pool), sealer=SEALER, finisher=done, clock=utcnow
                )
                async with asyncio.timeout(10):
                    while len(bus.sent()) < len(ctxs):  # noqa: ASYNC110 - the sweeps are the test
                        await asyncio.sleep(await sweeper.sweep())
            for ctx in ctxs:
                found = await records.recorded(record_key(ctx.requester, ctx.query_id))
                assert found is not None and found.outcome == "timed_out"
            assert sorted(str(r.envelope.correlation_id) for _, r in bus.sent()) == sorted(
                str(c.query_id) for c in ctxs
            )
            assert all(isinstance(r.outcome, TimedOut) for _, r in bus.sent())
            assert await PgDeadlineStore(pool).nearest() is None
