"""An office's look-up of one token: `PgStore.by_token` against the `unnest` join it replaced.

    .venv/bin/python bench/store_bench.py [--rows 2000] [--n 3000] [--repeat 3]

Below peak load most look-up batches hold one token; `PgStore` then runs an index look-up
instead of joining ``unnest($1, $2)``. Both run interleaved in one fresh database (removed
afterwards) on one connection, so the PostgreSQL backend's CPU (from ``/proc``) and the wall
time per look-up are side by side; the best of ``--repeat`` runs of each is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from benchlib import CLK_TCK, proc_ticks

from hub.node import PgStore, schema_for

ADMIN_DSN = os.environ.get("RENKEI_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
OFFICE, COLLECTION = "chiyoda-tax", "taxpayers"


async def measure(
    fn: Callable[[int], Awaitable[object]], n: int, rows: int, pid: int
) -> tuple[float, float]:
    """(wall µs, backend CPU µs) per look-up."""
    t0, k0 = time.perf_counter(), proc_ticks(pid)
    for i in range(n):
        await fn(i % rows)
    wall = time.perf_counter() - t0
    return wall / n * 1e6, (proc_ticks(pid) - k0) / CLK_TCK / n * 1e6


async def _no_reset(_conn: asyncpg.Connection) -> None:
    return None


async def main(args: argparse.Namespace) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    name = f"renkei_store_bench_{os.getpid()}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = urlunsplit(urlsplit(ADMIN_DSN)._replace(path=f"/{name}"))
        # one connection, not reset on release: as the services' pools (renkei.network)
        async with asyncpg.create_pool(dsn, min_size=1, max_size=1, reset=_no_reset) as pool:
            store = PgStore(pool, OFFICE)
            await store.migrate()
            await store.put_many(
                COLLECTION, ((f"k{i}", f"t{i}", {"i": i}) for i in range(args.rows))
            )
            async with pool.acquire() as conn:
                await conn.execute(f"ANALYZE {schema_for(OFFICE)}.docs")
                pid = await conn.fetchval("SELECT pg_backend_pid()")
            join = (
                f"SELECT d.collection, d.token, d.key, d.doc FROM {schema_for(OFFICE)}.docs d"
                " JOIN unnest($1::text[], $2::text[]) AS w(collection, token)"
                " ON d.collection = w.collection AND d.token = w.token"
            )

            async def by_join(i: int) -> object:
                async with pool.acquire() as conn:
                    return await conn.fetch(join, [COLLECTION], [f"t{i}"])

            async def by_token(i: int) -> object:
                return await store.by_token(COLLECTION, f"t{i}")

            best: dict[str, tuple[float, float]] = {}
            for _ in range(args.repeat):
                for label, fn in (
                    ("unnest join (before)", by_join),
                    ("PgStore.by_token", by_token),
                ):
                    wall, cpu = await measure(fn, args.n, args.rows, pid)
                    if label not in best or cpu < best[label][1]:
                        best[label] = (wall, cpu)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    for label, (wall, cpu) in best.items():
        print(f"{label:<22} {wall:7.0f} µs wall  {cpu:6.0f} µs PostgreSQL CPU per look-up")
    (jw, jc), (tw, tc) = best["unnest join (before)"], best["PgStore.by_token"]
    print(f"ratio by_token/join: wall {tw / jw:.2f}, PostgreSQL CPU {tc / jc:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
