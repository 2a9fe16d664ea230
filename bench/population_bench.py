"""How fast the population generator makes residents, stage by stage (CPU time, no database).

    .venv/bin/python bench/population_bench.py [--chunks 3]

Stages: households (names, ages, work, income, addresses), office records (`place`), and the
whole chunk as COPY text with every office's token (what a worker process does). The full
load with PostgreSQL is ``renkei population generate`` (it prints rows/s per table).
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import time

from agencies.population import (
    CHUNK_RESIDENTS,
    LocalIds,
    chunk_households,
    place,
    records_rng,
    select,
)
from renkei.network import load_rules
from renkei.population.chunks import Job, encode_chunk, set_ring
from renkei.population.commands import plan_for
from renkei.settings import Settings
from token_service import KeyRing

TODAY = dt.date(2024, 6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=3)
    args = parser.parse_args()
    plan = plan_for(load_rules(Settings(_env_file=None))[1])
    chosen = select()
    codes = tuple(m.code for m in chosen)
    set_ring(KeyRing(secrets.token_bytes(32)))
    totals = {"households": 0.0, "records": 0.0, "chunk with tokens": 0.0}
    rows = 0
    for chunk in range(args.chunks):
        started = time.process_time()
        households = list(
            chunk_households(1, chunk, CHUNK_RESIDENTS, today=TODAY, municipalities=chosen)
        )
        totals["households"] += time.process_time() - started
        started = time.process_time()
        ids, rng = LocalIds(chunk), records_rng(1, chunk)
        rows += sum(len(place(rng, h, plan, ids, TODAY)) for h in households)
        totals["records"] += time.process_time() - started
        started = time.process_time()
        encode_chunk(Job(1, chunk, CHUNK_RESIDENTS, TODAY, codes, plan))
        totals["chunk with tokens"] += time.process_time() - started
    residents = args.chunks * CHUNK_RESIDENTS
    print(f"{residents:,} residents, {rows:,} office rows (directory rows not counted)")
    for stage, seconds in totals.items():
        print(
            f"  {stage:<20} {seconds / residents * 1e6:7.1f} µs/resident"
            f"  {residents / seconds:>9,.0f} residents/s per core"
        )


if __name__ == "__main__":
    main()
