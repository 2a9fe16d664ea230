"""The kiosk on HTTP with an issued card in memory, and the issuance centre's real API behind
it over a fake network (J-LIS names the holder; the municipality answers as told)."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from proc_env import free_port

from card_service import Card, CardClient, MemoryTransport, NoCard
from issuance import IssuanceCentre, IssuanceRefused
from issuance.api import create_api
from issuance.exceptions import ISSUANCE_CARD_REFUSED
from kiosk import create_app
from renkei.kiosk_commands import REFUSALS

NOON = dt.datetime(2026, 6, 10, 3, 0, tzinfo=dt.UTC)  # 12:00 JST
NIGHT = dt.datetime(2026, 6, 10, 15, 0, tzinfo=dt.UTC)  # 0:00 JST
PDF = b"%PDF-1.7 the municipality's signed certificate"
PIN = "1234"  # card_helpers.AUTH_PIN


@dataclass
class Answer:
    status: str
    data: Mapping[str, Any] | None = None
    code: str = ""
    reason: str = ""
    record_id: str = "0b6f1c2e-0000-4000-8000-000000000001"


@dataclass
class FakeNode:
    answer: Answer = field(default_factory=lambda: Answer("ok"))
    asked: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def identify(self, certificate: bytes) -> str:
        return "centre-token"

    async def ask(
        self, affair: str, provider: str, items: tuple[str, ...], person: str, params: Any
    ) -> Answer:
        self.asked.append((items[0], dict(params)))
        if self.answer.status == "ok":
            pdf = base64.b64encode(PDF).decode()
            return Answer("ok", {items[0]: {"kind": items[0]}, "pdf": pdf})
        return self.answer


class FakeCheck:
    revoked = False

    async def check(self, der: bytes, at: dt.datetime) -> None:
        if self.revoked:
            raise IssuanceRefused(ISSUANCE_CARD_REFUSED, "この電子証明書は失効しています")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Reader:
    """What ``renkei card …`` does per operation: open the card, use it, close it (a PC/SC
    close resets the card); ``card`` None is an empty reader."""

    def __init__(self, card: Card | None) -> None:
        self.card = card
        self.opened = 0

    @contextlib.contextmanager
    def open(self) -> Iterator[CardClient]:
        if self.card is None:
            raise NoCard("no reader holds a card")
        self.opened += 1
        try:
            yield CardClient(MemoryTransport(self.card))
        finally:
            self.card.reset()


class Forms(HTMLParser):
    """The page's forms: action → hidden fields, and the buttons' (name, value)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self.buttons: dict[str, list[tuple[str, str]]] = {}
        self._action = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._action = a.get("action", "")
            self.forms.setdefault(self._action, {})
            self.buttons.setdefault(self._action, [])
        elif tag == "input" and a.get("type") == "hidden":
            self.forms[self._action][a["name"]] = a["value"]
        elif tag == "button" and "name" in a:
            self.buttons[self._action].append((a["name"], a.get("value", "")))


def forms(page: str) -> Forms:
    parsed = Forms()
    parsed.feed(page)
    return parsed


@dataclass
class Kiosk:
    http: TestClient[Any, Any]
    origin: str
    reader: Reader
    node: FakeNode
    check: FakeCheck
    centre: IssuanceCentre
    clock: Clock
    printed: Path
    page: str = ""

    async def get(self, path: str = "/") -> tuple[int, str]:
        got = await self.http.get(path)
        self.page = await got.text()
        return got.status, self.page

    async def post(
        self, path: str, fields: Mapping[str, str] | None = None, **headers: str
    ) -> tuple[int, str]:
        sent = {"Origin": self.origin, **headers}
        got = await self.http.post(path, data=dict(fields or {}), headers=sent)
        self.page = await got.text()
        return got.status, self.page

    def token(self) -> str:
        for hidden in forms(self.page).forms.values():
            if "t" in hidden:
                return hidden["t"]
        raise AssertionError(f"no transaction on the page: {self.page[:500]}")

    async def key(self, key: str) -> tuple[int, str]:
        return await self.post("/pin", {"t": self.token(), "key": key})

    async def enter(self, pin: str) -> tuple[int, str]:
        for digit in pin:
            await self.key(digit)
        return await self.key("ok")

    async def to_menu(self) -> None:
        await self.post("/start")
        status, page = await self.enter(PIN)
        assert status == 200 and "取得する証明書を選んでください" in page, page

    async def to_payment(self, item: str = "seal", copies: int = 1) -> tuple[int, str]:
        """The menu, ``item`` (the tax certificate: its latest year), ``copies``, お支払いへ."""
        await self.to_menu()
        await self.post("/choose", {"t": self.token(), "item": item})
        if item == "tax":
            await self.post("/year", {"t": self.token(), "year": "2026"})
        if copies != 1:
            await self.post("/copies", {"t": self.token(), "copies": str(copies)})
        return await self.post("/order", {"t": self.token()})

    async def insert(self, *coins: str) -> tuple[int, str]:
        status, page = 0, ""
        for coin in coins:
            status, page = await self.post("/pay", {"t": self.token(), "insert": coin})
        return status, page


def text_of(page: str) -> str:
    """The page's text, tags dropped (to read a screen as the resident does)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


@contextlib.asynccontextmanager
async def kiosk(tmp: Path, card: Card, centre_url: str = "") -> Any:
    node, check = FakeNode(), FakeCheck()
    centre = IssuanceCentre(node, check, clock=lambda: NOON)  # type: ignore[arg-type]
    server = TestServer(create_api(centre), host="127.0.0.1")
    await server.start_server()
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    reader, clock = Reader(card), Clock()
    app = create_app(
        reader.open,
        centre_url=centre_url or str(server.make_url("")),
        own_origin=origin,
        refusals=REFUSALS,
        printed_dir=tmp / "printed",
        clock=clock,
    )
    http = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await http.start_server()
    try:
        yield Kiosk(http, origin, reader, node, check, centre, clock, tmp / "printed")
    finally:
        await http.close()
        await server.close()
