"""Faults under load: a steady bounded load of queries, one fault injected in its middle, and
a ledger of every query id — sent, confirmed, answered, timed out, lost, duplicated — checked
against the access records (``docs/reliability.md``, "Faults under load").

The network runs as processes (``renkei run``) on a deployment of its own (``proc_env.deployed``:
its own vhost, broker users, database and hub role); the asking office (``chiyoda-child``) is
driven in-process so that every reply it gets is counted. Beside the queries, the resident
register (``chiyoda-resident``, in-process too) reports change events (転居, ``address_changed``)
about the same person, held by the register, ``chiyoda-child``, ``shinjuku-tax``, the CA's office
(``renkei pki serve``, a process) and the portal's: each holder keeps each event once
(``hub.node``), and ``chiyoda-child``'s reaction counts how often it ran. And the portal
(``myna-portal``, in-process: it files for the resident) files **applications** — a tax return
signed with a signature certificate of a CA of the campaign's own — with ``nta``, in-process
with the real desk (``agencies.applications``: the CMS signature checked against the CA's
CRLs, the receipt kept once) and a follow-up that stands for a move out's change event (an
effect under an id drawn from the application's, ``moving.event_for``). ``tests/faults`` runs
each fault once for a few seconds; ``bench/faults.py`` is the long form (longer, several
injections each).

Definitions, per query id: **confirmed**: the broker confirmed its publish; **answered**: the
hub's reply reached the asker (any outcome); **timed out**: the asker's outcome is a time-out
(the hub's ``TimedOut`` or its own, at its deadline); **lost**: confirmed, and neither answered
nor recorded once every deadline has passed; **duplicated**: more than one access record;
**sent again**: the same reply delivered twice (a redelivered answer whose reply had gone out:
the asker takes the first); **disagreeing**: the asker's outcome is not the record's (**late**
when the recorded reply reached the asker after it had timed out on its own: the hub stalled
between recording and replying).

Per change event: **confirmed**, **delivered** (the hub's ``Delivered``), **timed out** as for
queries; **lost**: confirmed, and neither delivered nor recorded; **not kept**: recorded ``ok``
(delivered to the holders) but missing from a holder's kept events once settled; **applied
twice**: ``chiyoda-child``'s reaction ran more than once for it; **records twice**: more than
one access record; **kept, timed out**: kept by a holder while its record says ``timed_out``
(the hub forwarded it, then was stopped or killed past the deadline).

Per application — filed as the portal files it, sent again while its outcome is unknown
(``OfficeNode.file``: a time-out; the same signed document, a new query id each send):
**confirmed**, **answered** as for queries (its last send); **filed**: ``nta`` keeps its
receipt; **lost**: confirmed, neither answered nor recorded (or a send of it never recorded);
**filed twice**: its receipt kept twice, or two access records for a send; **refused, though
filed**: kept, while the portal's answer or the record says refused (what a redelivered copy
answered "filed already" was); **follow-up twice**: the follow-up took effect twice for it
(what a follow-up under a new id each run did); **sent again**: sent more than once;
**filed, not told**: kept by ``nta`` while the portal's last answer is not its receipt (what
a single send that timed out left: the office filed it, the resident was told "timed out").
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import asyncpg
import orjson
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from proc_env import as_hub, free_port, office_node, start

from agencies.applications import COLLECTION as FILED
from agencies.applications import SignedApplications, Signer
from agencies.municipality.moving import event_for
from hub.bus import (
    BrokerUrl,
    Bus,
    BusError,
    Delivery,
    Subscription,
    office_replies,
    queue_replicas,
)
from hub.bus.juki import juki_identity
from hub.directory import PgDirectory
from hub.node import EVENTS, Answer, OfficeNode, PgStore, Roles
from hub.node.store import schema_for
from hub.routing.finish import record_key
from hub.wire import HUB, Delivered, Outcome
from pki import (
    CertKind,
    Locality,
    ResidentFacts,
    RevocationSource,
    Sex,
    create_app,
    sign_document,
)
from renkei.cluster import Cluster
from renkei.cluster_commands import brokers_up, stop_node
from renkei.network import PostgresDown
from renkei.pki_checks import PkiSignatureCheck, local_ca
from renkei.secrets import TOKEN, State
from token_service import KeyRing

_T = TypeVar("_T")
CHILD, TAX, REGISTER = "chiyoda-child", "shinjuku-tax", "chiyoda-resident"  # two wards: one
# ward's own offices ask each other in-house (庁内連携), not over the network
PKI, PORTAL = "jlis-pki", "myna-portal"  # the CA's office on the network, the portal's
NTA = "nta"  # 国税庁: takes tax returns signed with the card (e-Tax), filed by the portal
HOLDERS = (CHILD, TAX, PKI, PORTAL)  # who keep the register's change events (but itself)
EVERY = 4  # one change event, and one application, beside every fourth query
AFTER = 2.0  # seconds of load after an injection ends, at least
FOLLOWED = "followed_up"  # nta's store: what its follow-up of an application did, by effect id
ASK = ("child_allowance", TAX, ("local_tax",))
ADMIN = "http://guest:guest@127.0.0.1:15672"


class Ledger:
    """The asking office's bus, noting every reply delivered to it: query id → message ids
    (a reply the broker redelivers keeps its message id; a second reply has another)."""

    def __init__(self, bus: Bus, replies: dict[str, set[str]] | None = None) -> None:
        self.bus = bus
        self.replies: dict[str, set[str]] = defaultdict(set) if replies is None else replies

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bus, name)

    async def consume(
        self, queue: str, handler: Callable[[Delivery], Awaitable[None]], *, prefetch: int = 100
    ) -> Subscription:
        async def noted(d: Delivery) -> None:
            if queue == office_replies(CHILD) and d.correlation_id:
                self.replies[d.correlation_id].add(d.message_id)
            await handler(d)

        return await self.bus.consume(queue, noted, prefetch=prefetch)


class Applied:
    """``chiyoda-child``'s reaction to a change event: how often it ran, by the event's mark
    (the register puts the event id in the detail, which the hub forwards as it is)."""

    def __init__(self) -> None:
        self.times: dict[str, int] = defaultdict(int)

    async def changed(
        self, person: str, change: str, effective: dt.date, detail: dict[str, str]
    ) -> None:
        self.times[detail.get("event", "")] += 1


@dataclass
class Events:
    """One fault's change events."""

    sent: int = 0
    confirmed: int = 0
    delivered: int = 0
    timed_out: int = 0
    lost: int = 0
    not_kept: int = 0
    applied_twice: int = 0
    records_twice: int = 0
    kept_timed_out: int = 0


