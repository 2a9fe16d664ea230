#!/usr/bin/env python3
"""Access-record write throughput: RecordWriter + PgRecordStore vs. raw COPY of the same rows.

A  baseline: asyncpg ``copy_records_to_table`` of the already chained rows into a plain table
   (same columns; no indexes, constraints or triggers), sequential batches of ``--max-batch``,
   each its own durable transaction.
B  the same with batches of ``--concurrency`` rows (the batch size the writer gets to see).
C  the same into a table with the real indexes and checks (what PostgreSQL alone costs).
W  ``RecordWriter`` fed by ``--concurrency`` concurrent callers, each waiting for its record to
   be durable (natural batching, advisory lock, duplicate check, hashing, checkpoints).
Then the p50 latency of one ``record()`` at 1 in flight, and a full ``verify_store``.  All in
a scratch database, one after the other in one process, so the ratios are what counts (these
machines are shared and noisy).

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


async def baseline(
    pool: asyncpg.Pool, rows: list[tuple[object, ...]], batch: int, *, indexed: bool = False
) -> float:
    """COPY into a plain copy of the table (``indexed``: with the same indexes and checks)."""
    like = "LIKE records.access_record INCLUDING ALL" if indexed else "LIKE records.access_record"
    await pool.execute("DROP TABLE IF EXISTS public.plain")
    await pool.execute(f"CREATE TABLE public.plain ({like})")
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
            base_idx = await baseline(pool, rows, args.concurrency, indexed=True)
            await with_writer(store, make_drafts(2000), args.concurrency, args.max_batch)
            rate, batches = await with_writer(store, drafts, args.concurrency, args.max_batch)
            p50 = await latency_one_in_flight(store, make_drafts(args.latency_rows))
            t0 = time.perf_counter()
            report = await verify_store(store, store.public_key)
            verify_rate = report.records.records_checked / (time.perf_counter() - t0)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    c, m = args.concurrency, args.max_batch
    print(f"rows: {args.rows}")
    print(f"A  COPY, plain table, batches of {m:<4}           {base_max:9.0f} rows/s")
    print(f"B  COPY, plain table, batches of {c:<4}           {base_conc:9.0f} rows/s")
    print(f"C  COPY, same indexes+checks, batches of {c:<4}   {base_idx:9.0f} rows/s")
    print(
        f"W  RecordWriter, {c} concurrent callers          {rate:9.0f} rows/s"
        f"  ({batches} batches, mean {args.rows / batches:.0f} rows)"
    )
    print(f"W/A {rate / base_max:.2f}   W/B {rate / base_conc:.2f}   W/C {rate / base_idx:.2f}")
    print(f"RecordWriter p50 latency at 1 in flight: {p50:.2f} ms")
    print(f"verify_store: {verify_rate:.0f} records/s, ok={report.ok}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--max-batch", type=int, default=500)
    ap.add_argument("--latency-rows", type=int, default=500)
    asyncio.run(main(ap.parse_args()))
