"""Shared material for the card's unit tests: one CA and one issued card per session.

Issuing costs two RSA-2048 key generations, so a card is issued once and every test gets a
fresh copy of its state (``fresh()``), as if a new card with the same contents were inserted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from card_service import Card, CardClient, CardState, MemoryTransport, Pins, Resident, issue_card
from card_service.desk.issuance import IssuedCard
from pki import (
    CaName,
    CertificationAuthority,
    CertKind,
    Endpoints,
    Hierarchy,
    Locality,
    ResidentFacts,
    Sex,
)

AUTH_PIN, SIGN_PIN, FACE_PIN = "1234", "ABC123", "5678"
PINS = Pins(auth=AUTH_PIN, sign=SIGN_PIN, face=FACE_PIN)
RRC = "12345678903"  # the resident's 住民票コード on the register, given to the CA at issuance
RESIDENT_DOC: dict[str, Any] = {
    "number": "123456789018",
    "name": "番号 花子",
    "address": "東京都千代田区霞が関二丁目1番2号",
    "birth_date": "1985-06-15",
    "sex": "2",
    "prefecture": "Tokyo-to",
    "municipality": "Chiyoda-ku",
}
RESIDENT = Resident.from_json(json.dumps(RESIDENT_DOC).encode())
HIERARCHY = Hierarchy.generate(dt.datetime.now(dt.UTC))


class InProcessCa:
    """The card's CertificateAuthority protocol over pki's Python API (no HTTP)."""

    def __init__(self) -> None:
        self.ca = CertificationAuthority(
            HIERARCHY, holder_key=b"k" * 32, endpoints=Endpoints("http://127.0.0.1:9")
        )
        self.calls: list[str] = []

    async def issue(
        self,
        kind: str,
        public_key_pem: str,
        *,
        holder: str,
        prefecture: str,
        municipality: str,
        facts: dict[str, str] | None,
        code: str | None = None,
    ) -> bytes:
        self.calls.append(kind)
        key = serialization.load_pem_public_key(public_key_pem.encode())
        rf = None
        if facts is not None:
            rf = ResidentFacts(
                name=facts["name"],
                address=facts["address"],
                birth_date=dt.date.fromisoformat(facts["birth_date"]),
                sex=Sex(facts["sex"]),
                name_alt=facts["name_alt"],
                address_alt=facts["address_alt"],
            )
        issued = self.ca.issue(
            CertKind(kind),
            key,  # type: ignore[arg-type]
            holder,
            Locality(prefecture, municipality),
            rf,
            code=code,
        )
        return issued.certificate.public_bytes(serialization.Encoding.DER)

    async def ca_certificate(self, kind: str) -> bytes:
        cert: x509.Certificate = HIERARCHY.issuer(CaName(kind)).cert
        return cert.public_bytes(serialization.Encoding.DER)


def Desk() -> MemoryTransport:
    return MemoryTransport()


@functools.cache
def _issue() -> tuple[bytes, IssuedCard]:
    desk = MemoryTransport()
    issued = asyncio.run(issue_card(CardClient(desk), RESIDENT, PINS, InProcessCa(), code=RRC))
    return desk.card.state.to_bytes(), issued


def issued() -> IssuedCard:
    """What the CA issued for the session's card (issued on first use, inside a test)."""
    return _issue()[1]


def fresh_state() -> CardState:
    return CardState.from_bytes(_issue()[0])


def fresh() -> Card:
    return Card(fresh_state())


def run(card: Card, hexapdu: str) -> tuple[bytes, int]:
    """Send one APDU written in hex (spaces allowed): (data, status word)."""
    answer = card.process(bytes.fromhex(hexapdu))
    return answer[:-2], int.from_bytes(answer[-2:], "big")


JPKI_AID = "D3 92 F0 00 26 01 00 00 00 01"
FACE_AID = "D3 92 10 00 31 00 01 01 04 08"
SELECT_JPKI = f"00 A4 04 0C 0A {JPKI_AID}"
SELECT_FACE = f"00 A4 04 0C 0A {FACE_AID}"


def select_ef(fid: int) -> str:
    return f"00 A4 02 0C 02 {fid:04X}"


def verify(pin: str) -> str:
    return f"00 20 00 80 {len(pin):02X} {pin.encode().hex()}"