@dataclass
class Applications:
    """One fault's applications (a tax return the portal files with ``nta``)."""

    sent: int = 0
    confirmed: int = 0
    answered: int = 0
    filed: int = 0  # kept by the office (its receipt)
    lost: int = 0  # confirmed, and neither answered nor recorded
    filed_twice: int = 0  # the office kept it twice, or the hub recorded it twice
    refused_filed: int = 0  # kept by the office, yet the portal or the record says refused
    followed_twice: int = 0  # the office's follow-up took effect twice for it
    sent_again: int = 0  # its outcome unknown (a time-out), the portal sent it again
    filed_not_told: int = 0  # kept by the office, and the portal never got its receipt


@dataclass
class Row:
    """One fault's line of the table."""

    fault: str
    sent: int = 0
    confirmed: int = 0
    answered: int = 0
    timed_out: int = 0
    lost: int = 0
    duplicated: int = 0
    late: int = 0  # the recorded reply came after the asker had timed out on its own
    again: int = 0  # the same reply delivered twice (sent again from a redelivered answer)
    recover_s: float | None = None  # from the fault to the first query asked after it answered ok
    events: Events = field(default_factory=Events)
    applications: Applications = field(default_factory=Applications)
    problems: list[str] = field(default_factory=list)
    took: dict[str, float] = field(default_factory=dict)  # seconds per phase (where time goes)

    def line(self) -> str:
        rec = "-" if self.recover_s is None else f"{self.recover_s:.1f}"
        return (
            f"| {self.fault} | {self.sent} | {self.confirmed} | {self.answered} | "
            f"{self.timed_out} | {self.lost} | {self.duplicated} | {self.late} | {self.again} | "
            f"{rec} |"
        )

    def events_line(self) -> str:
        e = self.events
        return (
            f"| {self.fault} | {e.sent} | {e.confirmed} | {e.delivered} | {e.timed_out} | "
            f"{e.lost} | {e.not_kept} | {e.applied_twice} | {e.records_twice} | "
            f"{e.kept_timed_out} |"
        )

    def applications_line(self) -> str:
        a = self.applications
        return (
            f"| {self.fault} | {a.sent} | {a.confirmed} | {a.answered} | {a.filed} | {a.lost} | "
            f"{a.filed_twice} | {a.refused_filed} | {a.followed_twice} | {a.sent_again} | "
            f"{a.filed_not_told} |"
        )


HEADER = (
    "| fault | sent | confirmed | answered | timed out | lost | duplicated | late | sent again |"
    " recovered (s) |\n|---|---|---|---|---|---|---|---|---|---|"
)
EVENTS_HEADER = (
    "| fault | change events sent | confirmed | delivered | timed out | lost | not kept |"
    " applied twice | records twice | kept, timed out |\n|---|---|---|---|---|---|---|---|---|---|"
)

APPLICATIONS_HEADER = (
    "| fault | applications sent | confirmed | answered | filed | lost | filed twice |"
    " refused, though filed | follow-up twice | sent again | filed, not told |"
    "\n|---|---|---|---|---|---|---|---|---|---|---|"
)


