#!/usr/bin/env python3
"""CPU per answer of each renkei process at 1 in flight (or ``--in-flight N``): a fixed number of
queries, one at a time.

    .venv/bin/python bench/cpu_bench.py                    # 3 rounds of 2,000 queries
    .venv/bin/python bench/cpu_bench.py --profile DIR      # then 2,000 more under py-spy

At 1 in flight every microsecond of CPU on the path is latency, and on a shared machine wall
time is noise: this counts what each process spent (user + system time from /proc) over a fixed
number of queries, not how long they took. The deployment is ``query_bench.py``'s (the same
services, requester and check of every answer; tracing off). Each round: ``--queries`` queries
one after the other, CPU µs per answer of the hub, the token service, the tax office, the
requester (this process), RabbitMQ (every beam.smp of the machine, or the node of
``--rabbitmq-pid``) and PostgreSQL (this run's backends); of the Python processes also the
wake-ups and the write system calls (socket writes) per answer. The median of the rounds is
printed last. ``--in-flight N``: N queries at once (closed loop), to count the CPU per answer
at a concurrency (128: the peak of ``query_bench.py``) the same way; ``--paced RATE``: queries
started at RATE a second whatever the answers do (open loop, as ``query_bench.py``'s phase at
half the peak), where the CPU an answer decides how busy the machine is, and so the latency.
``--profile DIR``: one more round with py-spy sampling each Python process (idle samples left
out), its raw stacks in DIR and CPU µs per answer by activity and by function.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import os
import runpy
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import uvloop
from benchlib import CLK_TCK, percentiles, pids_by_comm, proc_ticks
from query_bench import USER_PREFIX, Admin, Renkei, guarded, hub_name, print_profile

from hub.log import configure
from hub.routing import load_default_registry, load_default_table
from renkei.network import identities


async def our_backends(renkei: Renkei) -> list[int]:
    """The PostgreSQL backends serving this run's database (others' share the server)."""
    conn = await asyncpg.connect(renkei.db_url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


async def our_commits(renkei: Renkei) -> int:
    """Transactions committed in this run's database so far (each statement outside a
    transaction is one): how many statements the services' batches made."""
    conn = await asyncpg.connect(renkei.db_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
        )
    finally:
        await conn.close()


async def round_of(renkei: Renkei, n: int, start: int) -> dict[str, float]:
    """``n`` queries one at a time; CPU µs per answer of each process group, and the wake-ups
    per answer of the Python processes (``NAME wakeups``: voluntary context switches, each a
    return from the event loop's wait)."""
    s = renkei.services
    groups = {
        "hub": [s[hub_name(i)].pid for i in range(renkei.args.hubs)],
        "token": [s["token"].pid],
        "tax": [s["tax office"].pid],
        "requester": [os.getpid()],
        # the machine's broker is shared (others' work too) unless a node of this run's own
        "rabbitmq": [renkei.args.rabbitmq_pid]
        if renkei.args.rabbitmq_pid
        else pids_by_comm("beam.smp"),
        "postgres": await our_backends(renkei),
    }
    python = ("hub", "token", "tax", "requester")
    before = {g: sum(proc_ticks(p) for p in pids) for g, pids in groups.items()}
    woke = {g: sum(map(wakeups, groups[g])) for g in python}
    commits = await our_commits(renkei)
    wrote = {g: sum(map(writes, groups[g])) for g in python}
    ids = iter(range(start, start + n))

    done: list[tuple[int, float, float]] = []  # each query: its id, when it began, how long it took
    t0 = time.perf_counter()

    async def one(i: int, scheduled: float | None = None) -> None:
        began = time.perf_counter() if scheduled is None else scheduled
        problem = await guarded(renkei.call, i)
        if problem is not None:
            raise RuntimeError(f"query {i}: {problem}")
        done.append((i, began - t0, time.perf_counter() - began))

    async def worker() -> None:  # one query after the other; ``--in-flight`` of them at once
        for i in ids:
            await one(i)

    async def paced(rate: float) -> None:  # started at ``rate`` a second, whatever the answers do
        tasks = []
        for k, i in enumerate(ids):
            if (wait := t0 + k / rate - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(i, t0 + k / rate)))  # from its scheduled start
        await asyncio.gather(*tasks)

    if renkei.args.paced:
        await paced(renkei.args.paced)
    else:
        await asyncio.gather(*(worker() for _ in range(renkei.args.in_flight)))
    after = {g: sum(proc_ticks(p) for p in pids) for g, pids in groups.items()}
    # a backend the pool opened during the round: all of its time is the round's
    after["postgres"] += sum(
        proc_ticks(p) for p in await our_backends(renkei) if p not in groups["postgres"]
    )
    out = {g: (after[g] - before[g]) / CLK_TCK / n * 1e6 for g in groups}
    out |= {f"{g} wakeups": (sum(map(wakeups, groups[g])) - woke[g]) / n for g in python}
    out |= {f"{g} writes": (sum(map(writes, groups[g])) - wrote[g]) / n for g in python}
    out["postgres commits"] = (await our_commits(renkei) - commits) / n
    if renkei.args.latencies:  # written after the round: its CPU is not the round's
        with renkei.args.latencies.open("a") as f:
            f.writelines(f"{start},{i},{at:.6f},{took * 1e3:.3f}\n" for i, at, took in done)
    latencies = [took for _, _, took in done]
    out |= {f"latency {k}": v or 0.0 for k, v in percentiles(latencies).items() if k != "mean_ms"}
    return out


