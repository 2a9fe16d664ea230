"""Applications redelivered: the office that takes them stops at the worst moment, the broker
gives the application to the office started in its place, and the resident's answer and the
office's effects are as if it had not stopped (docs/reliability.md, "Fixed on the way").

The whole network runs in this process, on the in-process bus and stores and on the real
RabbitMQ and PostgreSQL, with a CA over HTTP (the e2e portal's set-up); the resident files a
転出届 in the portal. The register (``chiyoda-resident``) "stops" at an exact point: its broker
connection closed without a goodbye (the broker requeues the application it had not
acknowledged; in-process, its bus closed, which returns it) and its handler ended there; a new
register node — same store, nothing in memory — takes its place on the queues.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from e2e_env import IDS, Env, real_env
from portal_env import PORTAL, REGISTER, Pki, application, login, resident, serve_pki

from agencies.applications import COLLECTION, SignedApplications
from agencies.jlis.registry import Jlis
from agencies.municipality.moving import MovedOut
from agencies.municipality.register_desk import RegisterDesk
from hub.node import EVENTS, OfficeNode
from pki.ca.office import PKI_OFFICE, CaListener
from renkei.network import Network
from renkei.pki_checks import PkiSignatureCheck
from renkei.secrets import State
from renkei.settings import Settings


@pytest.fixture(
    params=["memory", pytest.param("real", marks=[pytest.mark.rabbitmq, pytest.mark.postgres])]
)
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    """The in-process bus and stores, and RabbitMQ and PostgreSQL (``-m`` picks)."""
    if request.param == "memory":
        made = Env("memory", Settings(_env_file=None), State.generate(IDS))
        yield made
        await made.close()
        return
    async for made in real_env():
        try:
            yield made
        finally:
            await made.close()


@pytest.fixture(scope="module")
async def pki() -> AsyncIterator[Pki]:
    async for served in serve_pki():
        yield served


class Stop:
    """The register stopping at a point of its work: its connection dropped, its handler
    ended; then a register started in its place (``started``)."""

    def __init__(self, env: Env, net: Network) -> None:
        self.env, self.net = env, net
        self.old: OfficeNode = net.offices[REGISTER]
        self.stopped = asyncio.Event()
        self.closing: asyncio.Task[None] | None = None

    async def __call__(self, *args: Any) -> None:
        self.stopped.set()
        if self.env.kind == "memory":  # the bus returns what a handler cut off left unsettled
            self.closing = asyncio.create_task(self.old.bus.close())
            await asyncio.Future()  # until the close cancels it: nothing after this point runs
        # closed from outside this handler (a connection's close waits for its handlers)
        self.closing = asyncio.create_task(self.old.bus.connection.close())  # type: ignore[attr-defined]
        raise asyncio.CancelledError  # the process is gone: nothing after this point runs

    async def started(self) -> OfficeNode:
        """The new register: a node of its own on a new connection, its applications desk and
        move-out follow-up built afresh over the same store."""
        await asyncio.wait_for(self.stopped.wait(), 30)
        assert self.closing is not None
        await self.closing
        old, store = self.old, self.net.stores[REGISTER]
        bus = await self.env.connect(self.net, REGISTER)
        node = dataclasses.replace(old, bus=bus, _pending={}, _subs=[])
        jlis: Jlis = self.net.apps["jlis"]
        desk = RegisterDesk(node, store, jlis, "131016")
        was = old.roles.applications
        assert isinstance(was, SignedApplications)
        apps = SignedApplications(REGISTER, store, was.check, MovedOut(node, desk), register=True)
        node.roles = dataclasses.replace(old.roles, applications=apps)
        await node.start()
        return node


# what a 転出届 filed in the portal needs: the hub, the token service, J-LIS (numbers, and the
# register's 本人確認情報 notes), its CA's office, the portal, the register and the ward moved to
RUN = ["hub", "token", "jlis", PKI_OFFICE, PORTAL, REGISTER, "shinjuku-resident"]
FORM = {
    "to_address": "東京都新宿区西新宿二丁目8番1号",
    "to_municipality": "131041",
    "moving_date": (dt.date.today() + dt.timedelta(days=1)).isoformat(),  # after the card
}


async def moved_out_events(net: Network) -> int:
    """The move-out change events the new municipality's register received (each kept once,
    by its event id: two are two 転出 told under two ids)."""
    store = net.stores["shinjuku-resident"]
    kept = [await store.get(EVENTS, key) for key in await store.keys(EVENTS)]
    return sum(1 for doc in kept if doc is not None and doc.get("change") == "moved_out")


async def filed(env: Env, pki: Pki, where: str) -> tuple[Any, Network, Stop, Any]:
    """A resident files a 転出届 while the register stops at ``where`` (``kept``: after keeping
    the application, before replying; ``told``: after telling the holders of the move out,
    before noting J-LIS and writing the record); the portal's status of it."""
    net = await env.network(
        run=RUN,
        listeners={PKI_OFFICE: CaListener(pki.ca)},
        signatures=PkiSignatureCheck(pki.trust, pki.source),
    )
    net.offices[PORTAL].deadline = dt.timedelta(seconds=60)  # a slow machine: no time-out
    r = await resident(net, pki)
    person = await login(r, pki)
    stop = Stop(env, net)
    apps = stop.old.roles.applications
    assert isinstance(apps, SignedApplications)
    if where == "kept":
        apps.after = stop
    else:
        assert isinstance(apps.then, MovedOut) and isinstance(apps.then.desk, RegisterDesk)
        apps.then.desk._note = stop  # type: ignore[method-assign]
    signed = application(r, "moving", FORM)
    # signed a second before it is filed, as at a browser: the CA dates a revocation (the
    # move out's) and the document its signing to the second, and a tie counts as revoked
    await asyncio.sleep(1.1)
    submitted = asyncio.create_task(r.portal.submit(person, "moving", FORM, signed))
    await stop.started()
    return await submitted, net, stop, r


async def test_an_application_kept_before_the_office_stopped_is_answered_with_its_receipt(
    env: Env, pki: Pki
) -> None:
    """Before: the redelivered copy was answered ``application.duplicate`` ("filed already"):
    a refusal for an application that was filed."""
    status, net, _, _ = await filed(env, pki, "kept")
    assert status.status == "accepted", status.detail
    [kept] = await net.stores[REGISTER].keys(COLLECTION)
    doc = await net.stores[REGISTER].get(COLLECTION, kept)
    assert doc is not None and status.detail == doc["receipt"]["receipt"]


async def test_a_move_out_begun_before_the_office_stopped_is_told_once(env: Env, pki: Pki) -> None:
    """Before: the redelivered application filed its move out again under a new event id — a
    second 転出 told to every holder (two change events, two access records)."""
    status, net, _, r = await filed(env, pki, "told")
    assert status.status == "accepted", status.detail
    assert await moved_out_events(net) == 1
    found = await net.stores[REGISTER].by_token("residents", r.register_token)
    assert found is not None and found[1]["move_out"] == FORM["moving_date"]
    jlis: Jlis = net.apps["jlis"]
    doc = await jlis.store.get("residents", found[1]["rrc"])
    assert doc is not None
    assert [h["reason"] for h in doc["history"]] == ["転出"]
