"""An application whose first send timed out: the portal shows it 確認中 and sends the same
signed document again by itself (``portal.sending``, ``OfficeNode.file``) until the office's
receipt or refusal — never "not delivered" while the office may hold it. A fake node plays the
hub and the office (its ``file`` is the real one); nothing waits (its ``sleep`` only notes)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from portal_fakes import HANAKO, TARO, start

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


async def test_a_given_up_application_is_kept_and_its_resident_may_send_it_again() -> None:
    """Twenty sends never answered (the office down for the whole round): 応答なし, and before,
    the signed document was dropped — the resident had no way to try again. Now it is kept;
    the resident's 送り直す sends the same document under the same status, 確認中 again, a new
    round of sends that still counts the first round's as unanswered; the office's receipt
    then replaces it."""
    node = Node([LATE] * RESEND.attempts + [LATE, "ok"])
    office = portal(node)
    status = await office.submit(PERSON, "tax_return", {}, SIGNED)
    gave_up = await office.settled(PERSON, status)
    assert gave_up.status == "unavailable"
    assert await node.store.keys(SENDING) == [str(status.application_id)]  # kept
    again = portal(node)  # a portal started again does not take a given-up one up by itself
    await again.sending.resume()
    assert len(node.sent) == RESEND.attempts and again.sending._tasks == {}
    pending = await again.send_again(PERSON, status.application_id)
    assert pending is not None and pending.status == "pending"
    assert pending.application_id == status.application_id
    assert [s.status for s in await again.applications(PERSON)] == ["pending"]
    done = await again.settled(PERSON, pending)
    assert (done.status, done.detail, done.application_id) == (
        "accepted",
        "nta-0001",
        status.application_id,
    )
    assert await again.applications(PERSON) == [done]
    assert [doc for _, doc in node.sent] == [SIGNED] * (RESEND.attempts + 2)  # the very one
    assert await node.store.keys(SENDING) == []  # settled: dropped


async def test_a_later_round_still_counts_the_first_rounds_sends_as_unanswered() -> None:
    """The hub's own refusal in the round the resident began (the token service down) is not
    the office's word: the first round's sends may have been filed, so it stays 応答なし."""
    node = Node([LATE] * RESEND.attempts + ["hub-refused"])
    ask = node.ask

    async def hub_refuses(*args: Any, **kw: Any) -> Answer:
        answer = await ask(*args, **kw)
        if len(node.sent) > RESEND.attempts and args[1] != HUB:
            return Answer(answer.query_id, "error", code="hub.token_service_unavailable")
        return answer

    node.ask = hub_refuses  # type: ignore[method-assign]
    office = portal(node)
    status = await office.settled(PERSON, await office.submit(PERSON, "tax_return", {}, SIGNED))
    assert status.status == "unavailable"
    assert await office.send_again(PERSON, status.application_id) is not None
    done = await office.settled(PERSON, dataclasses.replace(status, status="pending"))
    assert done.status == "unavailable", done
    assert f"sent {2 * RESEND.attempts} times" in done.detail


async def test_only_its_own_given_up_application_is_sent_again() -> None:
    """Another resident's id, an id made up, one accepted or still being sent: nothing sent."""
    node = Node([LATE] * RESEND.attempts)
    office = portal(node)
    given_up = await office.settled(PERSON, await office.submit(PERSON, "tax_return", {}, SIGNED))
    sends = len(node.sent)
    assert await office.send_again("tok-hanako", given_up.application_id) is None
    assert await office.send_again(PERSON, uuid.uuid4()) is None
    node.answers = ["ok"]
    accepted = await office.submit(PERSON, "tax_return", {}, SIGNED)
    assert accepted.status == "accepted"
    assert await office.send_again(PERSON, accepted.application_id) is None
    assert len(node.sent) == sends + 1  # only the new application's one send
    # the document kept under the status, but the status pushed out of the resident's list
    doc = await node.store.get(SENDING, str(given_up.application_id))
    assert doc is not None and doc["gave_up"] is True and doc["person"] == PERSON
    await office._save_statuses(PERSON, [accepted])
    assert await office.send_again(PERSON, given_up.application_id) is None
    # sending again twice at once: the second finds it 確認中 already
    await office._save_statuses(PERSON, [given_up, accepted])
    node.answers, node.gate = [LATE, "ok"], asyncio.Event()
    first, second = await asyncio.gather(
        office.send_again(PERSON, given_up.application_id),
        office.send_again(PERSON, given_up.application_id),
    )
    assert [s is None for s in (first, second)].count(True) == 1
    node.gate.set()
    await office.sending.close()


@dataclass
class Residents(Node):
    """The node for two residents logging in to the web portal (J-LIS names each card's
    holder); the portal's own disclosures of who holds them answer none."""

    holders: dict[bytes, str] = field(default_factory=dict)  # certificate → the portal's token

    async def identify(self, certificate: bytes) -> str:
        return self.holders[certificate]

    async def ask(
        self, affair: str, office: str, items: Any, person: str, *_: Any, **kw: Any
    ) -> Answer:
        if affair == "disclosure":
            return Answer(uuid.uuid4(), "ok", data={"holders": []}, record_id=uuid.uuid4())
        return await Node.ask(self, affair, office, items, person, **kw)


async def test_over_http_only_the_resident_who_filed_it_sends_it_again() -> None:
    """The web portal on the real portal office: Hanako posting Taro's given-up application's
    id (taken from anywhere) is refused and nothing is sent; Taro's post sends his again."""
    node = Residents([LATE] * RESEND.attempts + ["ok"])
    node.holders = {TARO.der: "tok-taro", HANAKO.der: "tok-hanako", b"cert": "tok-taro"}
    office = portal(node)
    status = await office.submit("tok-taro", "tax_return", {}, SIGNED)
    given_up = await office.settled("tok-taro", status)
    assert given_up.status == "unavailable"
    path = f"/applications/{given_up.application_id}/resend"
    async for env in start(backend=office):
        await env.login(HANAKO)
        assert (await env.post(path)).status == 404
        assert len(node.sent) == RESEND.attempts
        assert [s.status for s in await office.applications("tok-taro")] == ["unavailable"]
        await env.client.post("/logout", data={"csrf": await env.csrf()})
        await env.login(TARO)
        listing = await (await env.client.get("/applications")).text()
        assert f'action="{path}"' in listing
        assert (await env.post(path)).status == 303
        done = await office.settled("tok-taro", dataclasses.replace(given_up, status="pending"))
        assert done.status == "accepted" and len(node.sent) == RESEND.attempts + 1
        assert (await env.post(path)).status == 404  # answered: nothing to send again
