"""Faults under load: a steady bounded load of queries, one fault injected in its middle, and
a ledger of every query id — sent, confirmed, answered, timed out, lost, duplicated — checked
against the access records (``docs/reliability.md``, "Faults under load").

The network runs as processes (``renkei run``) on a deployment of its own (``proc_env.deployed``:
its own vhost, broker users, database and hub role); the asking office (``chiyoda-child``) is
driven in-process so that every reply it gets is counted. ``tests/faults`` runs each fault once
for a few seconds; ``bench/faults.py`` is the long form (longer, several injections each).

Definitions, per query id: **confirmed**: the broker confirmed its publish; **answered**: the
hub's reply reached the asker (any outcome); **timed out**: the asker's outcome is a time-out
(the hub's ``TimedOut`` or its own, at its deadline); **lost**: confirmed, and neither answered
nor recorded once every deadline has passed; **duplicated**: more than one access record;
**sent again**: the same reply delivered twice (a redelivered answer whose reply had gone out:
the asker takes the first); **disagreeing**: the asker's outcome is not the record's (**late** when the recorded reply reached the asker
after it had timed out on its own: the hub stalled between recording and replying).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncpg
from proc_env import as_hub, office_node, start

from hub.bus import Bus, BusError, Delivery, Subscription, office_replies
from hub.node import Answer, OfficeNode
from hub.routing.finish import record_key
from renkei.secrets import State

CHILD, TAX = "chiyoda-child", "shinjuku-tax"  # two wards: one ward's are in-house
ASK = ("child_allowance", TAX, ("local_tax",))
ADMIN = "http://guest:guest@127.0.0.1:15672"


class Ledger:
    """The asking office's bus, noting every reply delivered to it: query id → message ids
    (a reply the broker redelivers keeps its message id; a second reply has another)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.replies: dict[str, set[str]] = defaultdict(set)

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
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        rec = "-" if self.recover_s is None else f"{self.recover_s:.1f}"
        return (
            f"| {self.fault} | {self.sent} | {self.confirmed} | {self.answered} | "
            f"{self.timed_out} | {self.lost} | {self.duplicated} | {self.late} | {self.again} | "
            f"{rec} |"
        )


HEADER = (
    "| fault | sent | confirmed | answered | timed out | lost | duplicated | late | sent again |"
    " recovered (s) |\n|---|---|---|---|---|---|---|---|---|---|"
)


class Network:
    """The deployment's processes by name; a fault kills, stops or cuts one of them."""

    def __init__(self, env: dict[str, str], pg_ctl: list[str] | None = None) -> None:
        self.env = env
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.pg_ctl = pg_ctl  # a private PostgreSQL server's `pg_ctl -D DIR`, to restart it
        self._drains: set[asyncio.Task[None]] = set()

    async def restart_postgres(self, seconds: float) -> None:
        """Stop the private PostgreSQL server (fast: every session cut), wait, start it."""
        assert self.pg_ctl, "PostgreSQL restarts only on a server of the campaign's own"
        for args, pause in ((["stop", "-m", "fast"], seconds), (["start", "-w"], 0.0)):
            proc = await asyncio.create_subprocess_exec(
                *self.pg_ctl, *args, stdout=asyncio.subprocess.DEVNULL
            )
            assert await proc.wait() == 0, f"pg_ctl {args[0]} failed"
            await asyncio.sleep(pause)

    async def run(self, name: str) -> None:
        args = {"token": ("token",), TAX: ("office", TAX)}.get(name, ("hub",))
        env = as_hub(self.env) if name.startswith("hub") else self.env
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
        async with aiohttp.ClientSession() as http:
            for _ in range(40):
                async with http.get(f"{ADMIN}/api/connections") as r:
                    found = [c["name"] for c in await r.json() if c.get("user") == user]
                if found:
                    break
                await asyncio.sleep(0.5)
            for name in found:
                url = f"{ADMIN}/api/connections/{quote(name, safe='')}"
                async with http.delete(url, headers={"X-Reason": "a fault of the campaign"}):
                    pass
        return len(found)


async def _drain(proc: asyncio.subprocess.Process) -> None:
    """Read a process's log (warnings and errors) to its end, so that it never blocks on it."""
    assert proc.stderr is not None
    while await proc.stderr.readline():
        pass


Inject = Callable[[Network], Awaitable[None]]


async def _kill_restart(net: Network, name: str) -> None:
    await net.kill(name)
    await net.run(name)


async def _stall(net: Network, name: str, seconds: float) -> None:
    net.pause(name, True)
    await asyncio.sleep(seconds)
    net.pause(name, False)


async def _cut(net: Network, identity: str) -> None:
    assert await net.cut(identity), f"{identity} had no connection to close"


SERVICES = ("token", TAX, "hub")  # always running; a fault restarts what it kills


