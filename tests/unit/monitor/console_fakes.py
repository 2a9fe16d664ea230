"""The console's unit-test world: a memory span store with flows made of spans as the hub and
the offices send them, officials in memory, a clock the test moves, a started client."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.buckets import Rate
from hub.bus import HUB_EXCHANGE, HUB_REQUESTS, Delivery, InMemoryBroker, OutMessage
from hub.bus import network_topology as topology_of
from hub.records import MemoryRecordStore
from hub.tracing import names as tn
from monitor import (
    ChainWatch,
    DeadLetters,
    Engine,
    Finding,
    MemoryAlertStore,
    MemorySpanStore,
    Oversight,
    StoredSpan,
    load_rules,
)
from monitor.console import MemoryActionLog, MemoryOfficials, create_app, new_official, totp
from monitor.console.officials import Official, Role

PUBLIC = "https://monitor.example"
OFFICES = ("chiyoda-child", "chiyoda-resident", "chiyoda-welfare")
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def span(
    source: str,
    name: str,
    trace: str,
    start_ms: float,
    end_ms: float,
    *,
    kind: int = 5,
    parent: str = "",
    span_id: str = "",
    attrs: Mapping[str, Any] | None = None,
    events: tuple[tuple[str, float], ...] = (),
) -> StoredSpan:
    base = int(T0.timestamp() * 1e9)
    return StoredSpan(
        source,
        trace,
        span_id or f"{abs(hash((trace, name, source))) % 16**16:016x}",
        parent,
        name,
        kind,
        0,
        base + int(start_ms * 1e6),
        base + int(end_ms * 1e6),
        dict(attrs or {}),
        tuple((n, base + int(at * 1e6), {}) for n, at in events),
    )


def flow(
    trace: str,
    at_ms: float,
    requester: str = "chiyoda-child",
    provider: str = "chiyoda-resident",
    outcome: str = "ok",
    affair: str = "child_allowance",
) -> list[StoredSpan]:
    """One query's spans: the requester's, the hub's, the provider's (unless refused)."""
    who = {
        tn.REQUESTER: requester,
        tn.PROVIDER: provider,
        tn.AFFAIR: affair,
        tn.KIND: "query",
        tn.CONVERSATION_ID: f"q-{trace}",
    }
    hub_attrs = dict(who)
    hub_attrs[tn.OUTCOME] = outcome
    if outcome != "ok":
        hub_attrs[tn.ERROR_TYPE] = "routing.no_row"
    out = [
        span(requester, "query", trace, at_ms, at_ms + 12, kind=2, attrs=who),
        span(
            "hub",
            "process hub.requests",
            trace,
            at_ms + 1,
            at_ms + 11,
            attrs=hub_attrs,
            events=(("validated", at_ms + 2), ("replied", at_ms + 10)),
        ),
    ]
    if outcome == "ok":
        out.append(
            span(
                provider,
                "process office.in",
                trace,
                at_ms + 4,
                at_ms + 8,
                events=(("replied", at_ms + 7),),
            )
        )
        out.append(span("token", "translate", trace, at_ms + 3, at_ms + 3.5))
    return out


class Clock:
    def __init__(self) -> None:
        self.now = T0 + dt.timedelta(seconds=30)

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Env:
    client: TestClient[web.Request, web.Application]
    spans: MemorySpanStore
    officials: MemoryOfficials
    actions: MemoryActionLog
    clock: Clock
    secrets: dict[str, tuple[str, str]]  # name → (password, TOTP secret)
    oversight: Oversight
    broker: InMemoryBroker

    async def dead_query(self, message_id: str, office: str = "chiyoda-child") -> None:
        """A query of ``office`` the hub failed on: dead-lettered by the broker."""
        msg = OutMessage(b'{"query": 1}', message_id, message_id, headers={"renkei-sig": "s"})
        await self.broker.connect(office).publish(HUB_EXCHANGE, "query", msg)
        await self._hub_fails()

    async def dead_copy(self, message_id: str) -> None:
        """A message the hub dead-lettered itself (a copy, not the broker's)."""
        await self.broker.connect("chiyoda-child").publish(
            HUB_EXCHANGE, "query", OutMessage(b"{", message_id)
        )

        async def refuse(d: Delivery) -> None:
            await d.dead_letter("wire.malformed")

        sub = await self.broker.connect("hub").consume(HUB_REQUESTS, refuse)
        await asyncio.sleep(0.01)
        await sub.cancel()

    async def _hub_fails(self) -> None:
        async def fail(d: Delivery) -> None:
            await d.nack(requeue=True)

        sub = await self.broker.connect("hub").consume(HUB_REQUESTS, fail)
        await asyncio.sleep(0.01)
        await sub.cancel()

    async def hub_takes(self) -> list[Delivery]:
        """What reaches the hub's queue from now on."""
        got: list[Delivery] = []

        async def take(d: Delivery) -> None:
            got.append(d)
            await d.ack()

        await self.broker.connect("hub").consume(HUB_REQUESTS, take)
        return got

    async def raise_alert(
        self, rule: str = "repeated_lookups", subject: str = "chiyoda-child"
    ) -> str:
        """An alert as the engine raises one; its id."""
        finding = Finding(
            rule,
            subject,
            "warning",
            self.clock(),
            f"{subject} looked up one person 5 times in 24 h",
            {"count": 5, "records": ("11111111-2222-3333-4444-555555555555",)},
        )
        alert, _ = await self.oversight.alerts.raise_(finding)
        return alert.id

    def code(self, name: str, offset: int = 0) -> str:
        step = int(self.clock().timestamp() // 30) + offset
        return totp(self.secrets[name][1], step)

    async def sign_in(self, name: str, *, code: str | None = None) -> aiohttp.ClientResponse:
        form = {
            "name": name,
            "password": self.secrets[name][0],
            "code": code or self.code(name),
        }
        return await self.client.post(
            "/login", data=form, headers={"Origin": PUBLIC}, allow_redirects=False
        )

    def csrf(self) -> str:
        app = self.client.server.app
        assert app is not None
        from monitor.console.state import CONSOLE

        sessions = app[CONSOLE].sessions
        return next(iter(sessions._items.values())).csrf


async def new_client(app: web.Application) -> TestClient[web.Request, web.Application]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    origin = str(server.make_url("/").origin())
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[origin])
    client = TestClient(server, cookie_jar=jar)
    await client.start_server()
    return client


async def start(**kw: Any) -> AsyncIterator[Env]:
    spans, officials, actions, clock = (
        MemorySpanStore(),
        MemoryOfficials(),
        MemoryActionLog(),
        Clock(),
    )
    await spans.add([s for i in range(6) for s in flow(f"{i:032x}", i * 1000.0)])
    await spans.add(flow(f"{99:032x}", 7000.0, provider="chiyoda-welfare", outcome="refused"))
    made: dict[str, tuple[str, str]] = {}
    roles: tuple[tuple[str, Role], ...] = (("op", "operator"), ("aud", "auditor"))
    for name, role in roles:
        official, password = new_official(name, role)
        await officials.add(official)
        made[name] = (password, official.totp_secret)
    kw.setdefault("per_client", Rate(100, 100.0))
    key = Ed25519PrivateKey.generate()
    oversight = Oversight(
        ChainWatch(MemoryRecordStore(signing_key=key), key.public_key()),
        Engine(load_rules()),
        MemoryAlertStore(),
        clock=clock,
    )
    kw.setdefault("oversight", oversight)
    broker = InMemoryBroker(topology_of(OFFICES, delivery_limit=0))
    kw.setdefault(
        "dead_letters", DeadLetters(broker.connect("replayer"), broker.topology, quiet=0.02)
    )
    app = create_app(
        spans, officials, actions, offices=OFFICES, public_origin=PUBLIC, clock=clock, **kw
    )
    client = await new_client(app)
    try:
        yield Env(client, spans, officials, actions, clock, made, oversight, broker)
    finally:
        await client.close()


__all__ = ["OFFICES", "PUBLIC", "Clock", "Env", "Official", "flow", "span", "start"]