class Filer:
    """The applications' side: a CA of its own over HTTP (its CRLs for the office's check), a
    resident's signature certificate, and what the office's follow-up did and kept."""

    def __init__(self) -> None:
        self.port = free_port()
        self.local = local_ca(f"http://127.0.0.1:{self.port}")
        self.key = ec.generate_private_key(ec.SECP256R1())
        facts = ResidentFacts(
            name="鈴木 誠",
            address="東京都新宿区西新宿二丁目8番1号",
            birth_date=dt.date(1980, 5, 5),
            sex=Sex.MALE,
        )
        where = Locality("Tokyo-to", "Shinjuku-ku")
        issued = self.local.ca.issue(
            CertKind.SIGNATURE, self.key.public_key(), "campaign", where, facts
        )
        self.cert = issued.certificate
        self.check = PkiSignatureCheck(self.local.trust, RevocationSource(), NTA)
        self.kept: dict[str, int] = defaultdict(int)  # application id → receipts kept
        self.runner: web.AppRunner | None = None
        self.store: PgStore | None = None  # nta's (the network's database)
        self.answering = asyncio.Event()  # cleared: nta hangs once it has kept an application
        self.answering.set()

    async def serve(self) -> None:
        self.runner = web.AppRunner(create_app(self.local.ca), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def signed(self) -> tuple[str, bytes]:
        """A new tax return, signed: its application id and the CMS document."""
        app_id = str(uuid.uuid4())
        doc = {"kind": "tax_return", "application_id": app_id, "form": {"fiscal_year": "2024"}}
        return app_id, sign_document(orjson.dumps(doc), self.cert, self.key)

    async def follow_up(self, app_id: str, person: str, kind: str, form: Any) -> None:
        """What nta does with an accepted return, standing for a move out's change event: an
        effect under an id drawn from the application's (``moving.event_for``), kept once."""
        assert self.store is not None
        effect = str(event_for(NTA, app_id))
        if await self.store.get(FOLLOWED, effect) is None:
            await self.store.put_many(FOLLOWED, [(effect, None, {"application": app_id})])

    async def after(self, app_id: str, person: str, form: Any, signer: Signer) -> None:
        self.kept[app_id] += 1
        await self.answering.wait()  # a hang (``Network.hang_nta``): filed, not yet answered

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class Network:
    """The deployment's processes by name; a fault kills, stops or cuts one of them. The
    in-process offices too: the asker (``chiyoda-child``) and the register."""

    def __init__(
        self,
        env: dict[str, str],
        pg_ctl: list[str] | None = None,
        disk: Path | None = None,
        rabbit: Cluster | None = None,
    ) -> None:
        self.env = env
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.pg_ctl = pg_ctl  # a private PostgreSQL server's `pg_ctl -D DIR`, to restart it
        self.disk = disk  # the filesystem of the records' tablespace, to fill (``disk_full``)
        self.rabbit = rabbit  # RabbitMQ nodes of the campaign's own (``restart_rabbitmq``)
        self._rabbit_turn = asyncio.Lock()  # one node down at a time
        self._victim: int | None = None  # the node number last stopped
        self.node_stops: list[float] = []  # when each was stopped (monotonic), to check the load
        self._drains: set[asyncio.Task[None]] = set()
        ids = [
            CHILD,
            REGISTER,
            juki_identity(REGISTER),
            PORTAL,
            NTA,
        ]  # the register's 住基ネット user too
        self.state = State.load(Path(env["RENKEI_STATE_DIR"]), ids)
        self.replies: dict[str, set[str]] = defaultdict(set)  # the asker's, across its restarts
        self.applied = Applied()
        self.deadline = 5.0
        self.pool: asyncpg.Pool | None = None
        self.asker: OfficeNode | None = None
        self.register: OfficeNode | None = None
        self.ports = {PKI: free_port()}
        self.dead: list[OfficeNode] = []  # askers "killed" (``restart_asker``)
        self.portal: OfficeNode | None = None  # files the applications; keeps change events
        self.nta: OfficeNode | None = None  # takes them
        self.filer = Filer()

    async def offices(self, deadline: float) -> None:
        """The in-process asker (its replies noted, its reaction to change events counted, the
        events it keeps in its own store) and the register."""
        self.deadline = deadline
        self.pool = await asyncpg.create_pool(self.env["RENKEI_DB_URL"], min_size=1, max_size=4)
        self.asker = await self._asker()
        self.register = await office_node(self.env, self.state, REGISTER)
        self.register.deadline = dt.timedelta(seconds=deadline)
        await self.filer.serve()
        self.filer.store = PgStore(self.pool, NTA)
        self.portal = self._held(await office_node(self.env, self.state, PORTAL, started=False))
        self.portal.deadline = dt.timedelta(seconds=deadline)
        self.portal.peers = self.state.public
        self.portal.store = PgStore(self.pool, PORTAL)
        await self.portal.start()
        self.nta = await self._nta()

    async def _nta(self) -> OfficeNode:
        node = self._held(
            await _tries(lambda: office_node(self.env, self.state, NTA, started=False))
        )
        assert self.filer.store is not None
        taken = SignedApplications(
            NTA,
            self.filer.store,
            self.filer.check,
            self.filer.follow_up,
            after=self.filer.after,
        )
        node.roles = Roles(applications=taken)
        await node.start()
        return node

    def _held(self, node: OfficeNode) -> OfficeNode:
        """A node keeping its state in the pool holds its failed deliveries while PostgreSQL
        is out of reach, as a deployed office's process does (``renkei.network``)."""
        node.bus.store_down = PostgresDown(self.env["RENKEI_DB_URL"])  # type: ignore[attr-defined]
        return node

    async def restart_nta(self) -> None:
        """The office taking applications killed and started again: every handler it was
        running stops where it stood (between keeping an application and replying, or in its
        follow-up), its connection drops without a goodbye (the broker requeues what it had
        not acknowledged), and a new one takes its place over the same store."""
        old = self.nta
        assert old is not None
        for sub in old._subs:
            for task in list(getattr(sub, "_tasks", ())):
                task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(old.bus.connection.close(), 10)  # type: ignore[attr-defined]
        self.nta = await self._nta()

    async def _asker(self) -> OfficeNode:
        node = self._held(
            await _tries(lambda: office_node(self.env, self.state, CHILD, started=False))
        )
        node.bus = Ledger(node.bus, self.replies)  # type: ignore[assignment]
        node.deadline = dt.timedelta(seconds=self.deadline)
        node.roles = Roles(listener=self.applied)
        assert self.pool is not None
        node.store = PgStore(self.pool, CHILD)
        await node.start()
        return node

    async def hang_nta(self, seconds: float) -> None:
        """The office taking applications hangs (a stall, not a crash) right after keeping an
        application, before answering: it keeps the one it holds, takes no other meanwhile
        (one at a time), and answers once it runs again — past the deadline, when ``seconds``
        is longer: filed, while the hub has recorded a time-out."""
        self.filer.answering.clear()
        await asyncio.sleep(seconds)
        self.filer.answering.set()

    async def restart_asker(self) -> None:
        """The requesting office killed and started again: its connection dropped at once (no
        graceful close: the broker requeues what it had not acknowledged), everything it
        waited for forgotten, a new one in its place (its asks in flight end at their
        deadlines with no reply: they count by their records)."""
        old = self.asker
        assert old is not None
        self.dead.append(old)
        with contextlib.suppress(Exception):  # asks meanwhile fail unconfirmed, as to a dead one
            await asyncio.wait_for(old.bus.connection.close(), 10)  # type: ignore[attr-defined]
        old._pending.clear()  # what the dead process waited for is gone with it
        self.asker = await self._asker()

    async def restart_postgres(self, seconds: float) -> None:
        """Stop the private PostgreSQL server (fast: every session cut), wait, start it."""
        assert self.pg_ctl, "PostgreSQL restarts only on a server of the campaign's own"
        for args, pause in ((["stop", "-m", "fast"], seconds), (["start", "-w"], 0.0)):
            proc = await asyncio.create_subprocess_exec(
                *self.pg_ctl, *args, stdout=asyncio.subprocess.DEVNULL
            )
            assert await proc.wait() == 0, f"pg_ctl {args[0]} failed"
            await asyncio.sleep(pause)

    async def restart_rabbitmq(self, seconds: float, *, kill: bool) -> None:
        """A RabbitMQ node of the campaign's own SIGKILLed (``kill``) or stopped gracefully,
        started again ``seconds`` later; returns once it is back in the cluster (every queue of
        the deployment's vhost with a leader and all its members online). With several nodes:
        the asker's own node the first time, the next one each time after, and each only once
        the one before it has rejoined."""
        assert self.rabbit, "RabbitMQ restarts only on nodes of the campaign's own"
        nodes = self.rabbit.nodes
        async with self._rabbit_turn:
            if self._victim is None:
                assert self.asker is not None
                port = self.asker.bus.connection.url.port  # type: ignore[attr-defined]
                node = next((n for n in nodes if n.amqp == port), nodes[0])
            else:
                node = nodes[self._victim % len(nodes)]  # the next (numbers start at 1)
            self._victim = node.number
            at, begin = dt.datetime.now(dt.UTC), time.monotonic()
            self.node_stops.append(begin)
            await stop_node(self.rabbit, node, kill=kill)
            gone = time.monotonic() - begin
            await asyncio.sleep(seconds)
            await brokers_up(self.rabbit)
            up = time.monotonic() - begin
            admin, vhost = self.rabbit.admin_url, self.env["RENKEI_BROKER_VHOST"]
            while True:
                queues = await queue_replicas(admin, vhost)
                if all(q.leader and set(q.online) == set(q.members) for q in queues):
                    break
                await asyncio.sleep(0.5)
            print(
                f"{node.name}: {'killed' if kill else 'stopped'} at {at:%H:%M:%S} (in "
                f"{gone:.1f} s), running "
                f"again at {up:.1f} s, every queue whole at {time.monotonic() - begin:.1f} s",
                flush=True,
            )

    async def disk_full(self, seconds: float) -> None:
        """Fill the records' filesystem to its last byte, keep it full, free it."""
        assert self.disk is not None, "a full disk only on a tablespace of the campaign's own"
        filler = self.disk / "filler"
        await asyncio.to_thread(_fill, filler)
        await asyncio.sleep(seconds)
        filler.unlink()

    async def run(self, name: str) -> None:
        env = as_hub(self.env) if name.startswith("hub") else self.env
        if name in self.ports:  # the CA: a web site, and an office on the bus
            args: tuple[str, ...] = ("serve", "--port", str(self.ports[name]))
            proc = await _tries(
                lambda: start(env, *args, within=120, command="pki", ready=b"CA serving")
            )
        else:
            args = {"token": ("token",), TAX: ("office", TAX)}.get(name, ("hub",))
            proc = await _tries(lambda: start(env, *args, within=120))  # a busy machine…
        self.procs[name] = proc
        self._drains.add(asyncio.create_task(_drain(proc)))  # a full pipe would stall it

    async def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    def pause(self, name: str, stop: bool) -> None:
        self.procs[name].send_signal(signal.SIGSTOP if stop else signal.SIGCONT)

    async def close(self) -> None:
        for node in (self.asker, self.register, self.portal, self.nta):
            if node is not None:
                await node.stop()
                await node.bus.close()
        await self.filer.close()
        if self.pool is not None:
            await self.pool.close()
        for name in list(self.procs):
            proc = self.procs.pop(name)
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    async def cut(self, identity: str) -> int:
        """Close every broker connection of ``identity`` through the management API (which
        lists a new connection only after its next statistics round: a few seconds)."""
        user = self.env["RENKEI_BROKER_USER_PREFIX"] + identity
        admin = str(BrokerUrl.parse(self.env.get("RENKEI_BROKER_ADMIN_URL", ADMIN)).nodes[0])
        async with aiohttp.ClientSession() as http:
            for _ in range(40):
                async with http.get(f"{admin}/api/connections") as r:
                    found = [c["name"] for c in await r.json() if c.get("user") == user]
                if found:
                    break
                await asyncio.sleep(0.5)
            for name in found:
                url = f"{admin}/api/connections/{quote(name, safe='')}"
                async with http.delete(url, headers={"X-Reason": "a fault of the campaign"}):
                    pass
        return len(found)


async def _tries(make: Callable[[], Awaitable[_T]], tries: int = 3) -> _T:
    """``make()``, tried again when it could not reach the broker — as a supervisor restarts a
    service that failed to start: on a machine shared with other suites, the broker at times
    takes more than the 30 s a connection waits (while another suite deletes its vhost)."""
    for attempt in range(1, tries + 1):
        try:
            return await make()
        except (BusError, AssertionError):  # AssertionError: exited before it was ready
            if attempt == tries:
                raise
    raise AssertionError("unreachable")


def private_postgres(folder: Path) -> tuple[str, list[str]]:
    """initdb + pg_ctl start on a free port (trust, local only): its URL and its pg_ctl."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        raise RuntimeError("no /usr/lib/postgresql/*/bin: install postgresql (scripts/system-deps)")
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


@contextlib.contextmanager
def own_postgres() -> Iterator[tuple[str, list[str]]]:
    """A private PostgreSQL server (``private_postgres``) in a temporary folder of its own:
    its URL and its ``pg_ctl``; stopped and removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="renkei-faults-pg-"))
    pg_ctl: list[str] = []
    try:
        url, pg_ctl = private_postgres(folder)
        yield url, pg_ctl
    finally:
        if pg_ctl:
            subprocess.run([*pg_ctl, "stop", "-m", "immediate"], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def _fill(path: Path) -> None:
    """Write zeros to ``path`` until its filesystem has no byte left (unbuffered: the last
    write fails, not the close)."""
    with path.open("wb", buffering=0) as out:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    out.write(bytes(size))


async def _drain(proc: asyncio.subprocess.Process) -> None:
    """Read a process's log (warnings and errors) to its end, so that it never blocks on it."""
    assert proc.stderr is not None
    while await proc.stderr.readline():
        pass


Inject = Callable[[Network], Awaitable[None]]


async def _kill_restart(net: Network, *names: str) -> None:
    for name in names:
        await net.kill(name)
    await asyncio.gather(*(net.run(name) for name in names))


async def _stall(net: Network, name: str, seconds: float) -> None:
    net.pause(name, True)
    await asyncio.sleep(seconds)
    net.pause(name, False)


async def _cut(net: Network, identity: str) -> None:
    assert await net.cut(identity), f"{identity} had no connection to close"


SERVICES = ("token", TAX, "hub", PKI)  # always running; a fault restarts what it kills


def faults(
    deadline: float,
    *,
    postgres: bool = False,
    disk: bool = False,
    rabbitmq: int = 0,
) -> dict[str, tuple[bool, Inject]]:
    """Each fault: whether a second hub runs beside the first, and its injection.
    ``postgres``: the network's PostgreSQL is the campaign's own, and may be restarted;
    ``disk``: the records' tablespace is on a small filesystem of the campaign's own;
    ``rabbitmq``: the network's RabbitMQ is nodes of the campaign's own (1: one node, restarted;
    3: a cluster, whose nodes are killed one at a time)."""
    own: dict[str, tuple[bool, Inject]] = {
        "PostgreSQL stopped 15 s (past the delivery limit's pauses), started (a private server)": (
            False,
            lambda n: n.restart_postgres(15.0),
        ),
    }
    full: dict[str, tuple[bool, Inject]] = {
        "records' disk full 5 s (tablespace on a small tmpfs), then freed": (
            False,
            lambda n: n.disk_full(5.0),
        ),
    }
    broker: dict[str, tuple[bool, Inject]] = {
        "RabbitMQ SIGKILL, started 3 s later (a private node)": (
            False,
            lambda n: n.restart_rabbitmq(3.0, kill=True),
        ),
        "RabbitMQ stopped (graceful), started 3 s later (a private node)": (
            False,
            lambda n: n.restart_rabbitmq(3.0, kill=False),
        ),
    }
    cluster: dict[str, tuple[bool, Inject]] = {
        "RabbitMQ cluster: a node SIGKILLed, started 3 s later, rejoined; then the next": (
            True,
            lambda n: n.restart_rabbitmq(3.0, kill=True),
        ),
    }
    return {
        **(own if postgres else {}),
        **(full if disk else {}),
        **(broker if rabbitmq == 1 else cluster if rabbitmq > 1 else {}),
        "hub SIGKILL + restart, a second hub running": (True, lambda n: _kill_restart(n, "hub")),
        "hub SIGKILL + restart, alone": (False, lambda n: _kill_restart(n, "hub")),
        "token service SIGKILL + restart": (False, lambda n: _kill_restart(n, "token")),
        "providing office SIGKILL + restart": (False, lambda n: _kill_restart(n, TAX)),
        "CA (pki) SIGKILL + restart": (False, lambda n: _kill_restart(n, PKI)),
        "requesting office killed (connection dropped, state lost) + restarted": (
            False,
            lambda n: n.restart_asker(),
        ),
        "office taking applications (nta) killed (its work cut, connection dropped) + restarted": (
            False,
            lambda n: n.restart_nta(),
        ),
        f"office taking applications (nta) hung {deadline + 1:g} s between filing and answering": (
            False,
            lambda n: n.hang_nta(deadline + 1),
        ),
        f"hub SIGSTOP {deadline + 1:g} s (past the deadline), SIGCONT": (
            False,
            lambda n: _stall(n, "hub", deadline + 1),
        ),
        "hub's broker connection closed (management API)": (False, lambda n: _cut(n, "hub")),
        "requesting office's broker connection closed": (False, lambda n: _cut(n, CHILD)),
    }


async def one_fault(
    net: Network,
    person: str,
    fault: str,
    *,
    rate: float,
    seconds: float,
    injections: int = 1,
    deadline: float = 5.0,
) -> Row:
    """``fault`` under ``rate`` queries a second (and a change event beside every ``EVERY``th)
    for ``seconds``, injected ``injections`` times at even moments of the load; the row."""
    listed = faults(
        deadline,
        postgres=net.pg_ctl is not None,
        disk=net.disk is not None,
        rabbitmq=len(net.rabbit.nodes) if net.rabbit else 0,
    )
    second, inject = listed[fault]
    row = Row(fault)
    t0 = time.monotonic()
    if second:
        await net.run("hub-2")
    t1 = time.monotonic()
    spent: list[float] = []

    async def timed(n: Network) -> None:
        t = time.monotonic()
        await inject(n)
        spent.append(time.monotonic() - t)

    try:
        answers, events, filed, row.sent, injected = await _load(
            net, person, timed, rate, seconds, injections
        )
    finally:
        if second:
            await net.kill("hub-2")
    t2 = time.monotonic()
    row.confirmed = len(answers)
    last = max((at for at, _ in answers), default=0.0)  # a node stopped after the load: no row
    row.problems += [
        f"a RabbitMQ node stopped after the load, {t - last:.0f} s"
        for t in net.node_stops
        if t > last
    ]
    net.node_stops.clear()
    row.events.sent = row.sent // EVERY
    row.events.confirmed = len(events)
    row.applications.sent = (row.sent + EVERY - 2) // EVERY  # beside the 2nd, the 6th, …
    row.applications.confirmed = len(filed)
    await _settle(net, row, answers, events, filed, deadline)
    t3 = time.monotonic()
    row.took = {
        "second hub": t1 - t0,
        "load": t2 - t1,
        "inject": sum(spent),
        "settle": t3 - t2,
    }
    row.recover_s = _recovered(answers, injected)
    return row


Asked = tuple[float, Answer]  # when it was asked (monotonic), and what came of it
Reported = tuple[uuid.UUID, Outcome]  # a change event's id, and the hub's reply (or TimedOut)
Filed = tuple[str, Answer]  # an application's id, and the office's answer through the hub


async def _load(
    net: Network,
    person: str,
    inject: Inject,
    rate: float,
    seconds: float,
    injections: int,
) -> tuple[list[Asked], list[Reported], list[Filed], int, list[float]]:
    token = _asker_token(net)
    portal_token = _token(net, PORTAL)

    async def application() -> Filed | None:
        """Filed as the portal files it: sent again while its outcome is unknown
        (``OfficeNode.file``; before: one send, and a time-out was where it ended)."""
        assert net.portal is not None
        app_id, signed = net.filer.signed()
        try:
            return app_id, await net.portal.file(NTA, "tax_return", portal_token, signed)
        except BusError:
            return None

    async def one(at: float) -> Asked | None:
        asker = net.asker
        assert asker is not None
        try:
            return at, await asker.ask(*ASK, token, {"fiscal_year": 2024})
        except BusError:  # not confirmed: its outcome is unknown
            return None
        except (Exception, asyncio.CancelledError):
            # a publish cut off by the asker's own "death" (``restart_asker``): aio-pika fails
            # or cancels the confirmation of a connection closed under it; unconfirmed
            if asker not in net.dead:
                raise
            return None

    async def change() -> Reported | None:
        assert net.register is not None
        event_id = uuid.uuid4()
        today = dt.datetime.now(dt.UTC).date()
        try:
            out = await net.register.report_change(
                person, "address_changed", today, {"event": event_id.hex}, event_id=event_id
            )
        except BusError:
            return None
        return event_id, out

    async def injecting() -> None:
        try:
            await inject(net)
        finally:  # failed, it ends the load too (and fails the row below)
            ended.append(time.monotonic())

    total = int(rate * seconds)
    at = {int(total * (k + 1) / (injections + 1)) for k in range(injections)}
    tasks, changes, applications, injected, pending = [], [], [], [], []
    ended: list[float] = []
    begin = time.monotonic()
    n = 0
    # the planned load; and while a fault is still being injected (a restart on a busy
    # machine can outlast it), on until AFTER seconds past its end: the load spans the fault
    while (
        n < total or len(ended) < len(pending) or time.monotonic() < max(ended, default=0.0) + AFTER
    ):
        await asyncio.sleep(max(0.0, begin + n / rate - time.monotonic()))
        if n in at:
            injected.append(time.monotonic())
            pending.append(asyncio.create_task(injecting()))
        tasks.append(asyncio.create_task(one(time.monotonic())))
        if n % EVERY == EVERY - 1:
            changes.append(asyncio.create_task(change()))
        if n % EVERY == 1:
            applications.append(asyncio.create_task(application()))
        n += 1
    await asyncio.gather(*pending)
    results = await asyncio.gather(*tasks)
    reported = await asyncio.gather(*changes)
    filed = await asyncio.gather(*applications)
    answered = [r for r in results if r is not None]
    return (
        answered,
        [r for r in reported if r is not None],
        [f for f in filed if f is not None],
        n,
        injected,
    )


async def _settle(
    net: Network,
    row: Row,
    answers: list[Asked],
    events: list[Reported],
    filed: list[Filed],
    deadline: float,
) -> None:
    """Wait until every confirmed query and change event has its record (the deadlines are
    the broker's: each ends in one), and every event recorded ``ok`` is kept by each holder,
    or long past the last deadline (then say what was missing); then count."""
    keys = {record_key(CHILD, a.query_id): a.query_id for _, a in answers}
    told = {record_key(REGISTER, eid): eid for eid, _ in events}
    keys |= told
    keys |= {record_key(PORTAL, q): q for _, a in filed for q in (*a.earlier, a.query_id)}
    conn = await asyncpg.connect(net.env["RENKEI_DB_URL"])
    try:
        give_up = time.monotonic() + deadline + 60
        while True:
            rows = await conn.fetch(
                "SELECT query_id, outcome, record_id FROM records.access_record"
                " WHERE query_id = ANY($1)",
                list(keys),
            )
            kept = {h: await _kept(conn, h, [str(e) for e, _ in events]) for h in HOLDERS}
            recorded = {r["query_id"] for r in rows}
            # the change events recorded ok (before: every query too, which no holder keeps —
            # so the wait never ended before its give-up, 63 s a row)
            ok = {
                str(told[r["query_id"]])
                for r in rows
                if r["outcome"] == "ok" and r["query_id"] in told
            }
            everywhere = all(ok <= kept[h] for h in HOLDERS)
            if (len(recorded) == len(keys) and everywhere) or time.monotonic() > give_up:
                if time.monotonic() > give_up:
                    missing = [str(keys[k]) for k in keys if k not in recorded]
                    unkept = {h: sorted(ok - kept[h]) for h in HOLDERS if ok - kept[h]}
                    print(f"  settle gave up: unrecorded {missing[:5]} unkept {unkept}", flush=True)
                break
            await asyncio.sleep(0.5)
        taken = await _taken(conn, [app_id for app_id, _ in filed])
    finally:
        await conn.close()
    records: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for r in rows:
        records[keys[r["query_id"]]].append(r)
    _count_queries(row, answers, records, net.replies)
    _count_events(row, events, records, kept, net.applied)
    _count_applications(row, filed, records, taken, net.filer.kept)


Taken = tuple[set[str], dict[str, int]]  # kept by nta, and its follow-up's effects per application


async def _taken(conn: asyncpg.Connection, ids: list[str]) -> Taken:
    """Of these applications, those ``nta`` keeps, and its follow-up's effects for each."""
    docs = f"{schema_for(NTA)}.docs"
    kept = await conn.fetch(
        f"SELECT key FROM {docs} WHERE collection = $1 AND key = ANY($2)", FILED, ids
    )
    effects = await conn.fetch(
        f"SELECT doc->>'application' AS app FROM {docs}"
        " WHERE collection = $1 AND doc->>'application' = ANY($2)",
        FOLLOWED,
        ids,
    )
    per: dict[str, int] = defaultdict(int)
    for r in effects:
        per[r["app"]] += 1
    return {r["key"] for r in kept}, per


def _count_applications(
    row: Row,
    filed: list[Filed],
    records: dict[uuid.UUID, list[Any]],
    taken: Taken,
    receipts: dict[str, int],
) -> None:
    a = row.applications
    kept, effects = taken
    for app_id, answer in filed:
        found = records.get(answer.query_id, [])
        answered = answer.record_id is not None
        a.answered += answered
        a.filed += app_id in kept
        a.sent_again += bool(answer.earlier)
        unrecorded = [q for q in answer.earlier if not records.get(q)]  # each send has one
        if (not answered and not found) or unrecorded:
            a.lost += 1
            row.problems.append(f"application lost: {app_id} (sends unrecorded: {unrecorded})")
        twice = [q for q in (*answer.earlier, answer.query_id) if len(records.get(q, [])) > 1]
        if receipts.get(app_id, 0) > 1 or twice:
            a.filed_twice += 1
            row.problems.append(f"application filed twice: {app_id} (records twice: {twice})")
        refused = answer.status == "refused" or (found and found[0]["outcome"] == "refused")
        if app_id in kept and refused:
            a.refused_filed += 1
            row.problems.append(f"application refused, though filed: {app_id} ({answer.code})")
        if app_id in kept and answer.status != "ok":  # the office has it, the resident not
            a.filed_not_told += 1
            row.problems.append(f"application filed, not told: {app_id} ({answer.status})")
        if effects.get(app_id, 0) > 1:
            a.followed_twice += 1
            row.problems.append(f"application followed up twice: {app_id}")
        if answered and found and found[0]["outcome"] != answer.status:
            row.problems.append(
                f"application disagreeing: {app_id} {answer.status}, {found[0]['outcome']}"
            )


async def _kept(conn: asyncpg.Connection, office: str, ids: list[str]) -> set[str]:
    """The change events (by id) ``office`` has kept, of these."""
    found = await conn.fetch(
        f"SELECT key FROM {schema_for(office)}.docs WHERE collection = $1 AND key = ANY($2)",
        EVENTS,
        ids,
    )
    return {r["key"] for r in found}


def _count_queries(
    row: Row,
    answers: list[Asked],
    records: dict[uuid.UUID, list[Any]],
    delivered: dict[str, set[str]],
) -> None:
    for _, a in answers:
        found = records.get(a.query_id, [])
        replies = delivered.get(str(a.query_id), set())
        answered = a.record_id is not None  # the hub's reply names its record
        row.answered += answered
        row.timed_out += a.status == "timed_out"
        if not answered and not found and not replies:
            row.lost += 1
            row.problems.append(f"lost: {a.query_id}")
        if len(found) > 1:
            row.duplicated += 1
            row.problems.append(f"duplicated: {a.query_id} ({len(found)} records)")
        row.again += len(replies) > 1
        if found and found[0]["outcome"] != a.status:
            if not answered and replies:  # the reply came, after the asker had given up
                row.late += 1
            else:
                row.problems.append(f"disagreeing: {a.query_id} {a.status}, {found[0]['outcome']}")


def _count_events(
    row: Row,
    events: list[Reported],
    records: dict[uuid.UUID, list[Any]],
    kept: dict[str, set[str]],
    applied: Applied,
) -> None:
    e = row.events
    for eid, out in events:
        found = records.get(eid, [])
        delivered = isinstance(out, Delivered)
        e.delivered += delivered
        e.timed_out += out.status == "timed_out"
        holders = [h for h in HOLDERS if str(eid) in kept[h]]
        if not delivered and not found:
            e.lost += 1
            row.problems.append(f"change event lost: {eid}")
        if len(found) > 1:
            e.records_twice += 1
            row.problems.append(f"change event recorded twice: {eid} ({len(found)} records)")
        if applied.times.get(eid.hex, 0) > 1:
            e.applied_twice += 1
            row.problems.append(f"change event applied twice: {eid}")
        outcome = found[0]["outcome"] if found else None
        if outcome == "ok" and len(holders) < len(HOLDERS):
            e.not_kept += 1
            row.problems.append(f"change event not kept: {eid} (kept by {holders})")
        if outcome == "timed_out" and holders:
            e.kept_timed_out += 1
        if delivered and outcome not in {None, "ok"}:
            row.problems.append(f"change event disagreeing: {eid} delivered, {outcome}")


def _asker_token(net: Network) -> str:
    return _token(net, CHILD)


def _token(net: Network, office: str) -> str:
    ring = KeyRing(State.load_secret(Path(net.env["RENKEI_STATE_DIR"]), TOKEN))
    return ring.token_for(ring.link_id(TAXPAYER), office)


TAXPAYER = "12345678903"  # the resident-record code ``proc_env.file_taxpayer`` files


async def held(env: dict[str, str]) -> str:
    """The taxpayer held since 2020 by the register, the asker and the tax office (the
    operator's bulk load into the directory); the register's token for them."""
    ring = KeyRing(State.load_secret(Path(env["RENKEI_STATE_DIR"]), TOKEN))
    link = ring.link_id(TAXPAYER)
    since = dt.datetime(2020, 4, 1, tzinfo=dt.UTC)
    pool = await asyncpg.create_pool(env["RENKEI_DB_URL"], min_size=1, max_size=1)
    try:
        directory = PgDirectory(pool)
        for office in (REGISTER, *HOLDERS):
            await directory.enrolled(ring.token_for(link, HUB), office, since)
    finally:
        await pool.close()
    return ring.token_for(link, REGISTER)


def _recovered(answers: list[Asked], injected: list[float]) -> float | None:
    """From the last injection to the earliest-asked query after it that was answered ok."""
    if not injected:
        return None
    after = [(at, a) for at, a in answers if at >= injected[-1] and a.status == "ok"]
    if not after:
        return None
    at, a = min(after, key=lambda x: x[0])
    return at - injected[-1] + a.seconds


async def campaign(
    env: dict[str, str],
    *,
    rate: float,
    seconds: float,
    injections: int = 1,
    deadline: float = 5.0,
    only: list[str] | None = None,
    pg_ctl: list[str] | None = None,
    disk: Path | None = None,
    rabbit: Cluster | None = None,
) -> list[Row]:
    """Every fault (or those whose name holds a word of ``only``), one after the other, on one
    network; the rows. ``pg_ctl``: the network's PostgreSQL is a private server, restarted too;
    ``disk``: the filesystem of the records' tablespace, filled and freed too; ``rabbit``: the
    network's RabbitMQ nodes are the campaign's own (``renkei cluster``'s, without its services),
    restarted or killed too.
    The deployment has its taxpayer filed (``proc_env.file_taxpayer``)."""
    person = await held(env)
    net = Network(env, pg_ctl, disk, rabbit)
    rows: list[Row] = []
    try:
        t0 = time.monotonic()
        await asyncio.gather(*(net.run(name) for name in SERVICES))
        await net.offices(deadline)
        print(f"services started in {time.monotonic() - t0:.1f} s", flush=True)
        listed = faults(
            deadline,
            postgres=pg_ctl is not None,
            disk=disk is not None,
            rabbitmq=len(rabbit.nodes) if rabbit else 0,
        )
        for fault in listed:
            if only and not any(word in fault for word in only):
                continue
            row = await one_fault(
                net,
                person,
                fault,
                rate=rate,
                seconds=seconds,
                injections=injections,
                deadline=deadline,
            )
            rows.append(row)
            print(row.line(), flush=True)
            print(row.events_line(), flush=True)
            print(row.applications_line(), flush=True)
            print(f"  took: {row.took}", flush=True)
    finally:
        t0 = time.monotonic()
        await net.close()
        print(f"network closed in {time.monotonic() - t0:.1f} s", flush=True)
    return rows
