"""The centre's API for kiosks, over HTTP with a fake network: malformed, oversized, forged and
refused requests answer a clear JSON error with the security headers; a good one the PDF."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from hub.node import NotIdentified
from issuance import IssuanceCentre, IssuanceRefused
from issuance.api import MAX_BODY, create_api
from issuance.exceptions import ISSUANCE_CARD_REFUSED

NOON = dt.datetime(2026, 6, 10, 3, 0, tzinfo=dt.UTC)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert() -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "card")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(1)
        .not_valid_before(NOON - dt.timedelta(days=1))
        .not_valid_after(NOON + dt.timedelta(days=1))
        .sign(KEY, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


CERT = _cert()


@dataclass
class Answer:
    status: str
    data: Mapping[str, Any] | None = None
    code: str = ""
    reason: str = ""
    record_id: str = "rec-1"


@dataclass
class FakeNode:
    """The centre's node: J-LIS names the card's holder; the municipality answers."""

    answer: Answer = field(default_factory=lambda: Answer("ok"))
    asked: list[tuple[str, str, tuple[str, ...], str]] = field(default_factory=list)
    known: bool = True

    async def identify(self, certificate: bytes) -> str:
        if not self.known:
            raise NotIdentified("jlis.certificate_revoked", "revoked")
        return "centre-token"

    async def ask(
        self, affair: str, provider: str, items: tuple[str, ...], person: str, params: Any
    ) -> Answer:
        self.asked.append((affair, provider, items, person))
        return self.answer


class FakeCheck:
    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse

    async def check(self, der: bytes, at: dt.datetime) -> None:
        if self.refuse:
            raise IssuanceRefused(ISSUANCE_CARD_REFUSED, "この証明書は失効しています")


@pytest.fixture
async def parts() -> AsyncIterator[tuple[TestClient[Any, Any], FakeNode, IssuanceCentre]]:
    node = FakeNode()
    centre = IssuanceCentre(node, FakeCheck(), clock=lambda: NOON)  # type: ignore[arg-type]
    client = TestClient(TestServer(create_api(centre), host="127.0.0.1"))
    await client.start_server()
    yield client, node, centre
    await client.close()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def order(client: TestClient[Any, Any], **fields: Any) -> dict[str, Any]:
    got = await client.post("/v1/challenge")
    challenge = base64.urlsafe_b64decode((await got.json())["challenge"] + "==")
    signature = KEY.sign(challenge, padding.PKCS1v15(), hashes.SHA256())
    body = {
        "challenge": b64(challenge),
        "signature": b64(signature),
        "certificate": b64(CERT),
        "kind": "seal_certificate",
        "options": {},
        "copies": 1,
    }
    return {**body, **fields}


def assert_headers(headers: Mapping[str, str]) -> None:
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"


async def test_a_good_order_gives_the_municipalitys_pdf(parts: Any) -> None:
    client, node, _ = parts
    pdf = b"%PDF-1.4 signed"
    node.answer = Answer("ok", {"seal_certificate": {"kind": "x"}, "pdf": b64(pdf) + "=="})
    got = await client.post("/v1/certificates", json=await order(client, copies=2))
    assert got.status == 200, await got.text()
    assert got.content_type == "application/pdf"
    assert (got.headers["X-Fee"], got.headers["X-Record-Id"]) == ("400", "rec-1")
    assert await got.read() == pdf
    assert_headers(got.headers)
    assert node.asked == [("convenience_issuance", "hub", ("seal_certificate",), "centre-token")]


async def test_the_fee_is_quoted_before_printing(parts: Any) -> None:
    client, node, _ = parts
    got = await client.post(
        "/v1/quote", json={"kind": "resident_certificate", "options": {"household": "1"}}
    )
    assert await got.json() == {
        "kind": "resident_certificate", "title": "住民票の写し", "fee": 200, "copies": 1,
        "max_copies": 10,
    }  # fmt: skip
    tax = await client.post(
        "/v1/quote",
        json={"kind": "tax_certificate", "options": {"fiscal_year": "2024"}, "copies": 3},
    )
    assert await tax.json() == {
        "kind": "tax_certificate", "title": "課税（所得）証明書", "fee": 900, "copies": 3,
        "max_copies": 10, "fiscal_year": 2024, "fiscal_years": [2026, 2025, 2024, 2023],
    }  # fmt: skip
    assert node.asked == []


async def test_the_number_only_on_the_residents_explicit_choice(parts: Any) -> None:
    """Without a choice, the copy without the number; with it, the item of its own (row c04),
    and the query carries the item name only — never a number."""
    client, node, _ = parts
    quote = await client.post(
        "/v1/quote", json={"kind": "resident_certificate", "options": {"number": "1"}}
    )
    assert (await quote.json())["title"] == "住民票の写し（個人番号あり）"
    for options, item in (
        ({}, "resident_certificate"),
        ({"number": "0"}, "resident_certificate"),
        ({"number": "1", "household": "1"}, "resident_certificate_number"),
    ):
        node.answer = Answer(
            "ok", {item: {"kind": "x"}, "pdf": base64.b64encode(b"%PDF-1.4").decode()}
        )
        body = await order(client, kind="resident_certificate", options=options)
        got = await client.post("/v1/certificates", json=body)
        assert got.status == 200, await got.text()
        assert node.asked[-1][2] == (item,)
    for bad in ("yes", "2", "１"):
        body = await order(client, kind="resident_certificate", options={"number": bad})
        got = await client.post("/v1/certificates", json=body)
        assert got.status == 400 and (await got.json())["code"] == "issuance.bad_options"
    body = await order(client, kind="seal_certificate", options={"number": "1"})
    got = await client.post("/v1/certificates", json=body)  # no number on a seal certificate
    assert got.status == 400 and (await got.json())["code"] == "issuance.bad_options"


@pytest.mark.parametrize(
    ("copies", "options"),
    [
        (0, {}),
        (-1, {}),
        (11, {}),
        (10**30, {}),
        (1, {"fiscal_year": "2022"}),  # older than the years offered
        (1, {"fiscal_year": "2027"}),  # a year not yet assessed
        (1, {"fiscal_year": "２０２６"}),
        (1, {"fiscal_year": " 2026"}),
    ],
)
async def test_copies_and_years_out_of_range_are_refused_before_the_challenge_is_spent(
    parts: Any, copies: int, options: dict[str, str]
) -> None:
    client, node, _ = parts
    pdf = b64(b"%PDF-1.4 signed")
    node.answer = Answer("ok", {"tax_certificate": {"kind": "x"}, "pdf": pdf + "=="})
    body = {"kind": "tax_certificate", "options": options, "copies": copies}
    quote = await client.post("/v1/quote", json=body)
    refused = {"issuance.bad_options", "issuance.bad_request"}  # 10**30: orjson's JSON limit
    assert quote.status == 400 and (await quote.json())["code"] in refused
    signed = await order(client, **body)
    got = await client.post("/v1/certificates", json=signed)
    assert got.status == 400 and (await got.json())["code"] in refused
    again = await client.post("/v1/certificates", json={**signed, "copies": 1, "options": {}})
    assert again.status == 200  # the challenge was not spent by the bad order
    assert len(node.asked) == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{", 400, "issuance.bad_request"),
        (b"[]", 400, "issuance.bad_request"),
        (b'{"kind": "seal_certificate", "extra": 1}', 400, "issuance.bad_request"),
        (b'{"kind": 5}', 400, "issuance.bad_request"),
        (b'{"kind": "family_register"}', 400, "issuance.unknown_kind"),
        (b'{"kind": "seal_certificate", "copies": true}', 400, "issuance.bad_request"),
        (b'{"kind": "seal_certificate", "copies": "2"}', 400, "issuance.bad_request"),
        (b'{"kind": "seal_certificate", "copies": 2.5}', 400, "issuance.bad_request"),
        (b'{"kind": "tax_certificate", "options": {"fiscal_year": 2026}}', 400,
         "issuance.bad_request"),
        (b'{"kind": "seal_certificate", "options": {"a": 1}}', 400, "issuance.bad_request"),
        (b'{"kind": "seal_certificate", "options": {"household": "1"}}', 400,
         "issuance.bad_options"),
    ],
)  # fmt: skip
async def test_malformed_quotes(parts: Any, body: bytes, status: int, code: str) -> None:
    client, _, _ = parts
    got = await client.post("/v1/quote", data=body, headers={"Content-Type": "application/json"})
    assert got.status == status
    assert (await got.json())["code"] == code
    assert_headers(got.headers)


async def test_not_json_oversized_and_unknown_routes(parts: Any) -> None:
    client, _, _ = parts
    form = await client.post("/v1/quote", data={"kind": "seal_certificate"})
    assert form.status == 415
    big = await client.post(
        "/v1/quote",
        data=b"{" + b" " * MAX_BODY + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert big.status == 413
    assert_headers(big.headers)
    nowhere = await client.post("/v1/nothing")
    assert nowhere.status == 404
    assert_headers(nowhere.headers)


async def test_forged_and_replayed_responses_are_refused(parts: Any) -> None:
    client, node, _ = parts
    body = await order(client)
    forged = {**body, "signature": b64(b"\x01" * 256)}
    got = await client.post("/v1/certificates", json=forged)
    assert (got.status, (await got.json())["code"]) == (401, "issuance.bad_response")
    replay = await client.post("/v1/certificates", json=body)  # its challenge was spent
    assert replay.status == 401
    not_b64 = await client.post("/v1/certificates", json={**await order(client), "signature": "*"})
    assert (await not_b64.json())["code"] == "issuance.bad_request"
    garbage = await client.post(
        "/v1/certificates", json=await order(client, certificate=b64(b"not a certificate"))
    )
    assert garbage.status == 401
    assert node.asked == []


async def test_refusals_of_the_card_and_of_the_municipality(parts: Any) -> None:
    client, node, centre = parts
    centre.check = FakeCheck(refuse=True)
    revoked = await client.post("/v1/certificates", json=await order(client))
    assert (revoked.status, (await revoked.json())["code"]) == (403, ISSUANCE_CARD_REFUSED)
    centre.check = FakeCheck()
    node.known = False  # J-LIS: revoked since
    unknown = await client.post("/v1/certificates", json=await order(client))
    assert (unknown.status, (await unknown.json())["code"]) == (403, ISSUANCE_CARD_REFUSED)
    node.known = True
    node.answer = Answer("refused", code="municipality.support_measure", reason="支援措置")
    dv = await client.post("/v1/certificates", json=await order(client))
    assert dv.status == 403
    assert (await dv.json()) == {"code": "municipality.support_measure", "message": "支援措置"}
    node.answer = Answer("timed_out")
    late = await client.post("/v1/certificates", json=await order(client))
    assert (late.status, (await late.json())["code"]) == (503, "issuance.unavailable")


async def test_closed_hours_ask_nothing(parts: Any) -> None:
    client, node, centre = parts
    centre.clock = lambda: NOON.replace(hour=15)  # 0:00 JST
    got = await client.post("/v1/certificates", json=await order(client))
    assert (got.status, (await got.json())["code"]) == (403, "issuance.closed")
    assert node.asked == []


async def test_the_status_says_whether_the_service_runs_now(parts: Any) -> None:
    """A kiosk asks before it asks the resident anything: the hours are the centre's."""
    client, node, centre = parts
    got = await client.get("/v1/status")
    assert await got.json() == {"open": True, "message": ""}
    assert_headers(got.headers)
    centre.clock = lambda: NOON + dt.timedelta(hours=12)  # 0:00 JST
    closed = await (await client.get("/v1/status")).json()
    assert closed["open"] is False
    assert "6:30〜23:00" in closed["message"]
    centre.clock = lambda: dt.datetime(2026, 12, 30, 3, 0, tzinfo=dt.UTC)  # 12:00 JST, 12/30
    assert (await (await client.get("/v1/status")).json())["open"] is False
    assert node.asked == []
