#!/usr/bin/env python3
"""One office's batch flood against the portal's interactive traffic: the portal's p99 with the
flood, against without it, in the same run.

    .venv/bin/python bench/flood_bench.py              # about 3 minutes
    .venv/bin/python bench/flood_bench.py --quick      # smoke run: 4 s per phase

The real services as their own processes on RabbitMQ and PostgreSQL (``renkei run token``,
``renkei run office shinjuku-tax``, ``renkei run hub``; deployed as ``bench/query_bench.py``
does, with a quotas file of the bench's own). This process plays two offices:

portal     ``myna-portal`` (class interactive: its requests take the hub's interactive lane)
           asking ``self_information`` of the tax office about seeded taxpayers at
           ``--portal-rate`` a second, open loop (latency from each query's scheduled start);
flood      ``chiyoda-child`` (class batch, quota ``--quota`` a second, burst the same) sending
           ``--flood-x`` times its quota, open loop, never backing off (a dishonest or broken
           office): most are refused ``routing.quota_exceeded`` and recorded, the rest answered.

Phases, ``--rounds`` times in turn: ``alone`` (the portal only), ``flood`` (the portal during
the flood), and ``flood, batch lane`` (the same, the portal's requests sent on the batch lane
instead: what the interactive lane buys). The figure: the portal's p99 during the flood over its
p99 alone (all rounds pooled), the target at most 2.0. Exit 1 when a portal query on its
interactive lane failed or the flood was not refused as it should be (portal queries timing out
in the batch-lane phase are what that phase shows, reported but not a failure).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop
from benchlib import percentiles, pids_by_comm
from query_bench import (
    AMQP_URL,
    FISCAL_YEAR,
    ITEM,
    PROVIDER,
    REQUESTER,
    USER_PREFIX,
    Admin,
    Phase,
    Renkei,
    open_loop,
    rrc_for,
)

from hub.bus import HUB_EXCHANGE, INTERACTIVE_EXCHANGE, BusError, connect_amqp
from hub.log import configure
from hub.node import OfficeNode
from hub.node.backoff import Backoff
from hub.routing import load_default_registry, load_default_table
from hub.wire import HUB
from renkei.network import identities
from renkei.secrets import TOKEN, State
from renkei.settings import Settings
from token_service import KeyRing

PORTAL = "myna-portal"
QUOTA_CODE = "routing.quota_exceeded"
TARGET = 2.0


def quotas_file(quota: float) -> str:
    return f"""version = "flood-bench"
