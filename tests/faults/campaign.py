"""Faults under load: a steady bounded load of queries, one fault injected in its middle, and
a ledger of every query id — sent, confirmed, answered, timed out, lost, duplicated — checked
against the access records (``docs/reliability.md``, "Faults under load").

The network runs as processes (``renkei run``) on a deployment of its own (``proc_env.deployed``:
its own vhost, broker users, database and hub role); the asking office (``chiyoda-child``) is
driven in-process so that every reply it gets is counted. Beside the queries, the resident
register (``chiyoda-resident``, in-process too) reports change events (転居, ``address_changed``)
about the same person, held by the register, ``chiyoda-child``, ``chiyoda-tax`` and the CA's and
the portal's offices (``renkei pki serve``, ``renkei portal serve``, processes too): each holder
keeps each event once (``hub.node``), and ``chiyoda-child``'s reaction counts how often it ran. ``tests/faults`` runs each fault once
for a few seconds; ``bench/faults.py`` is the long form (longer, several injections each).

Definitions, per query id: **confirmed**: the broker confirmed its publish; **answered**: the
hub's reply reached the asker (any outcome); **timed out**: the asker's outcome is a time-out
(the hub's ``TimedOut`` or its own, at its deadline); **lost**: confirmed, and neither answered
nor recorded once every deadline has passed; **duplicated**: more than one access record;
**sent again**: the same reply delivered twice (a redelivered answer whose reply had gone out:
the asker takes the first); **disagreeing**: the asker's outcome is not the record's (**late** when the recorded reply reached the asker
after it had timed out on its own: the hub stalled between recording and replying).

Per change event: **confirmed**, **delivered** (the hub's ``Delivered``), **timed out** as for
queries; **lost**: confirmed, and neither delivered nor recorded; **not kept**: recorded ``ok``
(delivered to the holders) but missing from a holder's kept events once settled; **applied
twice**: ``chiyoda-child``'s reaction ran more than once for it; **records twice**: more than
one access record; **kept, timed out**: kept by a holder while its record says ``timed_out``
(the hub forwarded it, then was stopped or killed past the deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncpg
from proc_env import as_hub, free_port, office_node, start

from hub.bus import (
    BrokerUrl,
    Bus,
    BusError,
    Delivery,
    Subscription,
    office_replies,
    queue_replicas,
)
from hub.directory import PgDirectory
from hub.node import EVENTS, Answer, OfficeNode, PgStore, Roles
from hub.node.store import schema_for
from hub.routing.finish import record_key
from hub.wire import HUB, Delivered, Outcome
from renkei.cluster import Cluster
from renkei.cluster_commands import brokers_up, stop_node
from renkei.secrets import TOKEN, State
from token_service import KeyRing

CHILD, TAX, REGISTER = "chiyoda-child", "shinjuku-tax", "chiyoda-resident"  # two wards: one
# ward's own offices ask each other in-house (庁内連携), not over the network
PKI, PORTAL = "jlis-pki", "myna-portal"  # the CA's office on the network, the portal's
HOLDERS = (CHILD, TAX, PKI, PORTAL)  # who keep the register's change events (but itself)
EVERY = 4  # one change event beside every fourth query
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
    problems: list[str] = field(default_factory=list)

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


HEADER = (
    "| fault | sent | confirmed | answered | timed out | lost | duplicated | late | sent again |"
    " recovered (s) |\n|---|---|---|---|---|---|---|---|---|---|"
)
EVENTS_HEADER = (
    "| fault | change events sent | confirmed | delivered | timed out | lost | not kept |"
    " applied twice | records twice | kept, timed out |\n|---|---|---|---|---|---|---|---|---|---|"
)


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
        self.state = State.load(Path(env["RENKEI_STATE_DIR"]), [CHILD, REGISTER])
        self.replies: dict[str, set[str]] = defaultdict(set)  # the asker's, across its restarts
        self.applied = Applied()
        self.deadline = 5.0
        self.pool: asyncpg.Pool | None = None
        self.asker: OfficeNode | None = None
        self.register: OfficeNode | None = None
        self.ports = {PKI: free_port(), PORTAL: free_port()}
        self.dead: list[OfficeNode] = []  # askers "killed" (``restart_asker``)

    async def offices(self, deadline: float) -> None:
        """The in-process asker (its replies noted, its reaction to change events counted, the
        events it keeps in its own store) and the register."""
        self.deadline = deadline
        self.pool = await asyncpg.create_pool(self.env["RENKEI_DB_URL"], min_size=1, max_size=4)
        self.asker = await self._asker()
        self.register = await office_node(self.env, self.state, REGISTER)
        self.register.deadline = dt.timedelta(seconds=deadline)

    async def _asker(self) -> OfficeNode:
        node = await office_node(self.env, self.state, CHILD, started=False)
        node.bus = Ledger(node.bus, self.replies)  # type: ignore[assignment]
        node.deadline = dt.timedelta(seconds=self.deadline)
        node.roles = Roles(listener=self.applied)
        assert self.pool is not None
        node.store = PgStore(self.pool, CHILD)
        await node.start()
        return node

    async def restart_asker(self) -> None:
        """The requesting office killed and started again: its connection dropped at once (no
        graceful close: the broker requeues what it had not acknowledged), everything it
        waited for forgotten, a new one in its place (its asks in flight end at their
        deadlines with no reply: they count by their records)."""
        old = self.asker
        assert old is not None
        self.dead.append(old)
        with contextlib.suppress(Exception):  # asks meanwhile fail unconfirmed, as to a dead one
            await old.bus.connection.close()  # type: ignore[attr-defined]
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
        if name in self.ports:  # the CA and the portal: a web site, and an office on the bus
            command, ready = ("pki", b"CA serving") if name == PKI else ("portal", b"portal: http")
            args: tuple[str, ...] = ("serve", "--port", str(self.ports[name]))
            proc = await start(env, *args, within=120, command=command, ready=ready)
        else:
            args = {"token": ("token",), TAX: ("office", TAX)}.get(name, ("hub",))
            proc = await start(env, *args, within=120)  # a busy machine starts slowly
        self.procs[name] = proc
        self._drains.add(asyncio.create_task(_drain(proc)))  # a full pipe would stall it

    async def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    def pause(self, name: str, stop: bool) -> None:
        self.procs[name].send_signal(signal.SIGSTOP if stop else signal.SIGCONT)

    async def close(self) -> None:
        for node in (self.asker, self.register):
            if node is not None:
                await node.stop()
                await node.bus.close()
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
    for name in names:
        await net.run(name)


async def _stall(net: Network, name: str, seconds: float) -> None:
    net.pause(name, True)
    await asyncio.sleep(seconds)
    net.pause(name, False)


async def _cut(net: Network, identity: str) -> None:
    assert await net.cut(identity), f"{identity} had no connection to close"


SERVICES = ("token", TAX, "hub", PKI, PORTAL)  # always running; a fault restarts what it kills


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
        "PostgreSQL stopped 3 s, started (a private server)": (
            False,
            lambda n: n.restart_postgres(3.0),
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
        "CA (pki) and portal SIGKILL + restart": (False, lambda n: _kill_restart(n, PKI, PORTAL)),
        "requesting office killed (connection dropped, state lost) + restarted": (
            False,
            lambda n: n.restart_asker(),
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
    if second:
        await net.run("hub-2")
    try:
        answers, events, row.sent, injected = await _load(
            net, person, inject, rate, seconds, injections
        )
    finally:
        if second:
            await net.kill("hub-2")
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
    await _settle(net, row, answers, events, deadline)
    row.recover_s = _recovered(answers, injected)
    return row


Asked = tuple[float, Answer]  # when it was asked (monotonic), and what came of it
Reported = tuple[uuid.UUID, Outcome]  # a change event's id, and the hub's reply (or TimedOut)


async def _load(
    net: Network,
    person: str,
    inject: Inject,
    rate: float,
    seconds: float,
    injections: int,
) -> tuple[list[Asked], list[Reported], int, list[float]]:
    token = _asker_token(net)

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

    total = int(rate * seconds)
    at = {int(total * (k + 1) / (injections + 1)) for k in range(injections)}
    tasks, changes, injected, pending = [], [], [], []
    begin = time.monotonic()
    for n in range(total):
        await asyncio.sleep(max(0.0, begin + n / rate - time.monotonic()))
        if n in at:
            injected.append(time.monotonic())
            pending.append(asyncio.create_task(inject(net)))
        tasks.append(asyncio.create_task(one(time.monotonic())))
        if n % EVERY == EVERY - 1:
            changes.append(asyncio.create_task(change()))
    await asyncio.gather(*pending)
    results = await asyncio.gather(*tasks)
    reported = await asyncio.gather(*changes)
    answered = [r for r in results if r is not None]
    return answered, [r for r in reported if r is not None], total, injected


async def _settle(
    net: Network, row: Row, answers: list[Asked], events: list[Reported], deadline: float
) -> None:
    """Wait until every confirmed query and change event has its record (the deadlines are
    the broker's: each ends in one), and every event recorded ``ok`` is kept by each holder,
    or long past the last deadline; then count."""
    keys = {record_key(CHILD, a.query_id): a.query_id for _, a in answers}
    keys |= {record_key(REGISTER, eid): eid for eid, _ in events}
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
            ok = {str(keys[r["query_id"]]) for r in rows if r["outcome"] == "ok"}
            everywhere = all(ok <= kept[h] for h in HOLDERS)
            if (len(recorded) == len(keys) and everywhere) or time.monotonic() > give_up:
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    records: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for r in rows:
        records[keys[r["query_id"]]].append(r)
    _count_queries(row, answers, records, net.replies)
    _count_events(row, events, records, kept, net.applied)


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
    ring = KeyRing(State.load_secret(Path(net.env["RENKEI_STATE_DIR"]), TOKEN))
    return ring.token_for(ring.link_id(TAXPAYER), CHILD)


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
        for name in SERVICES:
            await net.run(name)
        await net.offices(deadline)
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
    finally:
        await net.close()
    return rows
