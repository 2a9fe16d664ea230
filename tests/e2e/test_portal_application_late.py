"""An office that files an application but answers past its deadline: the hub records a
time-out, yet the office holds the filing. The portal shows it 確認中 and sends the same signed
document again by itself (``portal.sending``); the office answers that copy with the receipt it
kept; the resident's status is the receipt, and the やりとり履歴 shows both exchanges as they
were — the first timed out, the second provided. On both backends, with a real CA over HTTP.

Before: the resident was told "not delivered" (file it again: a second filing under a new
application id), while ``nta`` kept the first."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Mapping
from hashlib import sha256
from typing import Any

from e2e_env import Env
from portal_env import PORTAL, Pki, Resident, application, login, network, resident

from agencies.applications import COLLECTION, SignedApplications
from hub.node.backoff import Backoff

NTA = "nta"
FORM = {"fiscal_year": "2025", "income": "5000000", "deductions": "480000"}
DEADLINE = dt.timedelta(seconds=2)


async def nta_behind(env: Env, pki: Pki, wrap: Any) -> tuple[Resident, str, SignedApplications]:
    """A resident logged in, and ``nta``'s desk behind ``wrap`` (the portal's deadline short):
    the resident, their token, the desk itself."""
    net = await network(env, pki)
    r = await resident(net, pki)
    person = await login(r, pki)
    office = net.offices[NTA]
    assert isinstance(office.roles.applications, SignedApplications)
    desk = office.roles.applications
    office.roles = dataclasses.replace(office.roles, applications=wrap(desk))
    net.offices[PORTAL].deadline = DEADLINE
    return r, person, desk


class Slow:
    """``nta``'s desk, its first application answered past the deadline (filed all the
    same: the office was slow, not down)."""

    def __init__(self, desk: SignedApplications) -> None:
        self.desk, self.calls = desk, 0

    async def receive(self, person: str, kind: str, document: bytes) -> Mapping[str, Any]:
        self.calls += 1
        receipt = await self.desk.receive(person, kind, document)
        if self.calls == 1:
            await asyncio.sleep(DEADLINE.total_seconds() + 1.5)  # past the hub's deadline
        return receipt


async def test_a_return_filed_past_its_deadline_reaches_the_resident_with_its_receipt(
    env: Env, pki: Pki
) -> None:
    r, person, desk = await nta_behind(env, pki, Slow)
    slow = r.net.offices[NTA].roles.applications
    assert isinstance(slow, Slow)
    signed = application(r, "tax_return", FORM)
    status = await r.portal.submit(person, "tax_return", FORM, signed)
    assert status.status == "pending", status.detail  # the first send timed out
    assert [s.status for s in await r.portal.applications(person)] == ["pending"]
    done = await asyncio.wait_for(r.portal.settled(person, status), 60)
    assert done.status == "accepted" and done.detail.startswith("nta-"), done.detail
    assert [s.status for s in await r.portal.applications(person)] == ["accepted"]
    [kept] = await desk.store.keys(COLLECTION)  # filed once, on the first send
    doc = await desk.store.get(COLLECTION, kept)
    assert doc is not None and doc["receipt"]["receipt"] == done.detail and done.ref == kept
    assert slow.calls >= 2
    # やりとり履歴: each send its own record, as it went — the first timed out, the last provided
    history = (await r.portal.history(person)).entries
    sends = sorted(
        (h for h in history if h.affair == "application" and h.provider == NTA),
        key=lambda h: h.at,
    )
    outcomes = [h.outcome for h in sends]
    assert (outcomes[0], outcomes[-1]) == ("timed_out", "ok"), outcomes
    assert all(h.own and h.requester == PORTAL for h in sends)


class Down:
    """``nta``'s desk while ``down``: it files what it takes but answers past the deadline (as
    good as down to the portal: no answer ever comes in time)."""

    def __init__(self, desk: SignedApplications) -> None:
        self.desk, self.down, self.calls = desk, True, 0

    async def receive(self, person: str, kind: str, document: bytes) -> Mapping[str, Any]:
        self.calls += 1
        receipt = await self.desk.receive(person, kind, document)
        if self.down:
            await asyncio.sleep(DEADLINE.total_seconds() + 1.5)
        return receipt


async def test_a_return_never_answered_is_sent_again_at_the_residents_asking_and_filed_once(
    env: Env, pki: Pki
) -> None:
    """Every send of a round unanswered: 応答なし, and before, the signed return was dropped —
    the resident could not try again (filing anew: a second return, should the first be filed).
    Now the resident's 送り直す sends the same document again under the same status: ``nta``
    answers with the receipt of the return it filed on the first send, filed once."""
    r, person, desk = await nta_behind(env, pki, Down)
    down = r.net.offices[NTA].roles.applications
    assert isinstance(down, Down)
    r.portal.sending.resend = Backoff(first=0.05, most=0.05, attempts=2)  # a round of two
    signed = application(r, "tax_return", FORM)
    status = await r.portal.submit(person, "tax_return", FORM, signed)
    assert status.status == "pending", status.detail
    gave_up = await asyncio.wait_for(r.portal.settled(person, status), 60)
    assert gave_up.status == "unavailable" and "sent 2 times" in gave_up.detail
    assert await r.portal.send_again("somebody-else", status.application_id) is None
    down.down = False  # the office is back
    again = await r.portal.send_again(person, status.application_id)
    assert again is not None and again.status == "pending"
    done = await asyncio.wait_for(r.portal.settled(person, again), 60)
    assert done.status == "accepted" and done.detail.startswith("nta-"), done.detail
    assert done.application_id == status.application_id
    assert [s.status for s in await r.portal.applications(person)] == ["accepted"]
    kept = [await desk.store.get(COLLECTION, k) for k in await desk.store.keys(COLLECTION)]
    mine = [d for d in kept if d is not None and d["digest"] == sha256(signed).hexdigest()]
    assert [d["receipt"]["receipt"] for d in mine] == [done.detail]  # filed once: the first send
    assert down.calls >= 2
    history = (await r.portal.history(person)).entries
    sends = sorted(
        (h for h in history if h.affair == "application" and h.provider == NTA),
        key=lambda h: h.at,
    )
    assert [h.outcome for h in sends] == ["timed_out", "timed_out", "ok"]
