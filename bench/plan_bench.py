#!/usr/bin/env python3
"""A claim's cost on a connection whose kept plan was made while the records were empty: the
claim as shipped against the same function without its planner settings (the code before issue
19's fix), side by side in one scratch database.

    .venv/bin/python bench/plan_bench.py [--records 50000] [--claims 200]

Each function is called once on a new connection while ``access_record`` is empty (its plan is
made then and kept for the session, as a hub worker's connection keeps it), then ``--records``
rows are added and each connection claims ``--claims`` fresh keys one at a time; printed: the
median wall time of a claim (ms) and the plan each ran. No ANALYZE runs meanwhile, as on a
server whose autovacuum is off or has not come round yet (docs/operations.md §1).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
import uuid
from importlib import resources

import asyncpg
from query_bench import PG_DSN, with_db

SCHEMA = "records"
SETTINGS = "SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off"
FAKE_RECORDS = """
INSERT INTO records.access_record (seq, record_id, query_id, requester, provider, affair, items,
    asked_at, answered_at, outcome, reason, person, query_digest, reply_digest, prev_hash, hash)
SELECT g, gen_random_uuid(), gen_random_uuid(), 'r', 'p', 'a', '{}', now(), now(), 'ok', '',
    'x', '\\x00', '\\x00', decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex')
FROM generate_series(1, $1::int) AS g
"""


def ddl() -> tuple[str, str]:
    """The records' schema as shipped, and a copy of its claim function without the planner
    settings, named ``claim_queries_before``."""
    text = resources.files("hub.records").joinpath("schema.sql").read_text("utf-8")
    text = text.replace("{schema}", SCHEMA).replace("{lock_key}", "0")
    start = text.index(f"CREATE OR REPLACE FUNCTION {SCHEMA}.claim_queries(")
    end = text.index("$$;", text.index("AS $$", start)) + 3
    before = text[start:end].replace("claim_queries(", "claim_queries_before(")
    if SETTINGS not in before:
        raise SystemExit("schema.sql's claim_queries no longer carries the settings this compares")
    return text, before.replace(SETTINGS, "")


async def claims(conn: asyncpg.Connection, function: str, n: int) -> list[float]:
    sql = f"SELECT k FROM {SCHEMA}.{function}($1::uuid[], $2::bytea[], $3) AS k"
    took = []
    for _ in range(n):
        t0 = time.perf_counter()
        await conn.fetch(sql, [uuid.uuid4()], [b"d"], dt.datetime.now(dt.UTC))
        took.append((time.perf_counter() - t0) * 1000)
    return took


async def plan_of(conn: asyncpg.Connection, function: str) -> str:
    """The join the kept plan runs (``auto_explain``, nested statements: needs a superuser)."""
    seen: list[str] = []
    conn.add_log_listener(lambda _c, msg: seen.append(msg.message))
    await conn.execute(
        "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;"
        " SET auto_explain.log_nested_statements = on; SET client_min_messages = log"
    )
    await claims(conn, function, 1)
    await conn.execute("SET auto_explain.log_min_duration = -1")
    plan = next((p for p in seen if "query_claim" in p and "INSERT" in p), "")
    return next((line.strip() for line in plan.splitlines() if "Join" in line), "?")


async def run(args: argparse.Namespace) -> int:
    name = f"renkei_plan_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = with_db(PG_DSN, name)
        schema, before = ddl()
        setup = await asyncpg.connect(url)
        await setup.execute(schema)
        await setup.execute(before)
        fixed, old = await asyncpg.connect(url), await asyncpg.connect(url)
        await claims(fixed, "claim_queries", 1)  # planned now: the records are empty
        await claims(old, "claim_queries_before", 1)
        await setup.execute(FAKE_RECORDS, args.records)
        print(f"claims on plans made with no records, after {args.records:,} were added:")
        for label, conn, function in (
            ("before (no planner settings)", old, "claim_queries_before"),
            ("as shipped", fixed, "claim_queries"),
        ):
            took = await claims(conn, function, args.claims)
            print(
                f"  {label:<30} median {statistics.median(took):7.3f} ms a claim"
                f"  ({await plan_of(conn, function)})"
            )
        for conn in (setup, fixed, old):
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=50_000, help="records added (default 50,000)")
    ap.add_argument("--claims", type=int, default=200, help="claims timed on each (default 200)")
    return asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
