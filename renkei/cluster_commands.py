"""``renkei cluster up|status|down``: the network's topology on one machine, no containers.

``up`` starts three RabbitMQ nodes (``rabbitmq-server`` with a node name, ports and folders
of their own, ``renkei/cluster.py``), joins them into one cluster with ``rabbitmqctl
join_cluster``, makes a PostgreSQL database of the cluster's own, runs ``renkei init``,
``broker setup`` (every queue a quorum queue, on all three nodes) and ``db migrate``, and
starts the services as ``renkei run`` processes, each told every node
(``RENKEI_BROKER_URL=amqp://…@127.0.0.1:5681,127.0.0.1:5682,127.0.0.1:5683/``). Running it
again starts whatever is not running — a node that died rejoins the cluster. ``status`` shows
the nodes, the services and where each queue's replicas are; ``down`` stops everything and
removes the folder and the database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import asyncpg

from hub.bus import BrokerAdminError, broker_nodes, queue_replicas
from renkei.cluster import (
    ADMIN,
    ENABLED_PLUGINS,
    MANIFEST,
    READY,
    VHOST,
    Cluster,
    Manifest,
    Node,
)
from renkei.exceptions import (
    RENKEI_CLUSTER,
    RENKEI_NO_RABBITMQ,
    RENKEI_NODE_FAILED,
    RENKEI_PORT_IN_USE,
    RENKEI_RABBITMQCTL,
    RENKEI_SERVICE_FAILED,
    RENKEI_UNKNOWN_OFFICE,
    RENKEI_USAGE,
    CommandError,
)
from renkei.network import load_rules
from renkei.processes import is_ours, spawn, stop, wait_for_line
from renkei.settings import Settings

__all__ = ["add_cluster_commands", "brokers_up", "remove", "stop_node"]

POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
OFFICES = ("jlis", "chiyoda-tax")
# Debian's packages put RabbitMQ's scripts here; /usr/sbin holds wrappers that switch to the
# rabbitmq user (and so to its Erlang cookie and folders): the cluster runs as its caller
PACKAGED = Path("/usr/lib/rabbitmq/bin")
STARTUP = 180.0  # seconds a node or a service may take to start on a busy machine


def add_cluster_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--dir", type=Path, help="the cluster's folder (default <state_dir>/cluster)"
    )
    cluster = sub.add_parser(
        "cluster", help="three RabbitMQ nodes, PostgreSQL and the services on this machine"
    )
    csub = cluster.add_subparsers(dest="action", required=True)
    up = csub.add_parser("up", parents=[where], help="start it (again: start what is not running)")
    up.add_argument(
        "--base-port",
        type=int,
        default=5680,
        help="node N listens on BASE+N (AMQP), +10000 (management), +20000 (Erlang); default 5680",
    )
    up.add_argument(
        "--postgres", default=POSTGRES, help=f"a server to make a database on ({POSTGRES})"
    )
    up.add_argument(
        "--office",
        action="append",
        help=f"an office to run (repeatable; default {', '.join(OFFICES)})",
    )
    up.add_argument("--hubs", type=int, default=2, help="hub workers (default 2)")
    up.add_argument("--rabbitmq-bin", type=Path, help="where rabbitmq-server and rabbitmqctl are")
    up.set_defaults(run=cluster_up)
    csub.add_parser("status", parents=[where], help="nodes, services, queue replicas").set_defaults(
        run=cluster_status
    )
    csub.add_parser(
        "down", parents=[where], help="stop it and remove everything it made"
    ).set_defaults(run=cluster_down)


def _folder(settings: Settings, args: argparse.Namespace) -> Path:
    return (args.dir or settings.state_dir / "cluster").absolute()


def _load(folder: Path) -> Cluster | None:
    path = folder / MANIFEST
    return Cluster(folder, Manifest.loads(path.read_text())) if path.exists() else None


def _save(cluster: Cluster) -> None:
    (cluster.folder / MANIFEST).write_text(cluster.manifest.dumps())


def _mark(cluster: Cluster) -> str:
    """In the environment of every process of this cluster, and of no other cluster's."""
    return f"{cluster.folder}/"


