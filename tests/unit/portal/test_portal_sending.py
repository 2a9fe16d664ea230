"""An application whose first send timed out: the portal shows it 確認中 and sends the same
signed document again by itself (``portal.sending``, ``OfficeNode.file``) until the office's
receipt or refusal — never "not delivered" while the office may hold it. A fake node plays the
hub and the office (its ``file`` is the real one); nothing waits (its ``sleep`` only notes)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from hub.node import Answer, MemoryStore, OfficeNode
from hub.node.runtime import RESEND
from hub.wire import HUB
from portal.office import PortalOffice
from portal.sending import SENDING
from renkei.network import load_rules
from renkei.settings import Settings

TABLE, REGISTRY = load_rules(Settings(_env_file=None))
PERSON, NTA = "tok-taro", "nta"
SIGNED = b"a signed tax return (CMS)"
LATE = "timed_out"


@dataclass
class Node:
    """The portal's node: the hub names the office; the office's answers come in turn (the
    last repeats); each send's document and query id noted."""

    answers: list[str]
    store: MemoryStore = field(default_factory=MemoryStore)
    code: str = "myna-portal"
    sent: list[tuple[uuid.UUID, bytes | None]] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)
    gate: asyncio.Event | None = None  # sends after the first wait for it

    file = OfficeNode.file

    def draw(self) -> float:
        return 0.5

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)

    async def identify(self, certificate: bytes) -> str:
        return PERSON

    async def ask(self, affair: str, office: str, items: Any, person: str, **kw: Any) -> Answer:
        if office == HUB:
            return Answer(uuid.uuid4(), "ok", data={"office": NTA}, record_id=uuid.uuid4())
        if self.sent and self.gate is not None:
            await self.gate.wait()
        qid = uuid.uuid4()
        self.sent.append((qid, kw.get("document")))
        said = self.answers[min(len(self.sent), len(self.answers)) - 1]
        if said == LATE:
            return Answer(qid, "timed_out", reason="the office did not answer in time")
        if said == "refused":
            return Answer(qid, "refused", code="nta.application_duplicate", reason="another")
        data = {"receipt": "nta-0001", "application_id": "app-1"}
        return Answer(qid, "ok", data=data, record_id=uuid.uuid4())


def portal(node: Node) -> PortalOffice:
    return PortalOffice(node, REGISTRY, TABLE, lambda signed: b"cert")  # type: ignore[arg-type]


async def test_a_timed_out_application_is_pending_then_gets_its_receipt() -> None:
    """Before: the first time-out was "unavailable" (not delivered, file it again) while the
    office could hold it — the resident never got the receipt of a filed application."""
    node = Node([LATE, LATE, "ok"])
    office = portal(node)
    status = await office.submit(PERSON, "tax_return", {}, SIGNED)
    assert status.status == "pending" and status.office == NTA
    assert [s.status for s in await office.applications(PERSON)] == ["pending"]
    done = await office.settled(PERSON, status)
    assert (done.status, done.detail, done.ref) == ("accepted", "nta-0001", "app-1")
    assert done.application_id == status.application_id
    assert await office.applications(PERSON) == [done]  # in place of 確認中, not beside it
    assert [doc for _, doc in node.sent] == [SIGNED] * 3  # the very document, each time
    assert await node.store.keys(SENDING) == []  # the signed document dropped once settled


async def test_a_refusal_on_a_later_send_is_shown_refused() -> None:
    node = Node([LATE, "refused"])
    office = portal(node)
    done = await office.settled(PERSON, await office.submit(PERSON, "tax_return", {}, SIGNED))
    assert done.status == "refused" and done.detail.startswith("nta.application_duplicate")


async def test_never_answered_it_says_it_may_be_filed_not_refused() -> None:
    node = Node([LATE])
    office = portal(node)
    done = await office.settled(PERSON, await office.submit(PERSON, "tax_return", {}, SIGNED))
    assert done.status == "unavailable" and "may be filed" in done.detail
    assert f"sent {RESEND.attempts} times" in done.detail and len(node.sent) == RESEND.attempts


async def test_a_portal_started_again_takes_the_sending_up() -> None:
    """The portal stopped while sending again: the document is in its store; the next one
    sends it on (``resume``, run at the portal's start)."""
    node = Node([LATE, "ok"], gate=asyncio.Event())
    first = portal(node)
    status = await first.submit(PERSON, "tax_return", {}, SIGNED)
    await asyncio.sleep(0)
    await first.sending.close()  # stopped, the second send not made
    assert len(node.sent) == 1
    node.gate.set()  # type: ignore[union-attr]
    again = portal(node)
    await again.sending.resume()
    done = await again.settled(PERSON, status)
    assert done.status == "accepted" and len(node.sent) == 2
    assert node.pauses == [0.5, 0.5]  # the stopped one's, then the first pause again


@pytest.mark.parametrize("said", ["ok", "refused"])
async def test_an_answer_to_the_first_send_is_shown_at_once(said: str) -> None:
    node = Node([said])
    office = portal(node)
    status = await office.submit(PERSON, "tax_return", {}, SIGNED)
    assert status.status == {"ok": "accepted", "refused": "refused"}[said]
    assert await office.settled(PERSON, status) == status
    assert await node.store.keys(SENDING) == []
