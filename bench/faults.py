"""Faults under load, the long form: ``tests/faults/campaign.py`` with longer loads, several
injections per fault, and a PostgreSQL of its own that it restarts (never the machine's: other
suites run against it). The table goes to stdout, ready for ``docs/reliability.md``.

    .venv/bin/python bench/faults.py [--rate 20] [--seconds 40] [--injections 2] [--deadline 5]
                                     [--only WORD ...] [--no-private-postgres] [--no-records-disk]
                                     [--rabbitmq | --cluster]

The records' disk full: run as root with the private PostgreSQL, the access records' table and
its indexes are moved to a tablespace on a tmpfs of its own (``--records-disk-mb``, 64 MB),
which the fault fills to its last byte for 5 s and then frees; unmounted afterwards.

RabbitMQ: the machine's, in a vhost of its own; with ``--rabbitmq``, one node of the campaign's
own, which it also kills and stops (two more rows); with ``--cluster``, three nodes of its own in
one cluster, of which it kills one, then another once the first has rejoined (one more row).
Either is ``renkei cluster``'s nodes without its services (``brokers_up``: other ports, folders
and Erlang cookie, never the machine's broker), removed afterwards. PostgreSQL: a private
server made with ``initdb`` in a temporary folder on a free port (``/usr/lib/postgresql/*/bin``),
removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "tests" / "faults")]

import asyncpg  # noqa: E402
from campaign import (  # noqa: E402
    APPLICATIONS_HEADER,
    EVENTS_HEADER,
    HEADER,
    campaign,
    private_postgres,
)
from proc_env import deployed, file_taxpayer, free_base_port  # noqa: E402

from renkei.cluster import Cluster, Manifest  # noqa: E402
from renkei.cluster_commands import brokers_up, remove  # noqa: E402


def small_disk(folder: Path, megabytes: int) -> Path:
    """A tmpfs of ``megabytes`` at ``folder`` (root only), with an empty folder in it owned by
    the PostgreSQL server's user (a tablespace's location)."""
    folder.mkdir()
    size = f"size={megabytes}m,mode=0755"
    subprocess.run(["mount", "-t", "tmpfs", "-o", size, "tmpfs", folder], check=True)
    (folder / "ts").mkdir()
    shutil.chown(folder / "ts", "postgres", "postgres")
    return folder


async def records_on(db_url: str, disk: Path) -> None:
    """Move the access records' table and its indexes to a tablespace at ``disk``."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(f"CREATE TABLESPACE records_disk LOCATION '{disk / 'ts'}'")
        await conn.execute("ALTER TABLE records.access_record SET TABLESPACE records_disk")
        for (index,) in await conn.fetch(
            "SELECT indexname FROM pg_indexes"
            " WHERE schemaname = 'records' AND tablename = 'access_record'"
        ):
            await conn.execute(f'ALTER INDEX records."{index}" SET TABLESPACE records_disk')
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="renkei-faults-"))
    pg_ctl, disk, rabbit = None, None, None
    try:
        pg = "postgresql://postgres@127.0.0.1:5432/"
        if not args.no_private_postgres:
            pg, pg_ctl = private_postgres(folder)
            if not args.no_records_disk and os.geteuid() == 0:
                disk = small_disk(folder / "records-disk", args.records_disk_mb)
        broker = None
        if args.rabbitmq or args.cluster:
            nodes = 3 if args.cluster else 1
            manifest = Manifest(free_base_port(), pg + "postgres", (), hubs=0, nodes=nodes)
            rabbit = Cluster(folder / "rabbitmq", manifest)
            await brokers_up(rabbit)
            broker = (rabbit.broker_url, rabbit.admin_url)
        async with deployed(folder / "deployment", pg, broker) as env:
            await file_taxpayer(env)
            if disk is not None:
                await records_on(env["RENKEI_DB_URL"], disk)
            rows = await campaign(
                env,
                rate=args.rate,
                seconds=args.seconds,
                injections=args.injections,
                deadline=args.deadline,
                only=args.only,
                pg_ctl=pg_ctl,
                disk=disk,
                rabbit=rabbit,
            )
    finally:
        if rabbit is not None:
            await remove(rabbit)
        if pg_ctl is not None:
            subprocess.run([*pg_ctl, "stop", "-m", "immediate"], check=False)  # noqa: ASYNC221 - the end
        if disk is not None:
            subprocess.run(["umount", disk], check=False)  # noqa: ASYNC221 - the end
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {args.rate:g} queries/s for "
        f"{args.seconds:g} s per fault, {args.injections} injection(s), "
        f"deadline {args.deadline:g} s"
    )
    print(HEADER)
    for row in rows:
        print(row.line())
    print(f"\n{EVENTS_HEADER}")
    for row in rows:
        print(row.events_line())
    print(f"\n{APPLICATIONS_HEADER}")
    for row in rows:
        print(row.applications_line())
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
    parser.add_argument("--no-records-disk", action="store_true", help="no full-disk row")
    parser.add_argument("--records-disk-mb", type=int, default=64)
    brokers = parser.add_mutually_exclusive_group()
    brokers.add_argument(
        "--rabbitmq", action="store_true", help="on a RabbitMQ node of its own, restarted too"
    )
    brokers.add_argument(
        "--cluster", action="store_true", help="on three RabbitMQ nodes of its own, killed in turn"
    )
    asyncio.run(main(parser.parse_args()))
