"""Fakes for the hub's desks: a bus that keeps what is published, a token service that derives
each holder's token from the person's name, a finisher that keeps what it is given."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from hub.bus import OutMessage, Unroutable
from hub.records import MemoryDeadlineStore, Recorded
from hub.routing import Registry, load_default_registry, load_default_table
from hub.routing.context import Context, ContextSealer
from hub.routing.desks import Forwarder
from hub.wire import (
    HUB,
    JLIS,
    OfficeKeys,
    Outcome,
    Sealed,
    TokenOk,
    decode,
    new_traceparent,
    seal,
)

NOW = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.UTC)
TABLE = load_default_table()
REGISTRY: Registry = load_default_registry(TABLE)
OFFICE_KEYS = {  # every identity's own keys, the hub's first: to sign what it sends
    code: OfficeKeys.from_seed(bytes((i + j) % 256 for j in range(64)))
    for i, code in enumerate([HUB, *(o.code for o in REGISTRY)])
}
HUB_KEYS = OFFICE_KEYS[HUB]
KEYS = {code: keys.public for code, keys in OFFICE_KEYS.items()}
SEALER = ContextSealer(bytes(32))
# two offices of different municipalities: one of the same one would be in-house (庁内連携)
CHILD, TAX, REGISTER, PORTAL = "chiyoda-child", "shinjuku-tax", "chiyoda-resident", "myna-portal"
SEALED = seal(b"sealed", KEYS[JLIS].seal)  # a payload only J-LIS could open


def token(person: str, holder: str) -> str:
    """A person's token at ``holder`` (the fake token service's whole secret)."""
    return f"{person}_{holder}".replace("-", "_").ljust(20, "x")


@dataclass
class FakeTokens:
    refuse: Outcome | None = None
    asked: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    async def translate(self, tok: str, holder: str, targets: tuple[str, ...]) -> Any:
        self.asked.append((tok, holder, targets))
        if self.refuse is not None:
            return self.refuse
        person = tok.split("_", 1)[0]  # persons are named without "_"
        return TokenOk(tokens=tuple(token(person, t) for t in targets))

    async def issue(self, rrc: Sealed, targets: tuple[str, ...]) -> Any:
        return TokenOk(tokens=tuple(token("p1", t) for t in targets))


class NoRecords:
    """Access records that hold nothing: every deadline is one of a query not answered."""

    async def recorded(self, query_id: uuid.UUID) -> Recorded | None:
        return None


@dataclass
class FakeBus:
    published: list[tuple[str, str, OutMessage]] = field(default_factory=list)
    unroutable: set[str] = field(default_factory=set)
    identity: str = "hub"
    # the deadlines its forwarder left (kept here: one fake per hub)
    deadlines: MemoryDeadlineStore = field(default_factory=lambda: MemoryDeadlineStore(NoRecords()))

    async def publish(self, exchange: str, key: str, out: OutMessage) -> None:
        if key.split(".")[1] in self.unroutable:
            raise Unroutable(key)
        self.published.append((exchange, key, out))

    def sent(self) -> list[tuple[str, Any]]:
        """(routing key, decoded message) of everything published."""
        return [(key, decode(out.body)) for _, key, out in self.published]


@dataclass
class FakeFinisher:
    finished: list[tuple[Context, Outcome]] = field(default_factory=list)

    async def finish(self, ctx: Context, outcome: Outcome, **_: Any) -> None:
        self.finished.append((ctx, outcome))

    async def again(self, ctx: Context) -> None:
        pass


def forwarder(bus: FakeBus) -> Forwarder:
    return Forwarder(
        bus=bus,  # type: ignore[arg-type]
        hub_keys=HUB_KEYS,
        keys=KEYS,
        sealer=SEALER,
        deadlines=bus.deadlines,
        clock=lambda: NOW,
    )


def context(
    kind: str, requester: str, provider: str, affair: str, items: tuple[str, ...] = ()
) -> Context:
    return Context(
        kind=kind,  # type: ignore[arg-type]
        query_id=uuid.uuid4(),
        requester=requester,
        provider=provider,
        affair=affair,
        items=items,
        person="",
        asked_at=NOW,
        deadline=NOW + dt.timedelta(seconds=10),
        query_digest=b"d",
        traceparent=new_traceparent(),
    )