# ---- up ----------------------------------------------------------------------------------------


async def cluster_up(settings: Settings, args: argparse.Namespace) -> int:
    folder = _folder(settings, args)
    cluster = _load(folder)
    if cluster is None:
        cluster = Cluster(folder, _new_manifest(settings, args))
    else:
        print(f"(the cluster in {folder} keeps its base port {cluster.manifest.base_port})")
    await brokers_up(cluster, args.rabbitmq_bin)
    await _create_database(cluster)
    env = _renkei_env(settings, cluster)
    for command in (["init"], ["broker", "setup"], ["db", "migrate"]):
        await _renkei(env, cluster.folder, command)
    await _start_services(cluster, env)
    print(f"cluster up in {folder}: nodes {', '.join(n.name for n in cluster.nodes)}")
    print(f"services: {', '.join(cluster.manifest.pids)} (logs in {folder / 'logs'})")
    print("renkei commands reach it with:")
    for name, value in cluster.settings_env().items():
        print(f"  export {name}={value}")
    return 0


async def brokers_up(cluster: Cluster, rabbitmq_bin: Path | None = None) -> None:
    """The RabbitMQ nodes of ``up`` alone (no database, no services): folders and files made,
    every node not running started, the nodes joined into one cluster the first time. Again:
    a node that died starts and rejoins. ``bench/faults.py`` runs its brokers with it."""
    sbin = _rabbitmq_bin(rabbitmq_bin)
    _prepare(cluster)
    _save(cluster)
    await _start_nodes(cluster, sbin)
    if not cluster.manifest.joined:
        await _join(cluster, sbin)
        cluster.manifest.joined = True
        _save(cluster)


async def stop_node(cluster: Cluster, node: Node, *, kill: bool = False) -> None:
    """One node stopped as ``down`` stops it (SIGTERM: RabbitMQ shuts down gracefully; SIGKILL
    after 60 s), or killed at once (``kill``: SIGKILL, as a crash); returns once it is gone."""
    pid = _node_running(cluster, node)
    if pid is None:
        return
    if kill:
        os.kill(pid, signal.SIGKILL)
    await stop({node.name: pid}, _mark(cluster), grace=60)


def _new_manifest(settings: Settings, args: argparse.Namespace) -> Manifest:
    registry = load_rules(settings)[1]
    offices = tuple(args.office or OFFICES)
    unknown = [code for code in offices if code not in registry]
    if unknown:
        raise CommandError(RENKEI_UNKNOWN_OFFICE, f"no office {', '.join(unknown)} in the registry")
    if args.hubs < 1:
        raise CommandError(RENKEI_USAGE, "--hubs takes 1 or more")
    if not 1024 <= args.base_port <= 45000:
        raise CommandError(RENKEI_USAGE, "--base-port takes 1024 to 45000 (+20003 must be a port)")
    return Manifest(args.base_port, args.postgres, offices, args.hubs)


def _rabbitmq_bin(given: Path | None) -> Path:
    found = shutil.which("rabbitmq-server")
    candidates = [given] if given else [PACKAGED, *([Path(found).parent] if found else [])]
    for folder in candidates:
        if (folder / "rabbitmq-server").is_file() and (folder / "rabbitmqctl").is_file():
            return folder
    raise CommandError(
        RENKEI_NO_RABBITMQ,
        "rabbitmq-server and rabbitmqctl not found: install RabbitMQ (scripts/system-deps) "
        "or pass --rabbitmq-bin DIR",
    )


def _prepare(cluster: Cluster) -> None:
    """Folders, the cluster's Erlang cookie, each node's files (idempotent)."""
    cluster.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    cookie = cluster.folder / ".erlang.cookie"
    if not cookie.exists():
        cookie.write_text(secrets.token_hex(20).upper())
        cookie.chmod(0o400)  # Erlang refuses a cookie others may read
    for node in cluster.nodes:
        for sub in ("mnesia", "log", "conf.d"):
            (node.folder / sub).mkdir(parents=True, exist_ok=True)
        (node.folder / "rabbitmq.conf").write_text(node.config())
        (node.folder / "enabled_plugins").write_text(ENABLED_PLUGINS)
        (node.folder / "rabbitmq-env.conf").write_text("")


