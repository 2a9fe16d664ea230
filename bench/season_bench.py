#!/usr/bin/env python3
"""The June season on RabbitMQ and PostgreSQL: the highest sustained rate with p99 under
100 ms and nothing lost, with one and with two hub processes, beside the bare relay's peak
measured in the same sitting (``query_bench.py``'s relay, 64 in flight).

    .venv/bin/python bench/season_bench.py [--rates 20,40,60,80,100] [--duration 30s]

A deployment of its own (vhost ``renkei-season``, database ``renkei_season``, broker users
with a prefix of this run) made as an operator does: ``renkei init``, ``broker setup``, ``db
migrate``, ``population generate``. The services run as processes: the token service, one or
two hubs, the tax office the season asks (``shinjuku-tax``: the 転入元 of the movers whose
income the June season checks over the network), and every other office the season's senders
do not play in one process (``--role offices``: they hold the people whose changes are
reported and answer the portal's わたしの情報). Each rate is one ``renkei season replay
june-child-allowance --rate R`` (the replayer plays the senders); the rates go up until the
p99 passes ten times the target or the loss check fails, so the whole curve is printed; the
figure is the highest rate with p99 < 100 ms and nothing lost. Everything is removed at the
end (Ctrl-C too).

``--soak 20m``: instead of the rates, one replay that long at ``--soak-rate`` (default 30/s,
well under capacity) with one hub process, its report's ``memory`` printed: each process's
mean RSS over the first and the last third after ``--warmup`` (default 2m), flat when it grows
less than 5 %. ``--compress`` (default 240m for the soak: the run stays in office hours, the
load about even) as the replay's.

    nice -n 10 .venv/bin/python bench/season_bench.py --soak 20m [--soak-rate 30]

``--portal`` (either mode): the CA (``renkei pki serve``) and the portal (``renkei portal
serve``) as processes too, and the replay's logins, pages and applications at the portal over
HTTP (``renkei season replay --portal``); without it they are left out (the pages asked by
the replayer as the portal).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import pids_by_comm
from query_bench import (
    ADMIN_URL,
    AMQP_URL,
    PG_DSN,
    Admin,
    BaselineClient,
    Phase,
    closed_loop,
    spawn_role,
    with_db,
)

from hub.routing import load_default_registry, load_default_table
from loadtest.schedule import parse_duration
from loadtest.season import load_season
from renkei.network import identities

SEASON = "june-child-allowance"
P99_MS = 100.0
PROVIDER = "shinjuku-tax"  # the tax office the season asks, as a process of its own
RENKEI = str(Path(sys.executable).with_name("renkei"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def env_for(args: argparse.Namespace, tmp: Path, prefix: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")},
        "RENKEI_BROKER_URL": AMQP_URL,
        "RENKEI_BROKER_ADMIN_URL": ADMIN_URL,
        "RENKEI_BROKER_VHOST": args.vhost,
        "RENKEI_BROKER_USER_PREFIX": prefix,
        "RENKEI_DB_URL": with_db(PG_DSN, args.db_name),
        "RENKEI_STATE_DIR": str(tmp / "state"),
        # info for the per-query lines a failed loss check is diagnosed from
        "RENKEI_LOG_LEVEL": os.environ.get("RENKEI_LOG_LEVEL", "warning"),
        "RENKEI_TRACING": "false",
    }


def run_cli(env: dict[str, str], *argv: str, timeout: float = 900) -> str:
    done = subprocess.run(  # noqa: PLW1510 - the status is checked below
        [RENKEI, *argv], env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(
            f"renkei {' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout + done.stderr  # the logs go to stderr


def start(
    env: dict[str, str], argv: list[str], log: Path, ready: str = "running on"
) -> subprocess.Popen[bytes]:
    with log.open("wb") as f:
        proc = subprocess.Popen(
            argv, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{argv} exited:\n{log.read_text()[-2000:]}")
        if ready in log.read_text(errors="replace"):
            return proc
        time.sleep(0.2)
    raise RuntimeError(f"{argv} did not start:\n{log.read_text()[-2000:]}")


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def serve_offices(codes: list[str]) -> None:
    """``--role offices``: these offices in one process until SIGTERM."""
    from renkei.network import load_rules, open_network, with_juki  # noqa: PLC0415
    from renkei.pki_checks import signatures_on_disk  # noqa: PLC0415
    from renkei.secrets import State  # noqa: PLC0415
    from renkei.settings import Settings  # noqa: PLC0415

    async def main() -> None:
        settings = Settings()
        # and their users of 住基ネット (J-LIS, its CA, the registers), each with its own password
        state = State.load(settings.state_dir, with_juki(load_rules(settings)[1], codes))
        signatures = signatures_on_disk(settings.state_dir)  # those taking applications
        net = await open_network(settings, state, run=codes, signatures=signatures)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stopped.set)
        print(f"offices {','.join(codes)} running on RabbitMQ", file=sys.stderr, flush=True)
        await stopped.wait()
        await net.aclose()

    import uvloop  # noqa: PLC0415

    uvloop.run(main())


def replay_at(
    env: dict[str, str], rate: float, args: argparse.Namespace, reports: Path
) -> dict[str, Any]:
    soak = args.soak is not None
    before = set(reports.glob("*")) if reports.exists() else set()
    out = run_cli(
        env, "season", "replay", SEASON, "--rate", str(rate),
        "--duration", args.soak if soak else args.duration,
        "--compress", args.compress or ("240m" if soak else "24m"),
        "--start-hour", "9", "--reports", str(reports),
        "--warmup", args.warmup if soak else "5s",
        *(["--portal", args.portal_url, "--pki", args.pki_url] if args.portal else []),
        timeout=parse_duration(args.soak) + 900 if soak else 900,
    )  # fmt: skip
    (folder,) = set(reports.glob("*")) - before
    (folder / "replay.log").write_text(out)  # the replayer's own log, kept with its report
    report = json.loads((folder / "report.json").read_text())
    lat = report["latency"]["overall"]
    row = {
        "rate": rate,
        "scheduled": report["run"]["scheduled"],
        "p50_ms": lat.get("p50_ms"),
        "p99_ms": lat.get("p99_ms"),
        "p99.9_ms": lat.get("p99.9_ms"),
        "statuses": report["statuses"],
        "loss_ok": report["loss"]["ok"],
        "problems": report["loss"]["problems"][:3],
        "hubs": report["run"]["hub_processes"],
        "report": str(folder),
    }
    if soak:
        row["memory"] = report["memory"]
        row["send_lag_p99_ms"] = report["run"]["send_lag"].get("p99_ms")
    print(json.dumps(row, ensure_ascii=False), flush=True)
    if not report["loss"]["ok"]:
        print(out[-1500:], flush=True)
    return row


async def relay_peak(args: argparse.Namespace, tmp: Path, admin: Admin) -> float:
    """The bare two-hop relay of query_bench.py, 64 in flight, ``--relay-seconds``."""
    await admin.let_relay_in(args.vhost)
    url = AMQP_URL.rstrip("/") + "/" + args.vhost
    run_id = os.urandom(4).hex()
    ns = argparse.Namespace(prefetch=100, loop="uvloop", baseline_acks="each")
    client = BaselineClient(url, run_id, 600, 100)
    await client.start("each")
    roles = {
        r: await spawn_role(r, url, run_id, ns, tmp / f"{r}.log") for r in ("provider", "middle")
    }
    try:
        phase = Phase("baseline", "saturated", inflight=64)
        groups = lambda: {"client": [os.getpid()], "rabbitmq": pids_by_comm("beam.smp")}  # noqa: E731
        await closed_loop(phase, client.call, groups, 2.0, args.relay_seconds)
        return phase.rate
    finally:
        await client.close()
        for p in roles.values():
            p.terminate()
            p.wait(10)


def services(
    env: dict[str, str], tmp: Path, hubs: int, others: list[str], args: argparse.Namespace
) -> list[subprocess.Popen[bytes]]:
    """The token service, ``hubs`` hub processes, the tax office the season asks, with
    ``--portal`` the CA and the portal, and every other office the replayer does not play
    (one process)."""
    procs = [start(env, [RENKEI, "run", "token"], tmp / "token.log")]
    procs += [start(env, [RENKEI, "run", "hub"], tmp / f"hub-{i}.log") for i in range(hubs)]
    procs.append(start(env, [RENKEI, "run", "office", PROVIDER], tmp / "tax.log"))
    if args.portal:  # the CA first: the portal and the offices read its chain
        pki = [RENKEI, "pki", "serve", "--port", args.pki_url.rsplit(":", 1)[1]]
        procs.append(start(env, pki, tmp / "pki.log", ready="CA serving"))
        port = args.portal_url.rsplit(":", 1)[1]
        portal = [RENKEI, "portal", "serve", "--port", port, "--public-url", args.portal_url]
        procs.append(start(env, portal, tmp / "portal.log", ready="portal:"))
    script = [sys.executable, __file__, "--role", "offices", "--codes", ",".join(others)]
    procs.append(start(env, script, tmp / "offices.log"))
    return procs


def soak_summary(results: dict[str, Any]) -> int:
    row = results["soak"]
    print(f"==== soak {results['date']}: {row['scheduled']} messages at {row['rate']}/s")
    print(f"p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms; loss check ok: {row['loss_ok']}")
    print(f"{'process':<28} {'first third MiB':>16} {'last third MiB':>15} {'growth':>8}  flat")
    for name, m in row["memory"].items():
        if m.get("flat") is None:
            print(f"{name:<28} {m.get('why')}")
            continue
        print(f"{name:<28} {m['first_mb']:>16} {m['last_mb']:>15} {m['growth']:>8.2%}  {m['flat']}")
    return 0 if row["loss_ok"] else 1


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rates", default="2,5,10,15,20,30,45,60,80,100")
    ap.add_argument("--hubs", default="1,2")
    ap.add_argument("--duration", default="30s")
    ap.add_argument("--residents", type=int, default=20000)
    ap.add_argument("--relay-seconds", type=float, default=10.0)
    ap.add_argument("--vhost", default="renkei-season")
    ap.add_argument("--db-name", default="renkei_season")
    ap.add_argument("--soak", help="one replay this long (20m) instead of the rates")
    ap.add_argument("--soak-rate", type=float, default=30.0)
    ap.add_argument("--warmup", default="2m", help="the soak's warm-up (default 2m)")
    ap.add_argument("--compress", help="a season day (default 24m; the soak's 240m)")
    ap.add_argument(
        "--portal",
        action="store_true",
        help="the CA and the portal as processes, logins, pages and applications over HTTP",
    )
    ap.add_argument("--role", help=argparse.SUPPRESS)
    ap.add_argument("--codes", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "offices":
        serve_offices(args.codes.split(","))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="renkei-season-"))
    prefix = f"season{os.getpid()}-"
    env = env_for(args, tmp, prefix)
    admin = Admin()
    registry = load_default_registry(load_default_table())
    users = [prefix + i for i in identities(registry)]
    senders = set(load_season(SEASON).offices())
    if args.portal:  # the CA's office and the portal are their processes
        senders |= {"jlis-pki", "myna-portal"}
        args.pki_url, args.portal_url = (f"http://127.0.0.1:{free_port()}" for _ in range(2))
    others = [o.code for o in registry if o.code not in senders and o.code != PROVIDER]
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        asyncio.run(admin.delete_vhost(args.vhost))
        asyncio.run(admin.create_db(args.db_name))
        for step in (["init"], ["broker", "setup"], ["db", "migrate"]):
            run_cli(env, *step)
        run_cli(env, "population", "generate", "--residents", str(args.residents))
        if args.soak is not None:
            procs = services(env, tmp, 1, others, args)
            results["soak"] = replay_at(env, args.soak_rate, args, tmp / "reports")
            return soak_summary(results)
        results["relay_before"] = asyncio.run(relay_peak(args, tmp, admin))
        print(f"bare relay peak: {results['relay_before']:.0f}/s", flush=True)
        for hubs in (int(h) for h in args.hubs.split(",")):
            procs = services(env, tmp, hubs, others, args)
            rows = []
            for rate in (float(r) for r in args.rates.split(",")):
                row = replay_at(env, rate, args, tmp / "reports")
                rows.append(row)
                # past the target the rates go on (the curve is the finding) until the p99 is
                # ten times the target or something is lost
                if not row["loss_ok"] or (row["p99_ms"] or 1e9) >= 10 * P99_MS:
                    break
            good = [r["rate"] for r in rows if r["loss_ok"] and (r["p99_ms"] or 1e9) < P99_MS]
            results[f"hubs_{hubs}"] = {"rows": rows, "highest_ok": max(good) if good else None}
            stop(procs)
            procs = []
        results["relay_after"] = asyncio.run(relay_peak(args, tmp, admin))
        print(f"bare relay peak (after): {results['relay_after']:.0f}/s", flush=True)
    finally:
        stop(procs)
        asyncio.run(admin.delete_vhost(args.vhost))
        asyncio.run(admin.drop_db(args.db_name))

        async def drop_users() -> None:
            from hub.bus import delete_users  # noqa: PLC0415

            await delete_users(ADMIN_URL, users)

        asyncio.run(drop_users())
        keep = Path("reports") / f"season-bench-{time.strftime('%Y%m%dT%H%M%S')}"
        if (tmp / "reports").exists():
            shutil.copytree(tmp / "reports", keep)
            (keep / "season_bench.json").write_text(json.dumps(results, indent=1))
            for log_file in tmp.glob("*.log"):  # the services' own logs: why a run failed
                shutil.copy(log_file, keep / log_file.name)
            print(f"reports and the services' logs kept in {keep}")
        shutil.rmtree(tmp, ignore_errors=True)
    print("==== summary")
    print(
        json.dumps(
            {
                k: (v if not isinstance(v, dict) else {"highest_ok": v["highest_ok"]})
                for k, v in results.items()
            }
        )
    )
    for hubs in args.hubs.split(","):
        r = results.get(f"hubs_{hubs}", {})
        print(
            f"{hubs} hub process(es): highest sustained rate with p99 < {P99_MS:.0f} ms and"
            f" nothing lost: {r.get('highest_ok')}/s"
        )
    before, after = results.get("relay_before", 0), results.get("relay_after", 0)
    print(f"the bare relay's peak (64 in flight), before and after: {before:.0f}/s, {after:.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
