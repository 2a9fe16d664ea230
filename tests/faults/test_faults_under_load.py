"""The short form of the fault campaign (``campaign.py``; the long one: ``bench/faults.py``):
each fault once, under a steady load of queries, change events and applications, on a
deployment of its own whose PostgreSQL is a private server (restarted by one of the faults) —
0 lost, 0 duplicated (no record twice, no event applied twice or missing at a holder, no
application filed twice, refused though filed, followed up twice, or filed while the portal
never got its receipt), and the asker's outcome the record's, in every row."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from campaign import APPLICATIONS_HEADER, EVENTS_HEADER, HEADER, campaign, own_postgres
from proc_env import deployed, file_taxpayer

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


async def test_no_confirmed_query_is_lost_or_duplicated_under_faults(tmp_path: Path) -> None:
    t0 = time.monotonic()
    with own_postgres() as (pg, pg_ctl):
        async with deployed(tmp_path, pg) as env:
            print(f"deployed in {time.monotonic() - t0:.1f} s", flush=True)
            await file_taxpayer(env)
            rows = await campaign(env, rate=10, seconds=6, deadline=3.0, pg_ctl=pg_ctl)
    print(HEADER)
    for row in rows:
        print(row.line())
    print(EVENTS_HEADER)
    for row in rows:
        print(row.events_line())
    print(APPLICATIONS_HEADER)
    for row in rows:
        print(row.applications_line())
    assert any("PostgreSQL" in row.fault for row in rows)
    assert all(row.confirmed and row.events.confirmed and row.applications.filed for row in rows)
    assert [(r.fault, r.problems) for r in rows if r.problems] == []
