#!/usr/bin/env python3
"""End-to-end query throughput and latency of renkei, against the bare two-hop relay, same run.

    .venv/bin/python bench/query_bench.py            # full run: about 3 minutes
    .venv/bin/python bench/query_bench.py --quick    # smoke run: 3 s per phase

Two systems, each with every role in its own OS process, measured one after the other and
interleaved (these machines are shared and noisy: only ratios from one run mean anything):

baseline   the bare two-hop relay: client → middle → provider → middle → client over aio-pika,
           publisher confirms, durable quorum queues (what the product uses), persistent
           messages, prefetch ``--prefetch``, manual acks after the downstream publish is
           confirmed, and replies through queues as in the product (the middle keeps no state:
           it acks a request once forwarded and relays the provider's reply from its reply
           queue). Every reply is compared with its request. No signatures, records or tokens.
renkei     the product: ``renkei run token``, ``renkei run office shinjuku-tax`` and ``renkei
           run hub`` as their own processes (a fresh vhost, database and state directory made
           with ``renkei init``, ``broker setup`` and ``db migrate``); this process is office
           ``chiyoda-child`` (``OfficeNode`` over ``connect_amqp``) asking ``local_tax`` for
           fiscal year 2024 about taxpayers seeded into the tax office's store. Each query goes
           requester → hub → token translation → tax office → hub (access record durable in
           PostgreSQL) → requester, signatures checked at every step, and every answer is
           checked against the seeded figures.

traced     the same services with tracing on (``RENKEI_TRACING=true``, the default of a
           deployment) and ``renkei run monitor`` storing every span in PostgreSQL; the
           requester exports its spans too. The services are restarted to switch between
           ``renkei`` (tracing off) and ``traced``, alternately, so each in-flight level is
           measured both ways in this run (``--tracing off`` skips it).

Phases: latency at 1 in flight; saturated throughput at each ``--concurrency`` (closed loop,
the best of each system is its peak); then the rate-limited pass at half of renkei's peak
(open loop, latency measured from each query's scheduled start). Each phase is ``--warmup``
then ``--duration`` measured seconds. CPU per message per process comes from /proc.
Afterwards: one access record per query sent, no dead letters, no messages left in queues,
the record chain verified (``renkei records verify``), service logs scanned for warnings.

Exit status: 0 when everything ran and every query was answered correctly (missed targets are
reported, not failures); 1 on any error, wrong or missing answer, or lost record.
Everything made here (processes, vhost, broker users, database, temp dir) is removed at the
end; broker users that existed before are restored with their old password hashes.

Env: RENKEI_BENCH_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/, an administrator),
RENKEI_BENCH_ADMIN_URL (default http://guest:guest@127.0.0.1:15672),
RENKEI_BENCH_PG_DSN (default postgresql://postgres@127.0.0.1:5432/postgres, may create DBs).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import functools
import gc
import itertools
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg
import orjson
import uvloop
from aio_pika.abc import AbstractIncomingMessage
from benchlib import CpuSample, CpuSampler, percentiles, pids_by_comm

from hub.bus import connect_amqp, vhost_access
from hub.bus._acks import AckBatch
from hub.bus.juki import JUKI_VHOST_SUFFIX
from hub.log import configure
from hub.metrics import METRICS
from hub.node import OfficeNode, PgStore
from hub.numbers import resident_record_code
from hub.routing import load_default_registry, load_default_table
from hub.tracing import OFF, Tracing
from hub.wire import HUB
from renkei.network import identities
from renkei.secrets import TOKEN, State
from renkei.settings import Settings
from token_service import KeyRing

AMQP_URL = os.environ.get("RENKEI_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
ADMIN_URL = os.environ.get("RENKEI_BENCH_ADMIN_URL", "http://guest:guest@127.0.0.1:15672")
USER_PREFIX = f"bench{os.getpid()}-"
PG_DSN = os.environ.get("RENKEI_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

REQUESTER, PROVIDER = "chiyoda-child", "shinjuku-tax"  # two wards: one ward's are in-house
AFFAIR, ITEM, FISCAL_YEAR = "child_allowance", "local_tax", 2024
SCRIPT = str(Path(__file__).resolve())
CALL_TIMEOUT = 15.0  # the bench's own guard; the office's deadline (10 s + 1 s grace) is first
# DESIGN §10 and issue 19: the peak against the relay's (0.5 in DESIGN, 0.6 asked by issue 19,
# goal 0.7); p50 at 1 in flight and p99 at half renkei's peak against the relay's at that rate
TARGET_RATIO, GOAL_RATIO, TARGET_P50X, TARGET_P99X = 0.6, 0.7, 2.0, 3.0
TARGET_TRACED = 0.9  # throughput with tracing on, against off

Call = Callable[[int], Awaitable[str | None]]  # query number → None if ok, else the problem


# ---- the baseline: a bare two-hop relay ---------------------------------------------------------


def baseline_queues(run_id: str) -> dict[str, str]:
    return {
        role: f"bench.{run_id}.{role}"
        for role in ("middle.requests", "middle.replies", "provider.in", "client.replies")
    }


async def serve_role(args: argparse.Namespace) -> None:
    """A baseline role process (``--role middle|provider``): relay until SIGTERM."""
    q = baseline_queues(args.run_id)
    conn = await aio_pika.connect(args.url)
    ch = await conn.channel(publisher_confirms=True)
    await ch.set_qos(prefetch_count=args.prefetch)
    ex = ch.default_exchange
    persistent = aio_pika.DeliveryMode.PERSISTENT
    errors = collections.Counter[str]()
    acks = await Acks.on(ch, args.baseline_acks, args.prefetch)

    async def relay(msg: AbstractIncomingMessage, to: str, headers: dict[str, Any]) -> None:
        try:
            await ex.publish(
                aio_pika.Message(
                    msg.body,
                    correlation_id=msg.correlation_id,
                    headers=headers,
                    delivery_mode=persistent,
                ),
                routing_key=to,
            )
        except Exception as exc:  # noqa: BLE001 - counted and reported, the delivery requeued
            errors[type(exc).__name__] += 1
            await acks.nack(msg)
            return
        await acks.ack(msg)

    async def provider(msg: AbstractIncomingMessage) -> None:
        await relay(msg, q["middle.replies"], dict(msg.headers))

    async def middle_request(msg: AbstractIncomingMessage) -> None:
        # stateless, like the hub: where the answer goes travels with the forwarded message
        await relay(msg, q["provider.in"], {"client": msg.reply_to or ""})

    async def middle_reply(msg: AbstractIncomingMessage) -> None:
        await relay(msg, str(msg.headers.get("client", "")), {})

    if args.role == "provider":
        consumers = {"provider.in": provider}
    else:
        consumers = {"middle.requests": middle_request, "middle.replies": middle_reply}
    for queue, fn in consumers.items():
        await (await ch.get_queue(q[queue], ensure=False)).consume(acks.consumer(fn))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    gc.collect()  # as renkei's services do (renkei.serving.until_stopped)
    gc.freeze()
    print("READY", flush=True)
    await stop.wait()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(conn.close(), 5)
    if errors:
        print(f"{args.role}: publish errors {dict(errors)}", file=sys.stderr)


RawHandler = Callable[[AbstractIncomingMessage], Awaitable[None]]


class Acks:
    """``each``: one ack per message, as DESIGN §10's reference relay; ``batched``: renkei's
    own coalescing (`hub.bus._acks.AckBatch`), to show how much of renkei's gain any relay
    would get from it."""

    def __init__(self, batch: AckBatch | None) -> None:
        self.batch = batch

    @classmethod
    async def on(cls, ch: Any, how: str, prefetch: int) -> Acks:
        if how == "each":
            return cls(None)
        raw = await ch.get_underlay_channel()
        ack, nack = functools.partial(_ack_on, raw), functools.partial(_nack_on, raw)
        return cls(AckBatch(ack, nack, most=max(1, prefetch // 4)))

    def consumer(self, fn: RawHandler) -> RawHandler:
        batch = self.batch
        if batch is None:
            return fn

        async def run(msg: AbstractIncomingMessage) -> None:
            batch.delivered(msg.delivery_tag or 0)
            await fn(msg)

        return run

    async def ack(self, msg: AbstractIncomingMessage) -> None:
        if self.batch is None:
            await msg.ack()
        else:
            self.batch.ack(msg.delivery_tag or 0)

    async def nack(self, msg: AbstractIncomingMessage) -> None:
        if self.batch is None:
            await msg.nack(requeue=True)
        else:
            self.batch.nack(msg.delivery_tag or 0, requeue=True)


async def _ack_on(raw: Any, tag: int, multiple: bool) -> None:
    await raw.basic_ack(tag, multiple=multiple, wait=False)


async def _nack_on(raw: Any, tag: int, requeue: bool) -> None:
    await raw.basic_nack(tag, requeue=requeue, wait=False)


class BaselineClient:
    """The relay's client, in this process: publishes, awaits the reply, compares it."""

    def __init__(self, url: str, run_id: str, size: int, prefetch: int) -> None:
        self.url, self.q, self.size, self.prefetch = url, baseline_queues(run_id), size, prefetch
        self.pending: dict[str, asyncio.Future[bytes]] = {}
        self.ids = itertools.count()
        self.conn: Any = None
        self.exchange: Any = None
        self.acks = Acks(None)

    async def start(self, acks_how: str, queue_type: str = "quorum") -> None:
        self.conn = await aio_pika.connect(self.url)
        ch = await self.conn.channel(publisher_confirms=True)
        await ch.set_qos(prefetch_count=self.prefetch)
        self.acks = await Acks.on(ch, acks_how, self.prefetch)
        for name in self.q.values():
            await ch.declare_queue(name, durable=True, arguments={"x-queue-type": queue_type})
        self.exchange = ch.default_exchange
        replies = await ch.get_queue(self.q["client.replies"], ensure=False)
        await replies.consume(self.acks.consumer(self._reply))

    async def _reply(self, msg: AbstractIncomingMessage) -> None:
        future = self.pending.pop(msg.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(msg.body)
        await self.acks.ack(msg)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()

    async def call(self, i: int) -> str | None:
        cid = f"q{next(self.ids)}"
        head = b'{"query_id":"%s","n":%d,"pad":"' % (cid.encode(), i)
        body = head + b"x" * max(0, self.size - len(head) - 2) + b'"}'
        future = asyncio.get_running_loop().create_future()
        self.pending[cid] = future
        try:
            await self.exchange.publish(
                aio_pika.Message(
                    body,
                    correlation_id=cid,
                    reply_to=self.q["client.replies"],
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=self.q["middle.requests"],
            )
            reply = await asyncio.wait_for(future, 11.0)
        except TimeoutError:
            return "timed_out: no reply within 11 s"
        finally:
            self.pending.pop(cid, None)
        return None if reply == body else "wrong reply"


# ---- renkei: the real services ------------------------------------------------------------------


def rrc_for(k: int) -> str:
    """The k-th resident-record code: 10 digits and the check digit."""
    return resident_record_code(f"{k:010d}")


def with_db(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def hub_name(i: int) -> str:
    """The ``i``-th hub process's service name: ``hub``, ``hub 2``, ``hub 3``…"""
    return "hub" if i == 0 else f"hub {i + 1}"


class Renkei:
    """The deployment under test: state dir, vhost, database, services, and the requester."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args, self.tmp = args, tmp
        self.renkei = str(Path(sys.executable).with_name("renkei"))
        self.db_url = with_db(PG_DSN, args.db_name)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")},
            "RENKEI_BROKER_URL": AMQP_URL,
            "RENKEI_BROKER_ADMIN_URL": ADMIN_URL,
            "RENKEI_BROKER_VHOST": args.vhost,
            "RENKEI_BROKER_USER_PREFIX": USER_PREFIX,
            "RENKEI_DB_URL": self.db_url,
            "RENKEI_STATE_DIR": str(tmp / "state"),
            "RENKEI_LOG_LEVEL": args.service_log_level,
            "RENKEI_LOG_JSON": "true",
            "RENKEI_TRACING": "false",
            # the hub's channel to the token service: a port of this run's own
            "RENKEI_TOKEN_ADDRESS": f"127.0.0.1:{free_port()}",
        }
        self.tracing = False
        self.services: dict[str, Service] = {}
        self.stopped: list[Service] = []  # services of an earlier mode (their logs are read)
        self.spans_drained: Callable[[], Awaitable[bool]] | None = None
        self.people: list[tuple[str, dict[str, int]]] = []  # requester's token, expected answer
        self.node: Any = None
        self.asked = 0
        self.metrics_ports: dict[str, int] = {}

    async def scrape(self, every: float, seen: dict[str, bytes]) -> None:
        """Every service's GET /metrics every ``every`` seconds, as Prometheus would (more
        often than its default 15 s); the latest exposition of each lands in ``seen``."""
        async with aiohttp.ClientSession() as http:
            while True:
                for name, port in self.metrics_ports.items():
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                        seen[name] = await r.read()
                await asyncio.sleep(every)

    async def cli(self, *argv: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            self.renkei,
            *argv,
            env=self.env,
            cwd=self.tmp,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"renkei {' '.join(argv)} failed:\n{out.decode(errors='replace')}")
        return out.decode(errors="replace")

    async def deploy(self) -> None:
        await self.cli("init")
        await self.cli("broker", "setup")
        await self.cli("db", "migrate")

    async def seed(self, n: int) -> None:
        """``n`` taxpayers in the tax office's own store, under the tax office's tokens."""

        ring = KeyRing(State.load_secret(self.tmp / "state", TOKEN))
        rows = []
        for k in range(1, n + 1):
            link = ring.link_id(rrc_for(k))
            year = {"total_income": 1_800_000 + 1_000 * k, "municipal_income_levy": 60 * k}
            rows.append(
                (
                    f"T{k:07d}",
                    ring.token_for(link, PROVIDER),
                    {"name": f"納税者 {k}", "years": {str(FISCAL_YEAR): year}},
                )
            )
            self.people.append((ring.token_for(link, REQUESTER), year))
        pool = await asyncpg.create_pool(self.db_url, min_size=1, max_size=2)
        try:
            await PgStore(pool, PROVIDER).put_many("taxpayers", rows)
        finally:
            await pool.close()

    async def switch(self, tracing: bool) -> list[str]:
        """Restart the services (and the requester) with tracing on or off."""
        if tracing == self.tracing and self.services:
            return []
        await self.close_requester()
        problems = await self.stop_services()
        self.stopped.extend(self.services.values())
        self.services = {}
        self.tracing = tracing
        self.env["RENKEI_TRACING"] = "true" if tracing else "false"
        await self.start_services()
        await self.connect_requester()
        return problems

    async def start_services(self, *, metrics: bool = False) -> None:
        """``metrics``: each with GET /metrics on a port of its own (``metrics_ports``); with
        tracing on, the monitor first."""
        monitor = [("monitor", ["run", "monitor"])] if self.tracing else []
        for name, argv in (
            *monitor,
            ("token", ["run", "token"]),
            ("tax office", ["run", "office", PROVIDER]),
            *((hub_name(i), ["run", "hub"]) for i in range(self.args.hubs)),
        ):
            log = self.tmp / f"{name.replace(' ', '-')}{'-metrics' if metrics else ''}.log"
            env = self.env
            if metrics:
                self.metrics_ports[name] = free_port()
                env = {**env, "RENKEI_METRICS_PORT": str(self.metrics_ports[name])}
            with log.open("wb") as f:
                proc = subprocess.Popen(  # noqa: ASYNC220 - starting a process does not block
                    [self.renkei, *argv],
                    env=env,
                    cwd=self.tmp,
                    stdout=f,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # stopped by us, in order, not by the terminal
                )
            svc = self.services[name] = Service(name, proc, log)
            await wait_for_line(svc, "running on", 60)

    async def connect_requester(self) -> None:

        state = State.load(self.tmp / "state", [REQUESTER])
        settings = Settings(
            broker_url=AMQP_URL, broker_vhost=self.args.vhost, broker_user_prefix=USER_PREFIX
        )
        url = settings.broker_url_for(REQUESTER, state.passwords[REQUESTER])
        bus = await connect_amqp(url, identity=REQUESTER, user_prefix=USER_PREFIX)
        self.node = OfficeNode(
            code=REQUESTER,
            bus=bus,
            keys=state.keys[REQUESTER],
            hub=state.public[HUB],
            tracing=Tracing.on(bus) if self.tracing else OFF,
        )
        await self.node.start()

    async def close_requester(self) -> None:
        if self.node is not None:
            node, self.node = self.node, None
            await node.stop()
            await node.tracing.close()
            if node.tracing.stats.dropped:
                print(f"requester spans: {node.tracing.stats}")
            await node.bus.close()

    async def call(self, i: int) -> str | None:
        token, year = self.people[i % len(self.people)]
        self.asked += 1
        answer = await self.node.ask(AFFAIR, PROVIDER, (ITEM,), token, {"fiscal_year": FISCAL_YEAR})
        if answer.status != "ok":
            return f"{answer.status} {answer.code}: {answer.reason}"[:300]
        if answer.data != {ITEM: {"fiscal_year": FISCAL_YEAR, **year}}:
            return "wrong answer (not the seeded figures)"
        return None

    async def stop_services(self) -> list[str]:
        """SIGTERM in reverse order of start (the hub first: it flushes its records)."""
        problems = []
        for svc in reversed(list(self.services.values())):
            if svc.name == "monitor" and self.spans_drained is not None:
                for _ in range(100):  # the others' last spans, sent as they stopped
                    if await self.spans_drained():
                        break
                    await asyncio.sleep(0.1)
            if svc.proc.poll() is None:
                svc.proc.terminate()
                try:
                    await asyncio.wait_for(asyncio.to_thread(svc.proc.wait), 20)
                except TimeoutError:
                    svc.proc.kill()
                    problems.append(f"{svc.name} did not stop within 20 s of SIGTERM: killed")
            if svc.proc.returncode not in (0, -signal.SIGTERM):
                problems.append(f"{svc.name} exited with {svc.proc.returncode}")
        return problems

    def exited(self) -> list[str]:
        """A line for each service that has exited, with the end of its log."""
        return [
            f"{svc.name} had exited ({svc.proc.returncode}):\n{svc.log_tail()}"
            for svc in self.services.values()
            if svc.proc.poll() is not None
        ]

    def log_warnings(self) -> tuple[int, list[str]]:
        """Warning-or-worse lines in the services' logs: count and the first few."""
        n, first = 0, list[str]()
        for svc in [*self.stopped, *self.services.values()]:
            with contextlib.suppress(OSError):
                for line in svc.log.read_text(errors="replace").splitlines():
                    if (
                        any(
                            f'"level": "{lv}"' in line or f'"level":"{lv}"' in line
                            for lv in ("warning", "error", "critical")
                        )
                        or "Traceback" in line
                    ):
                        n += 1
                        if len(first) < 6:
                            first.append(f"[{svc.name}] {line[:240]}")
        return n, first


async def wait_for_line(svc: Service, text: str, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if svc.proc.poll() is not None:
            raise RuntimeError(f"{svc.name} exited ({svc.proc.returncode}):\n{svc.log_tail()}")
        with contextlib.suppress(OSError):
            if text in svc.log.read_text(errors="replace"):
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{svc.name} did not start within {within} s:\n{svc.log_tail()}")


# ---- broker and database administration ---------------------------------------------------------


class Admin:
    """The management API (vhost, users) and PostgreSQL (the bench database)."""

    def __init__(self) -> None:
        parts = urlsplit(ADMIN_URL)
        self.base = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}/api/"
        user, password = parts.username or "guest", parts.password or "guest"
        self.headers = {"Authorization": aiohttp.encode_basic_auth(user, password)}

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession(headers=self.headers) as s,
            s.request(method, self.base + path, json=body) as r,
        ):
            data = await r.json() if r.content_type == "application/json" else await r.text()
            if r.status >= 400 and r.status != 404:
                raise RuntimeError(f"management API {method} {path}: {r.status} {data}")
            return r.status, data

    async def users(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The existing users among ``names``: what restores each (its password hash…)."""
        _, data = await self.api("GET", "users")
        wanted = set(names)
        return {
            u["name"]: {
                "password_hash": u["password_hash"],
                "hashing_algorithm": u["hashing_algorithm"],
                "tags": ",".join(u["tags"]) if isinstance(u["tags"], list) else str(u["tags"]),
            }
            for u in data
            if u["name"] in wanted
        }

    async def restore_users(self, ours: Mapping[str, Any], before: Mapping[str, Any]) -> list[str]:
        """Put back the users as they were before the run (old hash, or deleted), but only
        those still ours: a user someone else has set since is left alone."""
        now = await self.users(list(ours))
        skipped = []
        for name, mine in ours.items():
            if name not in now or now[name]["password_hash"] != mine["password_hash"]:
                skipped.append(name)
                continue
            path = f"users/{quote(name, safe='')}"
            if name in before:
                await self.api("PUT", path, before[name])
            else:
                await self.api("DELETE", path)
        return skipped

    async def delete_vhost(self, vhost: str) -> None:
        """The vhost and its 住基ネット twin (`renkei broker setup` makes both)."""
        for name in (vhost, vhost + JUKI_VHOST_SUFFIX):
            await self.api("DELETE", f"vhosts/{quote(name, safe='')}")

    async def let_relay_in(self, vhost: str) -> None:
        """The relay (the baseline) runs in the bench's vhost as the AMQP URL's user, whom
        `renkei broker setup` leaves no permissions there (only the network's identities)."""
        user = quote(urlsplit(AMQP_URL).username or "guest", safe="")
        everything = {"configure": ".*", "write": ".*", "read": ".*"}
        await self.api("PUT", f"permissions/{quote(vhost, safe='')}/{user}", everything)

    async def queues(self, vhost: str, amqp_url: str) -> dict[str, int]:
        """Messages in each queue of ``vhost``, counted by the broker now (a passive declare;
        the management API's counts lag by its statistics interval)."""
        _, data = await self.api("GET", f"queues/{quote(vhost, safe='')}?columns=name")
        async with vhost_access(ADMIN_URL, vhost):  # `broker setup` leaves the admin none
            conn = await aio_pika.connect(amqp_url)
            try:
                ch = await conn.channel()
                counts = {}
                for q in data:
                    declared = await ch.declare_queue(q["name"], passive=True)
                    counts[q["name"]] = declared.declaration_result.message_count or 0
            finally:
                await conn.close()
        return counts

    async def create_db(self, name: str) -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop_db(self, name: str) -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


# ---- phases -------------------------------------------------------------------------------------


@dataclass
class Phase:
    system: str  # baseline | renkei
    mode: str  # latency | saturated | rate
    inflight: int = 0
    target_rate: float = 0.0
    done: int = 0  # correct answers completed in the measured window
    lat: list[float] = field(default_factory=list)
    problems: collections.Counter[str] = field(default_factory=collections.Counter)
    cpu: CpuSample | None = None
    max_inflight: int = 0

    @property
    def wall(self) -> float:
        return self.cpu.wall_s if self.cpu else 0.0

    @property
    def rate(self) -> float:
        return self.done / self.wall if self.wall else 0.0

    @property
    def errors(self) -> int:
        return sum(self.problems.values())

    def pct(self, key: str) -> float:
        value = percentiles(self.lat)[key]
        return float("nan") if value is None else value

    def cpu_us(self) -> dict[str, float]:
        """CPU microseconds per correct answer, per process group, and the machine's total."""
        if self.cpu is None or not self.done:
            return {}
        out = {g: s / self.done * 1e6 for g, s in self.cpu.seconds.items()}
        out["other"] = self.cpu.other_s / self.done * 1e6
        out["machine"] = self.cpu.busy_s / self.done * 1e6
        return out


async def guarded(call: Call, i: int) -> str | None:
    try:
        return await asyncio.wait_for(call(i), CALL_TIMEOUT)
    except TimeoutError:
        return f"bench: no answer within {CALL_TIMEOUT:.0f} s"
    except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
        return f"exception {type(exc).__name__}: {exc}"[:300]


async def closed_loop(
    phase: Phase, call: Call, groups: Callable[[], dict[str, list[int]]], warmup: float, dur: float
) -> Phase:
    """``phase.inflight`` workers, each asking again as soon as it has its answer."""
    seq = itertools.count()
    measuring = stop = False

    async def worker() -> None:
        while not stop:
            t0 = time.perf_counter()
            problem = await guarded(call, next(seq))
            if problem is not None:
                phase.problems[problem] += 1
            elif measuring:
                phase.lat.append(time.perf_counter() - t0)
                phase.done += 1

    tasks = [asyncio.create_task(worker()) for _ in range(phase.inflight)]
    await asyncio.sleep(warmup)
    sampler = CpuSampler(groups())
    measuring = True
    sampler.start()
    await asyncio.sleep(dur)
    measuring = False
    phase.cpu = sampler.stop()
    stop = True
    await asyncio.gather(*tasks)  # each finishes its query in flight (bounded by guarded)
    return phase


async def open_loop(
    phase: Phase, call: Call, groups: Callable[[], dict[str, list[int]]], warmup: float, dur: float
) -> Phase:
    """Queries started at ``phase.target_rate`` a second whatever the answers do; latency is
    measured from each query's scheduled start, so a stall is not hidden."""
    interval = 1.0 / phase.target_rate
    t0 = time.perf_counter()
    m_start, m_end = t0 + warmup, t0 + warmup + dur
    tasks: set[asyncio.Task[None]] = set()
    inflight = 0
    sampler: CpuSampler | None = None

    async def one(i: int, scheduled: float, measured: bool) -> None:
        nonlocal inflight
        inflight += 1
        phase.max_inflight = max(phase.max_inflight, inflight)
        problem = await guarded(call, i)
        inflight -= 1
        if problem is not None:
            phase.problems[problem] += 1
        elif measured:
            phase.lat.append(time.perf_counter() - scheduled)
            phase.done += 1

    n = 0
    while True:
        scheduled = t0 + n * interval
        if scheduled >= m_end:
            break
        now = time.perf_counter()
        if scheduled > now:
            await asyncio.sleep(scheduled - now)
            continue
        measured = scheduled >= m_start
        if measured and sampler is None:
            sampler = CpuSampler(groups())
            sampler.start()
        task = asyncio.create_task(one(n, scheduled, measured))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    assert sampler is not None
    phase.cpu = sampler.stop()
    await asyncio.gather(*tasks)  # the rate counts correct answers to queries sent in the window
    return phase


# ---- the run ------------------------------------------------------------------------------------


def fmt_phase(p: Phase) -> str:
    what = f"{p.inflight:>3} in flight" if p.mode != "rate" else f"{p.target_rate:>5.0f}/s paced"
    cpu = p.cpu_us()
    cpu_txt = " ".join(f"{g}={v:.0f}" for g, v in cpu.items())
    outside = ""
    if p.cpu is not None and p.done:
        outside = f"irq+softirq={p.cpu.irq_s / p.done * 1e6:.0f} " + " ".join(
            f"{c}={v / p.done * 1e6:.0f}" for c, v in p.cpu.others.items()
        )
    return (
        f"{p.system:<8} {p.mode:<9} {what:<14} {p.rate:8.1f}/s  p50 {p.pct('p50_ms'):7.2f} ms"
        f"  p99 {p.pct('p99_ms'):7.2f} ms  max {p.pct('max_ms'):7.1f} ms  errors {p.errors}"
        f"\n{'':<9}CPU µs/answer: {cpu_txt}"
        f"\n{'':<9}  of which outside the groups, busiest: {outside}"
    )


async def spawn_role(role: str, url: str, run_id: str, args: argparse.Namespace, log: Path) -> Any:
    with log.open("wb") as f:
        proc = subprocess.Popen(  # noqa: ASYNC220 - starting a process does not block
            [
                sys.executable,
                SCRIPT,
                "--role",
                role,
                "--url",
                url,
                "--run-id",
                run_id,
                "--prefetch",
                str(args.prefetch),
                "--loop",
                args.loop,
                "--baseline-acks",
                args.baseline_acks,
            ],
            stdout=subprocess.PIPE,
            stderr=f,
            start_new_session=True,
        )
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
    if not line.startswith(b"READY"):
        proc.kill()
        raise RuntimeError(f"baseline {role} did not start; see {log}")
    return proc


async def run(args: argparse.Namespace) -> int:

    configure(level="warning", json=False)
    for noisy in ("aio_pika", "aiormq"):  # a reconnect loop would flood the report
        logging.getLogger(noisy).setLevel(logging.ERROR)
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    failures: list[str] = []
    phases: list[Phase] = []
    admin = Admin()
    tmp = Path(tempfile.mkdtemp(prefix="renkei-bench-"))
    # broker users of this run only (RabbitMQ users are broker-wide): nothing else is touched
    users = [USER_PREFIX + i for i in identities(load_default_registry(load_default_table()))]
    vhost_url = AMQP_URL.rstrip("/") + "/" + quote(args.vhost, safe="")
    renkei = Renkei(args, tmp)
    baseline: BaselineClient | None = None
    roles: dict[str, Any] = {}
    started = time.perf_counter()

    def pg_pids() -> list[int]:
        return pids_by_comm("postgres")

    def groups_baseline() -> dict[str, list[int]]:
        return {
            "client": [os.getpid()],
            "middle": [roles["middle"].pid],
            "provider": [roles["provider"].pid],
            "rabbitmq": pids_by_comm("beam.smp"),
        }

    def groups_renkei() -> dict[str, list[int]]:
        s = renkei.services
        monitor = {"monitor": [s["monitor"].pid]} if "monitor" in s else {}
        return {
            "requester": [os.getpid()],
            "hub": [s[hub_name(i)].pid for i in range(renkei.args.hubs)],
            "token": [s["token"].pid],
            "tax": [s["tax office"].pid],
            **monitor,
            "rabbitmq": pids_by_comm("beam.smp"),
            "postgres": pg_pids(),
        }

    async def spans_drained() -> bool:
        """``monitor.spans`` empty? (A passive declare as the relay's user, who holds rights in
        the vhost; ``admin.queues`` would take them away when done.)"""
        conn = await aio_pika.connect(vhost_url)
        try:
            queue = await (await conn.channel()).declare_queue("monitor.spans", passive=True)
            return not queue.declaration_result.message_count
        finally:
            await conn.close()

    renkei.spans_drained = spans_drained

    async def measure(system: str, mode: str, **kw: Any) -> Phase:
        if system != "baseline":
            failures.extend(await renkei.switch(system == "traced"))
        phase = Phase(system, mode, **kw)
        call: Call = baseline.call if system == "baseline" else renkei.call  # type: ignore[union-attr]
        groups = groups_baseline if system == "baseline" else groups_renkei
        runner = open_loop if mode == "rate" else closed_loop
        await runner(phase, call, groups, args.warmup, args.duration)
        phases.append(phase)
        print(fmt_phase(phase), flush=True)
        for problem, n in phase.problems.most_common(5):
            print(f"{'':<9}ERROR ×{n}: {problem}", flush=True)
        await check_users()
        if phase.errors and not phase.done:
            raise RuntimeError(f"{system} answered nothing correctly in a whole phase: stopping")
        return phase

    async def restore_users() -> None:
        ours = our_users
        if not ours and deploying:  # setup failed half-way: ours are those it changed
            ours = {
                u: v
                for u, v in (await admin.users(users)).items()
                if saved_users.get(u, {}).get("password_hash") != v["password_hash"]
            }
        skipped = await admin.restore_users(ours, saved_users)
        if skipped:
            print(f"note: broker users changed by someone else meanwhile, left as found: {skipped}")

    async def check_users() -> None:
        """The CLI's broker users are global (not per vhost): another deployment or a test run
        on this broker that sets up or deletes them breaks this run. Say so plainly."""
        now = await admin.users(users)
        gone = sorted(u for u in users if u not in now)
        changed = sorted(
            u
            for u in users
            if u in now and now[u]["password_hash"] != our_users[u]["password_hash"]
        )
        if gone or changed:
            raise RuntimeError(
                "another process on this broker deleted or re-created the deployment's broker"
                f" users during the run (deleted {gone}, password changed {changed}); renkei's"
                " users (hub, token, one per office) are global to the broker, so run the bench"
                " when no tests or other deployment use this broker"
            )

    async def cleanup() -> None:
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("requester", renkei.close_requester),
            ("baseline client", baseline.close if baseline else _nothing),
            ("baseline roles", lambda: stop_roles(roles)),
            ("services", renkei.stop_services),
            ("vhost", lambda: admin.delete_vhost(args.vhost)),
            ("broker users", restore_users),
            ("database", lambda: admin.drop_db(args.db_name)),
        ]
        for what, step in steps:
            try:
                await asyncio.wait_for(step(), 60)
            except Exception as exc:  # noqa: BLE001 - every cleanup step runs, failures shown
                failures.append(f"cleanup of {what} failed: {exc!r}")
        if args.keep_logs:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    saved_users: dict[str, Any] = {}
    our_users: dict[str, Any] = {}
    deploying = False
    try:
        saved_users = await admin.users(users)
        if saved_users:
            print(
                f"note: broker users {sorted(saved_users)} exist already; the bench sets their"
                " passwords for its own vhost and restores the old ones at the end",
                flush=True,
            )
        await admin.delete_vhost(args.vhost)  # a leftover of an interrupted run
        await admin.create_db(args.db_name)
        deploying = True
        await renkei.deploy()
        await admin.let_relay_in(args.vhost)
        our_users = await admin.users(users)
        await renkei.seed(args.people)
        await renkei.start_services()
        await renkei.connect_requester()
        run_id = os.urandom(4).hex()
        baseline = BaselineClient(vhost_url, run_id, args.size, args.prefetch)
        await baseline.start(args.baseline_acks, args.baseline_queues)
        for role in ("provider", "middle"):
            roles[role] = await spawn_role(role, vhost_url, run_id, args, tmp / f"{role}.log")
        # this process is both clients (renkei's requester office and the relay's client): set
        # up like a service (renkei.serving.until_stopped), so neither client's latency
        # carries full collections of everything the bench imported
        gc.collect()
        gc.freeze()
        # off: nothing analyzed or vacuumed during the run (docs/operations.md §1)
        print(f"PostgreSQL autovacuum: {await show(renkei.db_url, 'autovacuum')}", flush=True)
        pids = {name: s.pid for name, s in renkei.services.items()}
        print(
            f"renkei pids {pids}; baseline middle {roles['middle'].pid} provider "
            f"{roles['provider'].pid}; bench {os.getpid()}; {args.people} taxpayers; "
            f"{args.warmup:g} s warm-up + {args.duration:g} s per phase",
            flush=True,
        )

        # tracing on and off alternate, so that each mode is measured first half of the time
        # and each switch (a restart of the services) serves two phases
        order = ["renkei", "traced"] if args.tracing == "compare" else ["renkei"]
        lat_base = await measure("baseline", "latency", inflight=1)
        lat: dict[str, Phase] = {}
        for system in order:
            lat[system] = await measure(system, "latency", inflight=1)
            if system == "traced":
                print(await breakdown(renkei), flush=True)
        lat_renkei = lat["renkei"]
        sat: dict[str, list[Phase]] = {"baseline": [], "renkei": [], "traced": []}
        for c in args.concurrency:
            sat["baseline"].append(await measure("baseline", "saturated", inflight=c))
            order.reverse()
            for system in order:
                sat[system].append(await measure(system, "saturated", inflight=c))
        best_base = max(sat["baseline"], key=lambda p: p.rate)
        best_renkei = max(sat["renkei"], key=lambda p: p.rate)
        half = best_renkei.rate / 2
        paced = await measure("renkei", "rate", target_rate=half) if half > 0 else None
        paced_base = await measure("baseline", "rate", target_rate=half) if half > 0 else None
        # the relay at half its own peak: what latency at half the peak is on this machine
        base_half = best_base.rate / 2
        own_half = await measure("baseline", "rate", target_rate=base_half) if base_half else None
        at_rates = []  # --rates: both systems paced at each rate, which goes first alternating
        for i, rate in enumerate(args.rates):
            first, second = ("renkei", "baseline") if i % 2 == 0 else ("baseline", "renkei")
            got = {s: await measure(s, "rate", target_rate=rate) for s in (first, second)}
            at_rates.append((got["renkei"], got["baseline"]))
        if args.metrics:
            await metrics_phases(renkei, measure, sat, best_renkei, failures, args)
        if args.profile:
            for phase in (
                Phase("renkei", "latency", inflight=1),
                Phase("renkei", "saturated", inflight=best_renkei.inflight),
                Phase("renkei", "rate", target_rate=half),
            ):
                await profile(args, renkei, phase, groups_renkei, check_users)

        await renkei.close_requester()
        failures.extend(await renkei.stop_services())
        checks = await after_checks(args, admin, renkei, vhost_url)
        failures.extend(checks)
        summary(
            args, lat_base, lat_renkei, best_base, best_renkei, paced, paced_base, sat, own_half
        )
        if at_rates:
            rates_summary(at_rates)
        if sat["traced"]:
            traced_summary(lat_renkei, lat["traced"], sat)
            print(await spans_stored(renkei))
        disturbed = [p for p in phases if p.cpu and p.cpu.busy_s and foreign(p.cpu) > 0.15]
        if disturbed:
            worst = max(disturbed, key=lambda p: foreign(p.cpu))  # type: ignore[arg-type]
            assert worst.cpu is not None
            print(
                f"WARNING: other processes on this machine took up to"
                f" {foreign(worst.cpu) * 100:.0f}% of its busy time in {len(disturbed)} phase(s)"
                f" (busiest: {', '.join(list(worst.cpu.others)[:3])}): figures are disturbed,"
                " run again on a quieter machine"
            )
        warn_n, warn_first = renkei.log_warnings()
        print(f"service log lines at warning or worse: {warn_n}")
        for line in warn_first:
            print(f"  {line}")
    except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - reported, then cleanup
        failures.append(f"the run failed: {exc!r}")
        failures.extend(renkei.exited())
    finally:
        await cleanup()

    errors = sum(p.errors for p in phases)
    if errors:
        failures.append(f"{errors} queries were not answered correctly (see ERROR lines)")
    print(f"finished in {time.perf_counter() - started:.0f} s")
    for f in failures:
        print(f"FAILED: {f}")
    return 1 if failures else 0


async def metrics_phases(
    renkei: Renkei,
    measure: Callable[..., Awaitable[Phase]],
    sat: dict[str, list[Phase]],
    best_off: Phase,
    failures: list[str],
    args: argparse.Namespace,
) -> None:
    """The saturated phases again with every service serving GET /metrics and scraped every
    second: the services restarted with RENKEI_METRICS_PORT (hooks on), the same deployment."""
    failures.extend(await renkei.stop_services())
    renkei.services.clear()
    await renkei.start_services(metrics=True)
    METRICS.enable()  # the requester's own hooks (its ask), as an office would run
    seen: dict[str, bytes] = {}
    scraper = asyncio.create_task(renkei.scrape(1.0, seen))
    try:
        on = [await measure("metrics", "saturated", inflight=c) for c in args.concurrency]
    finally:
        scraper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scraper
        METRICS.enabled = False
    best_on = max(on, key=lambda p: p.rate)
    ratios = "/".join(f"{a.rate / b.rate:.2f}" for a, b in zip(on, sat["renkei"], strict=True))
    print(
        f"metrics on/off: peak {best_on.rate:.0f}/s ({best_on.inflight}) against "
        f"{best_off.rate:.0f}/s ({best_off.inflight}): ratio {best_on.rate / best_off.rate:.2f}"
        f" (same in-flight {ratios}; target >= 0.9)",
        flush=True,
    )
    if b"renkei_queries_total{" not in seen.get("hub", b""):
        failures.append("the hub's /metrics showed no query counted")


async def profile(
    args: argparse.Namespace,
    renkei: Renkei,
    phase: Phase,
    groups: Callable[[], dict[str, list[int]]],
    check: Callable[[], Awaitable[None]],
) -> None:
    """``phase`` again with py-spy sampling each Python process (not part of the figures:
    the sampler takes CPU of its own on a 2-core machine)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = Path(args.profile) / phase.mode
    os.makedirs(out, exist_ok=True)
    targets = {name.replace(" ", "-"): svc.pid for name, svc in renkei.services.items()}
    targets["requester"] = os.getpid()
    seconds = str(int(args.warmup + args.duration))
    spies = {}
    for name, pid in targets.items():
        spies[name] = await asyncio.create_subprocess_exec(
            spy, "record", "--pid", str(pid), "--duration", seconds, "--rate", "200",
            "--nonblocking", "--format", "raw", "--output", str(out / f"{name}.txt"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    runner = open_loop if phase.mode == "rate" else closed_loop
    await runner(phase, renkei.call, groups, args.warmup, args.duration)
    print(f"\n==== py-spy (raw stacks in {out}), {fmt_phase(phase)}")
    await check()
    for name, proc in spies.items():
        await proc.wait()
        raw = out / f"{name}.txt"
        if proc.returncode or not raw.exists():
            print(f"py-spy on {name} failed ({proc.returncode}); is py-spy installed?")
            continue
        cpu_s = phase.cpu.seconds.get(name.replace("-office", ""), 0.0) if phase.cpu else 0.0
        print_profile(name, raw, cpu_s / phase.done * 1e6 if phase.done else 0.0)


# What a sample was doing, by the first of these found in its stack (order matters).
ACTIVITIES = (
    ("Ed25519 verify", "verify (hub/wire/crypto.py"),
    ("Ed25519 sign", "sign (hub/wire/crypto.py"),
    ("sealing (X25519 + AEAD)", "seal (hub/wire/crypto.py"),
    ("opening sealed answers", "open_sealed (hub/wire/crypto.py"),
    ("routing context seal/open", "ContextSealer"),
    ("access records (writer, asyncpg)", "PgRecordStore.append"),
    ("office store lookup (asyncpg)", "PgStore.by_token"),
    ("other asyncpg", "asyncpg/"),
    ("wire decode (pydantic)", "decode (hub/wire/codec.py"),
    ("wire encode", "encode (hub/wire/codec.py"),
    ("socket writes (aiormq writer)", "StreamWriter.write"),
    ("AMQP publish (marshal, confirm)", "basic_publish"),
    ("AMQP acks", "basic_ack"),
    ("AMQP frames in (aiormq reader)", "aiormq/connection.py"),
    ("AMQP channel dispatch", "aiormq/channel.py"),
    ("token client (batches, RPC)", "TokenClient."),
    ("natural batching", "hub/batch.py"),
    ("pydantic models", "pydantic/"),
    ("uuid", "uuid.py"),
)


def print_profile(name: str, raw: Path, us_per_answer: float, top: int = 12) -> None:
    """From py-spy's collapsed stacks: CPU per answer by activity, and the top functions by
    own time (the event loop's C code shows as ``Runner.run``)."""
    own: collections.Counter[str] = collections.Counter()
    acts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[_short(frames[-1])] += n
        activity = next((a for a, key in ACTIVITIES if key in stack), None)
        if activity is None:
            leaf = _short(frames[-1])
            activity = "event loop (uvloop, C)" if leaf.startswith("Runner.run") else "rest"
        acts[activity] += n
    if not total:
        print(f"--- {name}: no samples")
        return
    print(f"--- {name}: {total} samples, {us_per_answer:.0f} µs CPU per answer")
    print(f"    {'by activity':<44}{'own time, top functions'}")
    rows = itertools.zip_longest(acts.most_common(top), own.most_common(top))
    for a, b in rows:
        left = f"{a[1] / total * us_per_answer:5.0f} µs {a[0][:35]:<35}" if a else " " * 44
        right = f"{b[1] / total * 100:5.1f}% {b[0][:60]}" if b else ""
        print(f"    {left}{right}")


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``func (module.py)``: lines merged per function."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = path.split("/")
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{func} ({short})"


def foreign(cpu: CpuSample) -> float:
    """The share of the machine's busy time spent in processes that are not ours (kernel
    threads and interrupts excepted: loopback networking and disk flushes are ours)."""
    mine = ("kworker", "ksoftirqd", "kdamond", "rcu_", "jbd2", "py-spy")
    theirs = sum(v for c, v in cpu.others.items() if not c.startswith(mine))
    return theirs / cpu.busy_s if cpu.busy_s else 0.0


async def _nothing() -> None:
    return None


async def stop_roles(roles: Mapping[str, Any]) -> None:
    for proc in roles.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in roles.values():
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), 10)
        except TimeoutError:
            proc.kill()


async def after_checks(
    args: argparse.Namespace, admin: Admin, renkei: Renkei, vhost_url: str
) -> list[str]:
    """One record per query sent, nothing dead-lettered or left behind, the chain intact."""
    problems = []
    conn = await asyncpg.connect(renkei.db_url)
    try:
        rows = await conn.fetch(
            "SELECT outcome, count(*) AS n FROM records.access_record GROUP BY outcome"
        )
    finally:
        await conn.close()
    outcomes = {r["outcome"]: r["n"] for r in rows}
    total = sum(outcomes.values())
    print(f"access records: {total} for {renkei.asked} queries sent; outcomes {outcomes}")
    if total != renkei.asked:
        problems.append(f"{renkei.asked} queries sent but {total} access records written")
    left = {q: n for q, n in (await admin.queues(args.vhost, vhost_url)).items() if n}
    # the monitor's anomaly alerts wait there for the commission (no consumer in the bench): a
    # bench's rate is a spike against an office's own baseline, so they are expected, not lost
    alerts = left.pop("oversight.alerts", 0)
    if alerts:
        print(f"alerts for the oversight commission: {alerts} (the monitor's rules)")
    if left:
        problems.append(f"messages left in queues after the run: {left}")
    else:
        print("queues empty after the run; nothing dead-lettered")
    if args.verify_records:
        t0 = time.perf_counter()
        out = await renkei.cli("records", "verify")
        print(f"records verify ({time.perf_counter() - t0:.1f} s): {out.strip()}")
    return problems


def summary(
    args: argparse.Namespace,
    lat_base: Phase,
    lat_renkei: Phase,
    best_base: Phase,
    best_renkei: Phase,
    paced: Phase | None,
    paced_base: Phase | None,
    sat: Mapping[str, list[Phase]],
    own_half: Phase | None,
) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    ratio = best_renkei.rate / best_base.rate if best_base.rate else 0.0
    p50x = lat_renkei.pct("p50_ms") / lat_base.pct("p50_ms")
    print("\n==== summary " + "=" * 60)
    print(f"date {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {os.cpu_count()} cores")
    print(
        f"saturated rate  baseline {best_base.rate:7.1f}/s (at {best_base.inflight})"
        f"   renkei {best_renkei.rate:7.1f}/s (at {best_renkei.inflight})"
    )
    same_c = "  ".join(
        f"c={b.inflight}: {r.rate / b.rate:.2f}"
        for b, r in zip(sat["baseline"], sat["renkei"], strict=True)
        if b.rate
    )
    print(
        f"ratio renkei/baseline (peaks) {ratio:.2f}  target ≥ {TARGET_RATIO} "
        f"{verdict(ratio >= TARGET_RATIO)}, goal {GOAL_RATIO} {verdict(ratio >= GOAL_RATIO)}"
        f"   (same in-flight: {same_c})"
    )
    print(
        f"p50 at 1 in flight  baseline {lat_base.pct('p50_ms'):.2f} ms   renkei "
        f"{lat_renkei.pct('p50_ms'):.2f} ms   ×{p50x:.2f}  target ≤ {TARGET_P50X}× "
        f"{verdict(p50x <= TARGET_P50X)}"
    )
    print(
        f"p99 at 1 in flight  baseline {lat_base.pct('p99_ms'):.2f} ms   renkei "
        f"{lat_renkei.pct('p99_ms'):.2f} ms"
    )
    if paced is not None:
        base_txt = ""
        if paced_base:
            p99x = paced.pct("p99_ms") / paced_base.pct("p99_ms")
            base_txt = (
                f"baseline at the same rate: p99 {paced_base.pct('p99_ms'):.1f} ms; "
                f"×{p99x:.2f}  target ≤ {TARGET_P99X}× {verdict(p99x <= TARGET_P99X)}"
            )
        print(
            f"renkei at half its peak ({paced.target_rate:.0f}/s, achieved {paced.rate:.0f}/s): "
            f"p50 {paced.pct('p50_ms'):.1f} ms  p99 {paced.pct('p99_ms'):.1f} ms  {base_txt}"
        )
    if own_half is not None:
        print(
            f"baseline at half its own peak ({own_half.target_rate:.0f}/s, achieved"
            f" {own_half.rate:.0f}/s): p50 {own_half.pct('p50_ms'):.1f} ms"
            f"  p99 {own_half.pct('p99_ms'):.1f} ms"
        )
    for p in (best_base, best_renkei):
        cpu = p.cpu_us()
        parts = ", ".join(f"{g} {v:.0f}" for g, v in cpu.items())
        print(f"CPU µs per answer, {p.system} at {p.inflight} in flight: {parts}")


def rates_summary(pairs: Sequence[tuple[Phase, Phase]]) -> None:
    """``--rates``: renkei against the relay paced at the same rates, and how busy each kept
    the machine (its CPU an answer times the rate, over the cores)."""

    def busy(p: Phase) -> float:
        return p.cpu_us().get("machine", 0.0) * p.rate / 1e6 / (os.cpu_count() or 1)

    print("paced at fixed rates (p50 / p99 ms; the machine busy):")
    for ours, base in pairs:
        print(
            f"  {ours.target_rate:5.0f}/s  renkei {ours.pct('p50_ms'):6.1f} / "
            f"{ours.pct('p99_ms'):6.1f} ({busy(ours):4.0%})   relay {base.pct('p50_ms'):6.1f} / "
            f"{base.pct('p99_ms'):6.1f} ({busy(base):4.0%})   p99 ×"
            f"{ours.pct('p99_ms') / base.pct('p99_ms'):.2f}"
        )


def traced_summary(off: Phase, on: Phase, sat: Mapping[str, list[Phase]]) -> None:
    best_off = max(sat["renkei"], key=lambda p: p.rate)
    best_on = max(sat["traced"], key=lambda p: p.rate)
    ratio = best_on.rate / best_off.rate if best_off.rate else 0.0
    same_c = "  ".join(
        f"c={a.inflight}: {b.rate / a.rate:.2f}"
        for a, b in zip(sat["renkei"], sat["traced"], strict=True)
        if a.rate
    )
    verdict = "met" if ratio >= TARGET_TRACED else "MISSED"
    print(
        f"tracing on/off (peaks) {best_on.rate:7.1f}/s / {best_off.rate:7.1f}/s = {ratio:.2f}"
        f"  target ≥ {TARGET_TRACED} {verdict}   (same in-flight: {same_c})"
    )
    print(
        f"p50 at 1 in flight  tracing off {off.pct('p50_ms'):.2f} ms   on {on.pct('p50_ms'):.2f} ms"
    )
    cpu = best_on.cpu_us()
    print("CPU µs per answer, traced: " + ", ".join(f"{g} {v:.0f}" for g, v in cpu.items()))


async def show(db_url: str, setting: str) -> str:
    """The server's value of ``setting``."""
    conn = await asyncpg.connect(db_url)
    try:
        return str(await conn.fetchval(f"SHOW {setting}"))
    finally:
        await conn.close()


async def spans_stored(renkei: Renkei) -> str:
    conn = await asyncpg.connect(renkei.db_url)
    try:
        rows = await conn.fetch("SELECT source, count(*) AS n FROM monitor.span GROUP BY source")
    finally:
        await conn.close()
    by = {r["source"]: r["n"] for r in rows}
    return f"spans stored by the monitor: {sum(by.values())} ({by})"


async def breakdown(renkei: Renkei) -> str:
    """Where the time of a query goes at 1 in flight, from the spans the monitor stored: each
    span's start, events and end as the median offset from the requester's span start (the
    requester ``chiyoda-child``: the root of each trace), in that order, with the step from
    the line before."""
    await asyncio.sleep(2.5)  # the exporters' last batch (1 s) and the monitor's write
    conn = await asyncpg.connect(renkei.db_url)
    try:
        rows = await conn.fetch(
            "SELECT trace_id, source, name, start_ns, end_ns, events::text AS events"
            " FROM monitor.span"
        )
    finally:
        await conn.close()
    traces: dict[str, list[Any]] = collections.defaultdict(list)
    for r in rows:
        traces[r["trace_id"]].append(r)
    points: dict[str, list[float]] = collections.defaultdict(list)
    complete = 0
    for spans in traces.values():
        roots = [r for r in spans if r["source"] == "chiyoda-child"]
        if len(roots) != 1 or len(spans) < 5:  # requester, hub twice, token service, provider
            continue
        complete += 1
        t0 = roots[0]["start_ns"]
        for r in spans:
            label = f"{r['source']} {r['name']}"
            points[f"{label} ▸"].append((r["start_ns"] - t0) / 1e6)
            for name, at, *_ in orjson.loads(r["events"]):
                points[f"{label}: {name}"].append((at - t0) / 1e6)
            points[f"{label} ◂"].append((r["end_ns"] - t0) / 1e6)
    if not complete:
        return "latency breakdown: no complete trace stored"
    lines = [f"latency breakdown at 1 in flight (median of {complete} traces, ms from the start):"]
    before = 0.0
    medians = sorted(((k, statistics.median(v)) for k, v in points.items()), key=lambda x: x[1])
    for label, at in medians:
        lines.append(f"  {at:7.2f} (+{at - before:5.2f})  {label}")
        before = at
    return "\n".join(lines)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds before each measurement")
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 s per phase, 1 s warm-up")
    ap.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[32, 64, 128],
        help="in-flight levels of the saturated phases (default 32,64,128)",
    )
    ap.add_argument(
        "--rates",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[],
        help="then both systems paced at each of these rates (queries a second, comma-separated):"
        " p50, p99 and how busy each keeps the machine, rate by rate",
    )
    ap.add_argument("--people", type=int, default=2000, help="taxpayers seeded (default 2000)")
    ap.add_argument(
        "--hubs",
        type=int,
        default=1,
        help="hub processes side by side (default 1; the hub column: all of them)",
    )
    ap.add_argument("--prefetch", type=int, default=100, help="baseline prefetch (default 100)")
    ap.add_argument("--size", type=int, default=600, help="baseline body bytes (default 600)")
    ap.add_argument("--loop", default="uvloop", choices=["uvloop", "asyncio"])
    ap.add_argument(
        "--baseline-acks",
        default="each",
        choices=["each", "batched"],
        help="the baseline acks each message (default, DESIGN §10's relay) or coalesces its acks"
        " as renkei's bus does",
    )
    ap.add_argument(
        "--baseline-queues",
        default="quorum",
        choices=["quorum", "classic"],
        help="the baseline's queues: quorum (default, as the product's work queues) or classic"
        " (durable, persistent messages): what quorum replication costs a hop on one node",
    )
    ap.add_argument(
        "--tracing",
        default="compare",
        choices=["compare", "off"],
        help="compare: renkei with tracing on (and the monitor) against off, alternately"
        " (default); off: tracing off only",
    )
    ap.add_argument("--vhost", default="renkei-bench")
    ap.add_argument("--db-name", default="renkei_bench")
    ap.add_argument("--keep-logs", action="store_true", help="keep the temp dir and its logs")
    ap.add_argument(
        "--service-log-level",
        default="warning",
        help="RENKEI_LOG_LEVEL of the services (info: the hub logs each query's time; slower)",
    )
    ap.add_argument(
        "--profile",
        metavar="DIR",
        help="then renkei's peak and half-peak phases again under py-spy (hub, token, tax"
        " office, requester): collapsed stacks in DIR, top functions printed (needs py-spy:"
        " .venv/bin/pip install py-spy)",
    )
    ap.add_argument(
        "--metrics",
        action="store_true",
        help="then renkei's saturated phases again with every service's GET /metrics on and"
        " scraped every second: the throughput ratio, metrics on against off",
    )
    ap.add_argument(
        "--no-verify", dest="verify_records", action="store_false", help="skip records verify"
    )
    # internal: a baseline role process
    ap.add_argument("--role", choices=["middle", "provider"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--run-id", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 3.0, 1.0
    return args


def main() -> int:
    args = parse()
    coro = serve_role(args) if args.role else run(args)
    result = uvloop.run(coro) if args.loop == "uvloop" else asyncio.run(coro)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
