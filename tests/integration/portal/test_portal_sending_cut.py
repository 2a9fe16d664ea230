"""An application sent again (``portal.sending``) when PostgreSQL cuts the portal's session
writing its outcome (as a restart of PostgreSQL does): the write is tried again, each failure
logged, and the application gets its receipt. Before: the failure ended the application's
sending, and it stayed 確認中 until the portal started again.

The real ``PortalOffice`` over the real PostgreSQL store, on a fake node that plays the hub and
the office (its ``file`` is the real one; its pauses only noted)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from pg_env import fresh_pool, writes_held
from structlog.testing import capture_logs

from hub.node import Answer, OfficeNode, PgStore, schema_for
from hub.wire import HUB
from portal.office import PortalOffice
from portal.sending import SENDING
from renkei.network import load_rules
from renkei.settings import Settings

pytestmark = pytest.mark.postgres
TABLE, REGISTRY = load_rules(Settings(_env_file=None))
PORTAL, PERSON, NTA = "myna-portal", "tok-taro", "nta"
SIGNED = b"a signed tax return (CMS)"


@dataclass
class Node:
    """The portal's node: the hub names the office; the office's first send times out, the
    next ones (once ``gate`` is set) get the receipt."""

    store: PgStore
    code: str = PORTAL
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    sends: int = 0

    file = OfficeNode.file

    def draw(self) -> float:
        return 0.5

    async def sleep(self, seconds: float) -> None:
        pass

    async def identify(self, certificate: bytes) -> str:
        return PERSON

    async def ask(self, affair: str, office: str, items: Any, person: str, **kw: Any) -> Answer:
        if office == HUB:
            return Answer(uuid.uuid4(), "ok", data={"office": NTA}, record_id=uuid.uuid4())
        self.sends += 1
        if self.sends == 1:
            return Answer(uuid.uuid4(), "timed_out", reason="the office did not answer in time")
        await self.gate.wait()
        data = {"receipt": "nta-0001", "application_id": "app-1"}
        return Answer(uuid.uuid4(), "ok", data=data, record_id=uuid.uuid4())


@pytest.fixture
async def pool() -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    async with fresh_pool("renkei_portal_sending") as found:
        yield found


async def test_an_outcome_whose_write_is_cut_is_written_again(
    pool: tuple[str, asyncpg.Pool],
) -> None:
    dsn, conns = pool
    store = PgStore(conns, PORTAL)
    await store.migrate()
    node = Node(store)
    office = PortalOffice(node, REGISTRY, TABLE, lambda signed: b"cert")  # type: ignore[arg-type]
    office.sending.retry = 0.01
    status = await office.submit(PERSON, "tax_return", {}, SIGNED)
    assert status.status == "pending"
    with capture_logs() as logs:
        async with writes_held(dsn, f"{schema_for(PORTAL)}.docs") as cut:
            node.gate.set()  # the office's receipt comes: its status is written ...
            assert await cut() == 1  # ... and the write cut under way
        async with asyncio.timeout(10):
            done = await office.settled(PERSON, status)
    assert (done.status, done.detail) == ("accepted", "nta-0001")
    assert await office.applications(PERSON) == [done]
    assert await store.keys(SENDING) == []  # the signed document dropped once settled
    assert node.sends == 2  # the receipt kept: not sent again for a failure to write it
    failed = [e for e in logs if e["event"] == "application.sending_failed"]
    assert [e["log_level"] for e in failed] == ["warning"]
    await office.sending.close()