def wakeups(pid: int) -> int:
    """Voluntary context switches of ``pid``'s main thread so far."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    return 0


def writes(pid: int) -> int:
    """Write system calls (write, send…) of ``pid`` so far: each a socket write, here."""
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("syscw:"):
                return int(line.split()[1])
    return 0


def fmt(us: dict[str, float]) -> str:
    cpu = "  ".join(f"{g} {v:6.0f}" for g, v in us.items() if " " not in g)
    woke = "  ".join(f"{g.split()[0]} {v:4.1f}" for g, v in us.items() if "wakeups" in g)
    wrote = "  ".join(f"{g.split()[0]} {v:4.1f}" for g, v in us.items() if "writes" in g)
    pg = (
        f"  postgres commits/answer {us['postgres commits']:4.2f}"
        if "postgres commits" in us
        else ""
    )
    lat = "  ".join(f"{g.split()[1][:-3]} {v:7.2f}" for g, v in us.items() if "latency" in g)
    return (
        f"{cpu}\n{'':<10}wake-ups/answer  {woke}\n{'':<10}writes/answer    {wrote}{pg}"
        f"\n{'':<10}latency ms       {lat}"
    )


async def run(args: argparse.Namespace) -> int:
    configure(level="warning", json=False)
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)  # clean up
    admin = Admin()
    tmp = Path(tempfile.mkdtemp(prefix="renkei-cpu-"))
    users = [USER_PREFIX + i for i in identities(load_default_registry(load_default_table()))]
    renkei = Renkei(args, tmp)
    if args.cprofile:
        renkei.renkei = under_cprofile(renkei.renkei, args.cprofile, tmp)
    saved = await admin.users(users)
    if saved:
        raise SystemExit(f"broker users {sorted(saved)} exist already: not touching them")
    try:
        await admin.create_db(args.db_name)
        await renkei.deploy()
        await renkei.seed(args.people)
        for attempt in range(3):  # a busy shared broker can time a connection out
            try:
                await renkei.start_services()
                break
            except RuntimeError as exc:
                print(f"services did not start ({exc}); again", flush=True)
                await renkei.stop_services()
                renkei.services.clear()
                if attempt == 2:
                    raise
        await renkei.connect_requester()
        gc.collect()
        gc.freeze()
        print(f"pids { {k: v.pid for k, v in renkei.services.items()} }, bench {os.getpid()}")
        await round_of(renkei, args.warmup, 0)
        rounds = []
        for r in range(args.rounds):
            us = await round_of(renkei, args.queries, (r + 1) * args.queries)
            rounds.append(us)
            print(f"round {r + 1}: CPU µs/answer  {fmt(us)}", flush=True)
        median = {g: statistics.median(u[g] for u in rounds) for g in rounds[0]}
        print(f"median of {args.rounds} × {args.queries}: {fmt(median)}")
        if args.profile:
            await profiled(args, renkei)
    finally:
        await cleanup(renkei, admin, args, users, tmp)
    return 0


async def cleanup(
    renkei: Renkei, admin: Admin, args: argparse.Namespace, users: list[str], tmp: Path
) -> None:
    """Every step runs, whatever the one before did (a busy broker's management API may
    drop a request); a step that fails three times is printed, to be undone by hand."""

    async def delete_users() -> None:
        for user in users:  # none existed before (checked): all are this run's
            with contextlib.suppress(RuntimeError):
                await admin.api("DELETE", f"users/{user}")

    async def stop() -> None:
        for problem in await renkei.stop_services():
            print(f"FAILED: {problem}")

    steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("requester", renkei.close_requester),
        ("services", stop),
        ("vhost", lambda: admin.delete_vhost(args.vhost)),
        ("broker users", delete_users),
        ("database", lambda: admin.drop_db(args.db_name)),
    ]
    for what, step in steps:
        for attempt in range(3):
            try:
                await asyncio.wait_for(step(), 120)
                break
            except Exception as exc:  # noqa: BLE001 - every step runs; failures shown
                if attempt == 2:
                    print(f"FAILED: cleanup of {what}: {exc!r}")
                await asyncio.sleep(2)
    if args.keep_logs:
        print(f"logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def under_cprofile(renkei: str, out: Path, tmp: Path) -> str:
    """A stand-in for the ``renkei`` command that runs each service (``renkei run NAME``)
    under cProfile timed by the thread's CPU clock (not wall time: on a shared machine a
    process waiting for a core is not working), its stats in ``out/NAME.prof`` when it stops."""
    wrapper = tmp / "renkei-cprofile"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = run ] || exec {renkei} "$@"\n'
        f'exec {sys.executable} {Path(__file__).resolve()} --under-cprofile {out}/"$2".prof'
        f' {renkei} "$@"\n'
    )
    wrapper.chmod(0o755)
    return str(wrapper)


def run_under_cprofile(argv: list[str]) -> int:
    """``OUT SCRIPT ARGS...``: SCRIPT run as ``__main__`` under cProfile (CPU clock)."""
    out, script, *rest = argv
    sys.argv = [script, *rest]
    prof = cProfile.Profile(time.thread_time)
    prof.enable()
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    finally:
        prof.disable()
        prof.dump_stats(out)
    return 0


async def profiled(args: argparse.Namespace, renkei: Renkei) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = args.profile
    targets = {k.replace(" ", "-"): v.pid for k, v in renkei.services.items()}
    targets["requester"] = os.getpid()
    spies = {
        name: await asyncio.create_subprocess_exec(
            spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(args.rate),
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(out / f"{name}.txt"),
            *args.spy,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for name, pid in targets.items()
    }
    await asyncio.sleep(1.0)  # py-spy attached
    us = await round_of(renkei, args.queries, (args.rounds + 1) * args.queries)
    for proc in spies.values():
        with contextlib.suppress(ProcessLookupError):  # one that failed has gone
            proc.send_signal(signal.SIGINT)  # py-spy writes its stacks and exits
    load = f"started at {args.paced:g}/s" if args.paced else f"at {args.in_flight} in flight"
    print(f"\n==== py-spy, {args.queries} queries {load}: CPU µs/answer  {fmt(us)}")
    for name, proc in spies.items():
        await proc.wait()
        raw = out / f"{name}.txt"
        if not raw.exists():
            print(f"py-spy on {name} wrote nothing ({proc.returncode})")
            continue
        print_profile(name, raw, us[name.replace("-office", "")], top=args.top)


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--queries", type=int, default=2000, help="queries per round (default 2000)")
    ap.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    ap.add_argument("--warmup", type=int, default=300, help="queries before the rounds")
    ap.add_argument("--people", type=int, default=2000, help="taxpayers seeded (default 2000)")
    ap.add_argument(
        "--hubs", type=int, default=1, help="hub processes side by side (the hub column: all)"
    )
    ap.add_argument(
        "--in-flight",
        type=int,
        default=1,
        help="queries in flight at once (default 1; 128: renkei's peak in query_bench)",
    )
    ap.add_argument(
        "--paced",
        type=float,
        metavar="RATE",
        help="queries started at RATE a second whatever the answers do (open loop, as"
        " query_bench's half-peak phase), instead of --in-flight",
    )
    ap.add_argument("--profile", metavar="DIR", help="then one round under py-spy: stacks in DIR")
    ap.add_argument(
        "--cprofile",
        metavar="DIR",
        help="run the services under cProfile (their stats in DIR/NAME.prof when they stop;"
        " CPU figures then include cProfile's own cost)",
    )
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples a second")
    ap.add_argument(
        "--native",
        dest="spy",
        action="store_const",
        const=["--native"],
        default=[],
        help="py-spy --native: C frames too (what the event loop's own time is)",
    )
    ap.add_argument("--top", type=int, default=16, help="rows of each profile printed")
    ap.add_argument(
        "--rabbitmq-pid",
        type=int,
        help="the broker's beam.smp, a node of this run's own (RENKEI_BENCH_AMQP_URL and"
        " RENKEI_BENCH_ADMIN_URL on it): the rabbitmq column counts it alone, not every"
        " beam.smp of the machine",
    )
    ap.add_argument(
        "--latencies",
        metavar="FILE",
        type=Path,
        help="append each query's round, number, start (s into its round) and latency (ms)"
        " to FILE, as CSV: where the slow ones fall",
    )
    ap.add_argument("--keep-logs", action="store_true")
    args = ap.parse_args()
    if args.profile and args.hubs > 1:
        ap.error("--profile divides one hub process's samples by the hub column: --hubs 1")
    # what Renkei reads of query_bench's arguments; a vhost and database of this run's own
    args.vhost, args.db_name = f"renkei-cpu-{os.getpid()}", f"renkei_cpu_{os.getpid()}"
    args.service_log_level = "warning"
    for name in ("profile", "cprofile"):
        if getattr(args, name):
            setattr(args, name, Path(getattr(args, name)).resolve())
            getattr(args, name).mkdir(parents=True, exist_ok=True)
    return args


if __name__ == "__main__":
    if sys.argv[1:2] == ["--under-cprofile"]:
        sys.exit(run_under_cprofile(sys.argv[2:]))
    sys.exit(uvloop.run(run(parse())))
