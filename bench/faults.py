"""Faults under load, the long form: ``tests/faults/campaign.py`` with longer loads, several
injections per fault, and a PostgreSQL of its own that it restarts (never the machine's: other
suites run against it). The table goes to stdout, ready for ``docs/reliability.md``.

    .venv/bin/python bench/faults.py [--rate 20] [--seconds 40] [--injections 2] [--deadline 5]
                                     [--only WORD ...] [--no-private-postgres]

RabbitMQ: the machine's, in a vhost of its own (node kills: ``tests/integration/cluster`` on
``renkei cluster``'s private three nodes). PostgreSQL: a private server made with ``initdb`` in
a temporary folder on a free port (``/usr/lib/postgresql/*/bin``), removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "tests" / "faults")]

from campaign import CHILD, HEADER, campaign  # noqa: E402
from proc_env import deployed, file_taxpayer, free_port  # noqa: E402

from renkei.secrets import State  # noqa: E402


def private_postgres(folder: Path) -> tuple[str, list[str]]:
    """initdb + pg_ctl start on a free port (trust, local only): its URL and its pg_ctl."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        raise SystemExit("no /usr/lib/postgresql/*/bin: install postgresql (scripts/system-deps)")
    bin_dir, data, port = Path(bins[-1]), folder / "pg", free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: as its own system user
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    subprocess.run(
        [*as_user, bin_dir / "initdb", "-D", data, "-U", "postgres", "-A", "trust"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options]
    pg_ctl += ["-l", str(folder / "log")]
    subprocess.run([*pg_ctl, "start", "-w"], check=True, stdout=subprocess.DEVNULL)
    return f"postgresql://postgres@127.0.0.1:{port}/", pg_ctl


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="renkei-faults-"))
    pg_ctl = None
    try:
        pg = "postgresql://postgres@127.0.0.1:5432/"
        if not args.no_private_postgres:
            pg, pg_ctl = private_postgres(folder)
        async with deployed(folder / "deployment", pg) as env:
            token = await file_taxpayer(env)
            state = State.load(Path(env["RENKEI_STATE_DIR"]), [CHILD])
            rows = await campaign(
                env,
                state,
                token,
                rate=args.rate,
                seconds=args.seconds,
                injections=args.injections,
                deadline=args.deadline,
                only=args.only,
                pg_ctl=pg_ctl,
            )
    finally:
        if pg_ctl is not None:
            subprocess.run([*pg_ctl, "stop", "-m", "immediate"], check=False)  # noqa: ASYNC221 - the end
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {args.rate:g} queries/s for "
        f"{args.seconds:g} s per fault, {args.injections} injection(s), "
        f"deadline {args.deadline:g} s"
    )
    print(HEADER)
    for row in rows:
        print(row.line())
    bad = [(r.fault, r.problems[:5]) for r in rows if r.problems]
    if bad:
        raise SystemExit(f"lost, duplicated or disagreeing: {bad}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--injections", type=int, default=2)
    parser.add_argument("--deadline", type=float, default=5)
    parser.add_argument("--only", nargs="*", help="faults whose name holds one of these words")
    parser.add_argument("--no-private-postgres", action="store_true")
    asyncio.run(main(parser.parse_args()))
