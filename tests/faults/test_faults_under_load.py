"""The short form of the fault campaign (``campaign.py``; the long one: ``bench/faults.py``):
each fault once, under a steady load of queries and change events, on a deployment of its own —
0 lost, 0 duplicated (no record twice, no event applied twice or missing at a holder), and the
asker's outcome the record's, in every row."""

from __future__ import annotations

from pathlib import Path

import pytest
from campaign import EVENTS_HEADER, HEADER, campaign
from proc_env import deployed, file_taxpayer

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


async def test_no_confirmed_query_is_lost_or_duplicated_under_faults(tmp_path: Path) -> None:
    async with deployed(tmp_path) as env:
        await file_taxpayer(env)
        rows = await campaign(env, rate=10, seconds=8, deadline=3.0)
    print(HEADER)
    for row in rows:
        print(row.line())
    print(EVENTS_HEADER)
    for row in rows:
        print(row.events_line())
    assert all(row.confirmed > 0 and row.events.confirmed > 0 for row in rows)
    assert [(r.fault, r.problems) for r in rows if r.problems] == []