def _node_env(cluster: Cluster, node: Node) -> dict[str, str]:
    return {**os.environ, **node.env(cluster.folder)}


def _node_running(cluster: Cluster, node: Node) -> int | None:
    try:
        pid = int(node.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_ours(pid, _mark(cluster)) else None


async def _start_nodes(cluster: Cluster, sbin: Path) -> None:
    started = {}
    for node in cluster.nodes:
        if _node_running(cluster, node) is None:
            _check_free(node.amqp, node.management, node.dist)
            argv = [str(sbin / "rabbitmq-server")]
            started[node] = spawn(argv, _node_env(cluster, node), node.folder, node.log)
    # all at once: a cluster whose nodes all stopped waits for its peers to come back
    await asyncio.gather(
        *(_await_node(cluster, sbin, node, started.get(node)) for node in cluster.nodes)
    )


def _check_free(*ports: int) -> None:
    for port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                raise CommandError(
                    RENKEI_PORT_IN_USE,
                    f"port {port} is in use (another cluster?): pass another --base-port",
                ) from None


async def _await_node(
    cluster: Cluster, sbin: Path, node: Node, proc: subprocess.Popen[bytes] | None
) -> None:
    """Until its management API answers (cheap to poll), then ``rabbitmqctl await_startup``.
    ``proc``: the node's process if this ``up`` started it."""
    url = f"http://127.0.0.1:{node.management}/api/overview"
    auth = {"Authorization": aiohttp.encode_basic_auth(*ADMIN)}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP
    async with aiohttp.ClientSession(headers=auth, timeout=aiohttp.ClientTimeout(total=5)) as http:
        while True:
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        break
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            if proc is not None and proc.poll() is not None:
                why = f"exited with {proc.returncode}"
            elif proc is None and _node_running(cluster, node) is None:
                why = "is gone"
            elif loop.time() > deadline:
                why = f"did not start in {STARTUP:.0f}s"
            else:
                await asyncio.sleep(0.5)
                continue
            raise CommandError(
                RENKEI_NODE_FAILED,
                f"{node.name} {why}: see {node.log} and {node.folder / 'log'}",
            )
    await _ctl(cluster, sbin, node, "await_startup")


async def _ctl(cluster: Cluster, sbin: Path, node: Node, *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(sbin / "rabbitmqctl"),
        "-n",
        node.name,
        *args,
        env=_node_env(cluster, node),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode:
        tail = out.decode(errors="replace").strip().splitlines()[-5:]
        raise CommandError(
            RENKEI_RABBITMQCTL, f"rabbitmqctl {' '.join(args)} on {node.name}: {' / '.join(tail)}"
        )


async def _join(cluster: Cluster, sbin: Path) -> None:
    first, *others = cluster.nodes
    for node in others:
        await _ctl(cluster, sbin, node, "stop_app")
        await _ctl(cluster, sbin, node, "join_cluster", first.name)
        await _ctl(cluster, sbin, node, "start_app")
        await _ctl(cluster, sbin, node, "await_startup")


async def _create_database(cluster: Cluster) -> None:
    conn = await asyncpg.connect(cluster.manifest.postgres)
    try:
        if not await conn.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", cluster.database
        ):
            await conn.execute(f'CREATE DATABASE "{cluster.database}"')
    finally:
        await conn.close()


def _renkei_env(settings: Settings, cluster: Cluster) -> dict[str, str]:
    """The environment of every renkei process of the cluster: the caller's, less its RENKEI_*
    settings, with the cluster's (and the caller's legal table and registry, if it has its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
    env.update(cluster.settings_env())
    if settings.legal_table:
        env["RENKEI_LEGAL_TABLE"] = str(settings.legal_table.absolute())
    if settings.offices:
        env["RENKEI_OFFICES"] = str(settings.offices.absolute())
    return env


async def _renkei(env: dict[str, str], cwd: Path, args: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "renkei",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode:
        raise CommandError(
            RENKEI_CLUSTER, f"`renkei {' '.join(args)}` failed: {out.decode().strip()}"
        )


async def _start_services(cluster: Cluster, env: dict[str, str]) -> None:
    mark, pids = _mark(cluster), cluster.manifest.pids
    started = {}
    for service in cluster.services:
        if not is_ours(pids.get(service.name), mark):
            log = cluster.log_of(service)
            log.unlink(missing_ok=True)  # its readiness line is looked for in a fresh log
            argv = [sys.executable, "-m", "renkei", *service.args]
            started[service] = spawn(argv, env, cluster.folder, log)
            pids[service.name] = started[service].pid
    _save(cluster)
    ready = await asyncio.gather(
        *(
            wait_for_line(cluster.log_of(s), READY, proc, within=STARTUP)
            for s, proc in started.items()
        )
    )
    failed = [s.name for s, ok in zip(started, ready, strict=True) if not ok]
    if failed:
        raise CommandError(
            RENKEI_SERVICE_FAILED,
            f"{', '.join(failed)} did not start: see {cluster.folder / 'logs'}",
        )


# ---- status ------------------------------------------------------------------------------------


async def cluster_status(settings: Settings, args: argparse.Namespace) -> int:
    cluster = _load(_folder(settings, args))
    if cluster is None:
        print(f"no cluster in {_folder(settings, args)}")
        return 1
    mark, healthy = _mark(cluster), True
    print(f"cluster in {cluster.folder} (database {cluster.database}, vhost {VHOST})")
    try:
        members = {n.name: n.running for n in await broker_nodes(cluster.admin_url, timeout=5)}
    except BrokerAdminError:
        members = {}
    print("nodes:")
    for node in cluster.nodes:
        running = members.get(node.name, False) and _node_running(cluster, node) is not None
        healthy &= running
        print(
            f"  {node.name:<24} amqp {node.amqp}  management {node.management}  "
            f"dist {node.dist}  {'running' if running else 'STOPPED'}"
        )
    print("services:")
    for service in cluster.services:
        pid = cluster.manifest.pids.get(service.name)
        running = is_ours(pid, mark)
        healthy &= running
        print(f"  {service.name:<24} pid {pid}  {'running' if running else 'STOPPED'}")
    print(f"queues (vhost {VHOST}):")
    try:
        queues = await queue_replicas(cluster.admin_url, VHOST, timeout=5)
    except BrokerAdminError as exc:
        print(f"  unknown: {exc}")
        return 1
    width = max((len(q.name) for q in queues), default=0)
    for q in queues:
        kind = "quorum" if q.quorum else "classic"
        healthy &= q.leader is not None and set(q.online) == set(q.members)
        print(
            f"  {q.name:<{width}}  {kind:<7}  leader {q.leader or 'NONE'}  "
            f"members {len(q.members)} ({len(q.online)} online)"
        )
    return 0 if healthy else 1


# ---- down --------------------------------------------------------------------------------------


async def cluster_down(settings: Settings, args: argparse.Namespace) -> int:
    folder = _folder(settings, args)
    cluster = _load(folder)
    if cluster is None:
        print(f"no cluster in {folder}")
        return 0
    await remove(cluster)
    return 0


async def remove(cluster: Cluster) -> None:
    """Stop the services, then the nodes; drop the database; remove the folder."""
    mark, folder = _mark(cluster), cluster.folder
    killed = await stop(cluster.manifest.pids, mark, grace=30)
    nodes = {n.name: pid for n in cluster.nodes if (pid := _node_running(cluster, n))}
    killed += await stop(nodes, mark, grace=60)
    conn = await asyncpg.connect(cluster.manifest.postgres)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{cluster.database}" WITH (FORCE)')
    finally:
        await conn.close()
    shutil.rmtree(folder)
    note = f" (killed after the grace period: {', '.join(killed)})" if killed else ""
    print(f"cluster down: {len(nodes)} nodes and the services stopped{note}")
    print(f"database {cluster.database} dropped, {folder} removed")