[default]
per_second = 10000
burst = 100000
[offices.{REQUESTER}]
per_second = {quota}
burst = {int(quota)}
[offices.{PORTAL}]
class = "interactive"
per_second = 10000
burst = 100000
"""


class Bench:
    def __init__(self, args: argparse.Namespace, renkei: Renkei) -> None:
        self.args, self.renkei = args, renkei
        self.portal: OfficeNode | None = None
        self.portal_tokens: list[str] = []
        self.flood_outcomes: collections.Counter[str] = collections.Counter()

    async def seed_portal(self, n: int) -> None:
        """The portal's own token for each seeded taxpayer (what its login would give it)."""
        ring = KeyRing(State.load_secret(self.renkei.tmp / "state", TOKEN))
        self.portal_tokens = [
            ring.token_for(ring.link_id(rrc_for(k)), PORTAL) for k in range(1, n + 1)
        ]

    async def connect_portal(self) -> None:
        state = State.load(self.renkei.tmp / "state", [PORTAL])
        settings = Settings(
            broker_url=AMQP_URL, broker_vhost=self.args.vhost, broker_user_prefix=USER_PREFIX
        )
        url = settings.broker_url_for(PORTAL, state.passwords[PORTAL])
        bus = await connect_amqp(url, identity=PORTAL, user_prefix=USER_PREFIX)
        self.portal = OfficeNode(
            code=PORTAL, bus=bus, keys=state.keys[PORTAL], hub=state.public[HUB]
        )
        self.portal.lane = INTERACTIVE_EXCHANGE
        self.portal.backoff = Backoff(attempts=1)
        await self.portal.start()

    async def close_portal(self) -> None:
        if self.portal is not None:
            await self.portal.stop()
            await self.portal.bus.close()
            self.portal = None

    async def portal_call(self, i: int) -> str | None:
        assert self.portal is not None
        token = self.portal_tokens[i % len(self.portal_tokens)]
        answer = await self.portal.ask(
            "self_information", PROVIDER, (ITEM,), token, {"fiscal_year": FISCAL_YEAR}
        )
        if answer.status != "ok":
            return f"{answer.status} {answer.code}: {answer.reason}"[:200]
        return None

    def groups(self) -> dict[str, list[int]]:
        s = self.renkei.services
        return {
            "bench": [os.getpid()],
            "hub": [s["hub"].pid],
            "token": [s["token"].pid],
            "tax": [s["tax office"].pid],
            "rabbitmq": pids_by_comm("beam.smp"),
            "postgres": pids_by_comm("postgres"),
        }

    async def flood(self, rate: float, seconds: float) -> None:
        """``chiyoda-child`` flooding at ``rate`` for ``seconds``, as its own process; its
        answers' codes counted into ``flood_outcomes``."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--role",
            "flood",
            "--state",
            str(self.renkei.tmp / "state"),
            "--vhost",
            self.args.vhost,
            "--user-prefix",
            USER_PREFIX,
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0 or not out.strip():
            raise RuntimeError(f"the flooding process failed ({proc.returncode})")
        self.flood_outcomes.update(orjson.loads(out.splitlines()[-1]))

    async def phase(self, name: str, *, flood: bool, lane: str) -> Phase:
        assert self.portal is not None
        self.portal.lane = lane
        a = self.args
        portal = Phase("portal", "rate", target_rate=a.portal_rate)
        runs: list[Any] = [open_loop(portal, self.portal_call, self.groups, a.warmup, a.duration)]
        if flood:  # in a process of its own: its CPU is not the portal's
            runs.append(self.flood(a.quota * a.flood_x, a.warmup + a.duration + 1.0))
        await asyncio.gather(*runs)
        cpu = portal.cpu
        hub = f"hub CPU {cpu.seconds['hub'] / cpu.wall_s * 100:.0f}%" if cpu else ""
        busy = (
            f"machine busy {cpu.busy_s / cpu.wall_s / (os.cpu_count() or 1) * 100:.0f}%"
            if cpu
            else ""
        )
        print(
            f"{name:<18} portal {portal.done:>5} ok  p50 {portal.pct('p50_ms'):7.2f} ms"
            f"  p99 {portal.pct('p99_ms'):7.2f} ms  errors {portal.errors}   {hub}, {busy}"
        )
        for problem, n in portal.problems.most_common(3):
            print(f"    portal ERROR x{n}: {problem}")
        return portal


async def run(args: argparse.Namespace) -> int:
    configure(level="warning", json=False)
    admin = Admin()
    tmp = Path(tempfile.mkdtemp(prefix="renkei-flood-"))
    (tmp / "quotas.toml").write_text(quotas_file(args.quota), encoding="utf-8")
    renkei = Renkei(args, tmp)
    renkei.env["RENKEI_QUOTAS"] = str(tmp / "quotas.toml")
    bench = Bench(args, renkei)
    users = [USER_PREFIX + i for i in identities(load_default_registry(load_default_table()))]
    failures: list[str] = []
    saved = await admin.users(users)
    ours: dict[str, Any] = {}
    lat: dict[str, list[float]] = collections.defaultdict(list)
    started = time.perf_counter()
    try:
        await admin.delete_vhost(args.vhost)
        await admin.create_db(args.db_name)
        await renkei.deploy()
        ours = await admin.users(users)
        await renkei.seed(args.people)
        await bench.seed_portal(args.people)
        await renkei.start_services()
        await bench.connect_portal()
        print(
            f"quota {args.quota:g}/s for {REQUESTER}; flood {args.flood_x:g}x = "
            f"{args.quota * args.flood_x:g}/s; portal {args.portal_rate:g}/s; "
            f"{args.duration:g} s per phase, {args.rounds} round(s)"
        )
        plan = [("alone", False, INTERACTIVE_EXCHANGE), ("flood", True, INTERACTIVE_EXCHANGE)]
        if not args.no_ablation:
            plan.append(("flood, batch lane", True, HUB_EXCHANGE))
        for _ in range(args.rounds):
            for name, flood, lane in plan:
                portal = await bench.phase(name, flood=flood, lane=lane)
                lat[name].extend(portal.lat)
                if portal.errors and lane == INTERACTIVE_EXCHANGE:  # the ablation may fail
                    failures.append(f"{portal.errors} portal queries failed in phase {name!r}")
        print(f"flood outcomes: {dict(bench.flood_outcomes.most_common())}")
        if not bench.flood_outcomes.get(QUOTA_CODE):
            failures.append("the flood was never refused routing.quota_exceeded")
        base = percentiles(lat["alone"])["p99_ms"] or float("nan")
        print("pooled over the rounds:")
        for name, values in lat.items():
            p = percentiles(values)
            p50, p99 = p["p50_ms"] or 0.0, p["p99_ms"] or 0.0
            print(
                f"  {name:<18} n={len(values):>5}  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"
                f"  p99 / alone {p99 / base:5.2f}"
            )
        ratio = (percentiles(lat["flood"])["p99_ms"] or 0) / base
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(f"portal p99 during the flood / alone: {ratio:.2f} (target <= {TARGET}: {verdict})")
    except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - reported, then cleanup
        failures.append(f"the run failed: {exc!r}")
        failures.extend(renkei.exited())
    finally:
        for step in (
            bench.close_portal,
            renkei.stop_services,
            lambda: admin.delete_vhost(args.vhost),
            lambda: admin.restore_users(ours, saved),
            lambda: admin.drop_db(args.db_name),
        ):
            try:
                await asyncio.wait_for(step(), 60)
            except Exception as exc:  # noqa: BLE001 - every cleanup step runs
                failures.append(f"cleanup failed: {exc!r}")
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"finished in {time.perf_counter() - started:.0f} s")
    for f in failures:
        print(f"FAILED: {f}")
    return 1 if failures else 0


async def flood_role(args: argparse.Namespace) -> None:
    """The flooding office: open loop at ``--rate`` for ``--seconds``, never backing off; prints
    the count of each answer's code (or status) as one JSON line."""
    state_dir = Path(args.state)
    state = State.load(state_dir, [REQUESTER])
    ring = KeyRing(State.load_secret(state_dir, TOKEN))
    settings = Settings(
        broker_url=AMQP_URL, broker_vhost=args.vhost, broker_user_prefix=args.user_prefix
    )
    url = settings.broker_url_for(REQUESTER, state.passwords[REQUESTER])
    for attempt in range(5):  # a busy machine's broker may be slow to take a connection
        try:
            bus = await connect_amqp(url, identity=REQUESTER, user_prefix=args.user_prefix)
            break
        except BusError:
            if attempt == 4:
                raise
            await asyncio.sleep(1.0)
    node = OfficeNode(code=REQUESTER, bus=bus, keys=state.keys[REQUESTER], hub=state.public[HUB])
    node.backoff = Backoff(attempts=1)  # a flood that never backs off
    await node.start()
    tokens = [ring.token_for(ring.link_id(rrc_for(k)), REQUESTER) for k in range(1, 201)]
    counts: collections.Counter[str] = collections.Counter()

    async def one(i: int) -> None:
        answer = await node.ask(
            "child_allowance",
            PROVIDER,
            (ITEM,),
            tokens[i % len(tokens)],
            {"fiscal_year": FISCAL_YEAR},
        )
        counts[answer.code or answer.status] += 1

    t0, interval, n = time.perf_counter(), 1.0 / args.rate, 0
    tasks: set[asyncio.Task[None]] = set()
    while (scheduled := t0 + n * interval) < t0 + args.seconds:
        now = time.perf_counter()
        if scheduled > now:
            await asyncio.sleep(scheduled - now)
        task = asyncio.create_task(one(n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    await asyncio.gather(*tasks)
    await node.stop()
    await bus.close()
    print(orjson.dumps(dict(counts)).decode())


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quota", type=float, default=40.0, help="the flooding office's queries/s")
    ap.add_argument("--flood-x", type=float, default=5.0, help="the flood, in times its quota")
    ap.add_argument("--portal-rate", type=float, default=20.0, help="the portal's queries/s")
    ap.add_argument("--duration", type=float, default=15.0, help="measured seconds per phase")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--people", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="4 s per phase, 1 round")
    ap.add_argument("--no-ablation", action="store_true", help="skip the batch-lane phase")
    ap.add_argument("--vhost", default=f"renkei-flood-{os.getpid()}")
    ap.add_argument("--db-name", default=f"renkei_flood_{os.getpid()}")
    ap.add_argument("--service-log-level", default="warning")
    ap.add_argument("--role", choices=["flood"], help=argparse.SUPPRESS)
    ap.add_argument("--state", help=argparse.SUPPRESS)
    ap.add_argument("--user-prefix", help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds = 4.0, 1.0, 1
    return args


def main() -> int:
    args = parse()
    if args.role == "flood":
        configure(level="error", json=False)
        uvloop.run(flood_role(args))
        return 0
    return uvloop.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
