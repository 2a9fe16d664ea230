"""The short form of ``bench/faults.py --rabbitmq``: the network on one RabbitMQ node of the
test's own (``renkei cluster``'s node without its services: other ports, folder and Erlang
cookie — never the machine's broker, which other suites use), the node SIGKILLed under the
campaign's load and started again 3 s later. Every query, change event and application the
broker confirmed is answered or recorded once, the asker's outcome the record's (the
campaign's checks, ``campaign.py``), though the whole start of the node is an outage (10–40 s
on this machine)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from campaign import APPLICATIONS_HEADER, EVENTS_HEADER, HEADER, campaign
from proc_env import deployed, file_taxpayer, free_base_port

from renkei.cluster import Cluster, Manifest
from renkei.cluster_commands import brokers_up, remove, stop_node

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]
PG = "postgresql://postgres@127.0.0.1:5432/"  # the machine's: this test restarts the broker only


async def test_a_rabbitmq_node_killed_and_restarted_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    t0 = time.monotonic()
    manifest = Manifest(free_base_port(), PG + "postgres", (), hubs=0, nodes=1)
    rabbit = Cluster(tmp_path / "rabbitmq", manifest)
    try:
        await brokers_up(rabbit)
        print(f"node up in {time.monotonic() - t0:.1f} s", flush=True)
        broker = (rabbit.broker_url, rabbit.admin_url)
        async with deployed(tmp_path / "deployment", PG, broker) as env:
            print(f"deployed at {time.monotonic() - t0:.1f} s", flush=True)
            await file_taxpayer(env)
            rows = await campaign(
                env, rate=10, seconds=4, deadline=3.0, only=["RabbitMQ SIGKILL"], rabbit=rabbit
            )
    finally:
        t1 = time.monotonic()
        for node in rabbit.nodes:  # a throwaway node: killed, not stopped gracefully (10 s)
            await stop_node(rabbit, node, kill=True)
        await remove(rabbit)
        print(f"removed in {time.monotonic() - t1:.1f} s; took {time.monotonic() - t0:.1f} s")
    for header, line in ((HEADER, "line"), (EVENTS_HEADER, "events_line")):
        print(header)
        print(*(getattr(row, line)() for row in rows), sep="\n")
    print(APPLICATIONS_HEADER)
    print(*(row.applications_line() for row in rows), sep="\n")
    [row] = rows
    assert row.confirmed and row.events.confirmed and row.applications.confirmed
    assert (row.lost, row.duplicated, row.events.lost, row.applications.lost) == (0, 0, 0, 0)
    assert row.problems == []
