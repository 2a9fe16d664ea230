"""The kiosk's world in the browser tests: the network on RabbitMQ and PostgreSQL with the CA
over HTTP (tests/e2e's), the issuance centre's real API on it (served here, so a test can set
its clock or revoke a card), residents' cards issued by the CA into card state files, each put
in the vpcd reader by `renkei card emulate` when a test needs it, and `renkei run kiosk`
reading them through pcscd — each its own process."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from browser_env import Process, start
from portal_env import FACTS, Pki
from proc_env import READER, VPCD_PORT, free_port
from test_issuance_flow import registered

from card_service import HttpCa, Pins, Resident, StateKey, issue_to_file
from card_service.reader.pcsc import wait_for_card
from issuance import IssuanceCentre
from issuance.api import create_api
from pki.ca.office import PKI_OFFICE, holder_for
from renkei.network import Network

PINS = Pins(auth="1234", sign="KIOSK123", face="1234")


@dataclass(frozen=True)
class IssuedCard:
    state: Path
    auth_serial: int


async def card_of(net: Network, pki: Pki, folder: Path, name: str, **record: object) -> IssuedCard:
    """A registered resident (``registered``: household, seal, tax; ``record`` overrides) and
    the card the municipal desk issues them, the CA certifying its keys, as a state file."""
    number, facts, _, rrc = await registered(net, **record)
    holder = holder_for(await net.offices[PKI_OFFICE].enroll(number, facts))
    resident = Resident.model_validate(
        {
            "number": number,
            "name": FACTS.name,
            "address": FACTS.address,
            "birth_date": dt.date(1980, 5, 5),
            "sex": "2",
            "prefecture": "東京都",
            "municipality": "千代田区",
        }
    )
    path = folder / f"{name}.state"
    async with aiohttp.ClientSession() as http:
        ca = HttpCa(http, pki.ca.endpoints.base_url, pki.ca.operator_token)
        issued, _ = await issue_to_file(
            path, StateKey.beside(path), resident, PINS, ca, holder=holder, code=rrc
        )
    return IssuedCard(path, issued.auth_serial)


@contextlib.asynccontextmanager
async def inserted(card: IssuedCard, state_dir: Path) -> AsyncIterator[None]:
    """The card in the vpcd reader for the block (`renkei card emulate`), pulled out after."""
    emulator = await start(
        "emulator", state_dir, "card", "emulate", "--state", str(card.state), "--port",
        str(VPCD_PORT),
    )  # fmt: skip
    drain: asyncio.Task[None] | None = None
    try:
        assert await asyncio.to_thread(wait_for_card, READER, 20), "no card in the reader"
        drain = asyncio.create_task(emulator.drain())
        yield
    finally:
        await emulator.stop()
        if drain is not None:
            drain.cancel()
        await asyncio.to_thread(wait_for_card, READER, 10, present=False)


@contextlib.asynccontextmanager
async def served_centre(centre: IssuanceCentre) -> AsyncIterator[str]:
    """The centre's API for kiosks (``issuance.api``) on a port of its own: its URL."""
    port = free_port()
    runner = web.AppRunner(create_api(centre), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def kiosk_process(state_dir: Path, centre_url: str, printed: Path) -> AsyncIterator[str]:
    """`renkei run kiosk` on the vpcd reader: its URL."""
    port = free_port()
    proc: Process = await start(
        "kiosk", state_dir, "run", "kiosk", "--port", str(port), "--centre-url", centre_url,
        "--reader", READER, "--printed", str(printed),
    )  # fmt: skip
    await proc.wait_for("kiosk running on")
    drain = asyncio.create_task(proc.drain())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await proc.stop()
        drain.cancel()
