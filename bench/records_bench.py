#!/usr/bin/env python3
"""Access-record write throughput: RecordWriter + PgRecordStore vs. raw COPY of the same rows.

Baseline: asyncpg ``copy_records_to_table`` of the already chained rows into a plain table
(same columns; no indexes, constraints or triggers) in sequential batches, each its own
(durable) transaction.  Measured: ``RecordWriter`` fed by ``--concurrency`` concurrent callers
(natural batching, advisory lock, duplicate check, hashing, unique indexes, checkpoints), then
a full ``verify_store``.  Both run in a scratch database in the same process, one after the
other, so the ratio is what counts (these machines are shared and noisy).

    .venv/bin/python bench/records_bench.py --rows 20000
Env: RENKEI_BENCH_PG_DSN (default postgresql://postgres@127.0.0.1:5432/postgres)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.records import GENESIS_HASH, PgRecordStore, RecordDraft, RecordWriter, chain, digest
from hub.records import sql as records_sql
from hub.records.audit import verify_store

ADMIN_DSN = os.environ.get("RENKEI_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def make_drafts(n: int) -> list[RecordDraft]:
    t0 = datetime.now(UTC)
    return [
        RecordDraft(
            query_id=uuid.uuid4(),
            requester=f"welfare-{i % 7:02d}",
            provider=f"municipality-{(i + 3) % 11:02d}",
            affair="child_allowance.eligibility",
            items=("income", "household"),
            asked_at=t0 + timedelta(microseconds=i),
            answered_at=t0 + timedelta(microseconds=i + 900),
            outcome="ok",
            person=f"tok_{uuid.uuid4().hex}",
            query_digest=digest(b"q%d" % i),
            reply_digest=digest(b"r%d" % i),
        )
        for i in range(n)
    ]


async def baseline(pool: asyncpg.Pool, rows: list[tuple[object, ...]], batch: int) -> float:
    await pool.execute("DROP TABLE IF EXISTS public.plain")
    await pool.execute("CREATE TABLE public.plain (LIKE records.access_record)")
    async with pool.acquire() as conn:
        t0 = time.perf_counter()
        for i in range(0, len(rows), batch):
            await conn.copy_records_to_table(
                "plain", records=rows[i : i + batch], columns=records_sql.RECORD_COLUMNS
            )
        return len(rows) / (time.perf_counter() - t0)


async def with_writer(
    store: PgRecordStore, drafts: list[RecordDraft], callers: int, max_batch: int
) -> tuple[float, int]:
    writer = RecordWriter(store, max_batch=max_batch)

    async def caller(k: int) -> None:
        for d in drafts[k::callers]:
            await writer.record(d)

    t0 = time.perf_counter()
    await asyncio.gather(*(caller(k) for k in range(callers)))
    elapsed = time.perf_counter() - t0
    await writer.close()
    return len(drafts) / elapsed, writer.batches


async def latency_one_in_flight(store: PgRecordStore, drafts: list[RecordDraft]) -> float:
    writer = RecordWriter(store)
    lat = []
    for d in drafts:
        t0 = time.perf_counter()
        await writer.record(d)
        lat.append(time.perf_counter() - t0)
    return statistics.median(lat) * 1000


async def main(args: argparse.Namespace) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    name = f"renkei_records_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = urlunsplit(urlsplit(ADMIN_DSN)._replace(path=f"/{name}"))
    try:
        async with asyncpg.create_pool(dsn, min_size=2, max_size=4) as pool:
            store = PgRecordStore(pool, signing_key=Ed25519PrivateKey.generate())
            await store.migrate()
            drafts = make_drafts(args.rows)
            rows = [records_sql.record_row(r) for r in chain(GENESIS_HASH, 1, drafts)]
            await baseline(pool, rows[:2000], args.max_batch)  # warm-up
            base_max = await baseline(pool, rows, args.max_batch)
            base_conc = await baseline(pool, rows, args.concurrency)
            await with_writer(store, make_drafts(2000), args.concurrency, args.max_batch)
            rate, batches = await with_writer(store, drafts, args.concurrency, args.max_batch)
            p50 = await latency_one_in_flight(store, make_drafts(args.latency_rows))
            t0 = time.perf_counter()
            report = await verify_store(store, store.public_key)
            verify_rate = report.records.records_checked / (time.perf_counter() - t0)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(f"rows                                   {args.rows}")
    print(f"baseline COPY, batches of {args.max_batch:<4}         {base_max:10.0f} rows/s")
    print(f"baseline COPY, batches of {args.concurrency:<4}         {base_conc:10.0f} rows/s")
    print(
        f"RecordWriter, {args.concurrency} callers              {rate:10.0f} rows/s"
        f"  ({batches} batches, mean {args.rows / batches:.0f} rows)"
    )
    print(f"ratio writer / COPY@{args.max_batch:<4}               {rate / base_max:10.2f}")
    print(f"ratio writer / COPY@{args.concurrency:<4}               {rate / base_conc:10.2f}")
    print(f"RecordWriter p50 at 1 in flight        {p50:10.2f} ms")
    print(f"verify_store                           {verify_rate:10.0f} records/s  ok={report.ok}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--max-batch", type=int, default=500)
    ap.add_argument("--latency-rows", type=int, default=500)
    asyncio.run(main(ap.parse_args()))