def faults(deadline: float, *, postgres: bool = False) -> dict[str, tuple[bool, Inject]]:
    """Each fault: whether a second hub runs beside the first, and its injection.
    ``postgres``: the network's PostgreSQL is the campaign's own, and may be restarted."""
    own: dict[str, tuple[bool, Inject]] = {
        "PostgreSQL stopped 3 s, started (a private server)": (
            False,
            lambda n: n.restart_postgres(3.0),
        ),
    }
    return {
        **(own if postgres else {}),
        "hub SIGKILL + restart, a second hub running": (True, lambda n: _kill_restart(n, "hub")),
        "hub SIGKILL + restart, alone": (False, lambda n: _kill_restart(n, "hub")),
        "token service SIGKILL + restart": (False, lambda n: _kill_restart(n, "token")),
        "providing office SIGKILL + restart": (False, lambda n: _kill_restart(n, TAX)),
        f"hub SIGSTOP {deadline + 1:g} s (past the deadline), SIGCONT": (
            False,
            lambda n: _stall(n, "hub", deadline + 1),
        ),
        "hub's broker connection closed (management API)": (False, lambda n: _cut(n, "hub")),
        "requesting office's broker connection closed": (False, lambda n: _cut(n, CHILD)),
    }


async def one_fault(
    net: Network,
    node: OfficeNode,
    ledger: Ledger,
    token: str,
    fault: str,
    *,
    rate: float,
    seconds: float,
    injections: int = 1,
    deadline: float = 5.0,
) -> Row:
    """``fault`` under ``rate`` queries a second for ``seconds``, injected ``injections`` times
    at even moments of the load; the row of counts."""
    second, inject = faults(deadline, postgres=net.pg_ctl is not None)[fault]
    row = Row(fault)
    if second:
        await net.run("hub-2")
    try:
        answers, row.sent, injected = await _load(
            node, token, net, inject, rate, seconds, injections
        )
    finally:
        if second:
            await net.kill("hub-2")
    row.confirmed = len(answers)
    await _settle(net.env, row, answers, ledger, deadline)
    row.recover_s = _recovered(answers, injected)
    return row


Asked = tuple[float, Answer]  # when it was asked (monotonic), and what came of it


async def _load(
    node: OfficeNode,
    token: str,
    net: Network,
    inject: Inject,
    rate: float,
    seconds: float,
    injections: int,
) -> tuple[list[Asked], int, list[float]]:
    async def one(at: float) -> Asked | None:
        try:
            return at, await node.ask(*ASK, token, {"fiscal_year": 2024})
        except BusError:  # not confirmed: its outcome is unknown
            return None

    total = int(rate * seconds)
    at = {int(total * (k + 1) / (injections + 1)) for k in range(injections)}
    tasks, injected, pending = [], [], []
    begin = time.monotonic()
    for n in range(total):
        await asyncio.sleep(max(0.0, begin + n / rate - time.monotonic()))
        if n in at:
            injected.append(time.monotonic())
            pending.append(asyncio.create_task(inject(net)))
        tasks.append(asyncio.create_task(one(time.monotonic())))
    await asyncio.gather(*pending)
    results = await asyncio.gather(*tasks)
    return [r for r in results if r is not None], total, injected


async def _settle(
    env: dict[str, str], row: Row, answers: list[Asked], ledger: Ledger, deadline: float
) -> None:
    """Wait until every confirmed query has its record (the deadlines are the broker's: each
    ends in one), or long past the last deadline; then count."""
    keys = {record_key(CHILD, a.query_id): a for _, a in answers}
    conn = await asyncpg.connect(env["RENKEI_DB_URL"])
    try:
        give_up = time.monotonic() + deadline + 60
        while True:
            rows = await conn.fetch(
                "SELECT query_id, outcome, record_id FROM records.access_record"
                " WHERE query_id = ANY($1)",
                list(keys),
            )
            if len({r["query_id"] for r in rows}) == len(keys) or time.monotonic() > give_up:
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    records: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for r in rows:
        records[keys[r["query_id"]].query_id].append(r)
    for _, a in answers:
        found = records.get(a.query_id, [])
        replies = ledger.replies.get(str(a.query_id), set())
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
    state: State,
    token: str,
    *,
    rate: float,
    seconds: float,
    injections: int = 1,
    deadline: float = 5.0,
    only: list[str] | None = None,
    pg_ctl: list[str] | None = None,
) -> list[Row]:
    """Every fault (or those whose name holds a word of ``only``), one after the other, on one
    network; the rows. ``pg_ctl``: the network's PostgreSQL is a private server, restarted too."""
    net = Network(env, pg_ctl)
    rows: list[Row] = []
    node = None
    try:
        for name in SERVICES:
            await net.run(name)
        node = await office_node(env, state, CHILD)
        await node.stop()
        ledger = Ledger(node.bus)
        node.bus = ledger  # type: ignore[assignment]
        node.deadline = dt.timedelta(seconds=deadline)
        await node.start()
        for fault in faults(deadline, postgres=pg_ctl is not None):
            if only and not any(word in fault for word in only):
                continue
            row = await one_fault(
                net,
                node,
                ledger,
                token,
                fault,
                rate=rate,
                seconds=seconds,
                injections=injections,
                deadline=deadline,
            )
            rows.append(row)
            print(row.line(), flush=True)
    finally:
        if node is not None:
            await node.stop()
            await node.bus.close()
        await net.close()
    return rows
