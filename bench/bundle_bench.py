#!/usr/bin/env python3
"""What several queries in one message would save: the bare two-hop relay of `query_bench.py`,
each message carrying one query, against the same relay with each message carrying ``--bundle``
queries (a body that many times the size), side by side in one run, at as many queries in
flight either way.

    .venv/bin/python bench/bundle_bench.py [--bundle 8] [--duration 10] [--inflight 64,128]

The relay's processes are nothing but the messaging (aio-pika on aiormq, publisher confirms,
quorum queues, one ack per message): their CPU per query, and RabbitMQ's, is what moving a query
costs. The middle and the provider forward a body as they find it, so a bundle is only a larger
body; the client counts ``--bundle`` queries per answer. Phases alternate (one query a message,
then bundles, ``--rounds`` times at each in-flight count), so both meet the same machine. The
question this answers for issue 19 (bench/README.md, "What the three targets ask of this
design"): how much of the messaging cost per query bundles take away on this machine. What a
real bundle adds (packing, unpacking, per-query settlement) is not in it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import uvloop
from benchlib import pids_by_comm
from query_bench import (
    AMQP_URL,
    Admin,
    BaselineClient,
    Phase,
    closed_loop,
    spawn_role,
    stop_roles,
)

QUERY_BYTES = 600  # query_bench's relay body: about a signed query's size


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", type=int, default=8, help="queries a message (default 8)")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds a phase")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument(
        "--inflight", default="64,128", help="queries in flight, comma-separated (default 64,128)"
    )
    ap.add_argument("--rounds", type=int, default=2, help="times each pair of phases runs")
    ap.add_argument("--prefetch", type=int, default=100)
    args = ap.parse_args()
    if args.bundle < 2:
        ap.error("--bundle must be 2 or more")
    args.inflight = [int(n) for n in args.inflight.split(",")]
    # what spawn_role passes on to the relay's processes (query_bench's defaults)
    args.loop, args.baseline_acks = "uvloop", "each"
    return args


async def run(args: argparse.Namespace) -> int:
    admin = Admin()
    vhost = f"renkei-bundle-{os.getpid()}"
    url = AMQP_URL.rstrip("/") + "/" + quote(vhost, safe="")
    tmp = Path(tempfile.mkdtemp(prefix="renkei-bundle-"))
    roles: dict[str, Any] = {}
    client: BaselineClient | None = None
    try:
        await admin.api("PUT", f"vhosts/{quote(vhost, safe='')}")
        await admin.let_relay_in(vhost)
        run_id = os.urandom(4).hex()
        client = BaselineClient(url, run_id, QUERY_BYTES, args.prefetch)
        await client.start("each")
        for role in ("provider", "middle"):
            roles[role] = await spawn_role(role, url, run_id, args, tmp / f"{role}.log")

        def groups() -> dict[str, list[int]]:
            return {
                "client": [os.getpid()],
                "middle": [roles["middle"].pid],
                "provider": [roles["provider"].pid],
                "rabbitmq": pids_by_comm("beam.smp"),
            }

        print(f"bundles of {args.bundle} queries ({QUERY_BYTES * args.bundle} bytes) against one")
        for n in args.inflight:
            for _ in range(args.rounds):
                for k in (1, args.bundle):
                    client.size = QUERY_BYTES * k  # a bundle: k queries' bytes in one body
                    # as many queries in flight either way: n / k bundles
                    phase = Phase("baseline", "saturated", inflight=max(1, n // k))
                    await closed_loop(phase, client.call, groups, args.warmup, args.duration)
                    if phase.errors:
                        print(f"  errors: {dict(phase.problems)}")
                    cpu = phase.cpu_us()
                    per_query = {g: us / k for g, us in cpu.items()}
                    parts = " ".join(f"{g}={v:.0f}" for g, v in per_query.items())
                    print(
                        f"{k:2d} a message, {n:3d} queries in flight:"
                        f" {phase.rate * k:8.1f} queries/s ({phase.rate:7.1f} messages/s);"
                        f" CPU µs a query: {parts}",
                        flush=True,
                    )
        return 0
    finally:
        if client is not None:
            await client.close()
        await stop_roles(roles)
        await admin.delete_vhost(vhost)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(uvloop.run(run(parse())))
