"""Issuance at the desk: keys made on the card, certificates for them, text, PINs, activation;
and the resident input the desk may get wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest
from card_helpers import PINS, RESIDENT, RESIDENT_DOC, Desk, InProcessCa, fresh_state, issued
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from card_service import (
    CardClient,
    IssuanceError,
    PinFormatError,
    Pins,
    Resident,
    ResidentError,
    issue_card,
)
from card_service.card.keys import load_key
from card_service.card.texts import decode_facts, encode_facts
from pki import EventKind, facts_from_certificate

JPKI = bytes.fromhex("D392F000260100000001")


def test_the_issued_card_holds_keys_matching_its_certificates() -> None:
    state = fresh_state()
    assert state.operational
    jpki = state.apps[JPKI]
    for key_ef, cert_ef in ((0x0017, 0x000A), (0x001A, 0x0001)):
        cert = x509.load_der_x509_certificate(jpki.files[cert_ef])
        assert cert.public_key() == load_key(jpki.keys[key_ef]).public_key()
        assert load_key(jpki.keys[key_ef]).key_size == 2048
    sign = x509.load_der_x509_certificate(jpki.files[0x0001])
    facts = facts_from_certificate(sign)
    assert facts is not None and facts.name == "番号 花子"
    auth = x509.load_der_x509_certificate(jpki.files[0x000A])
    assert facts_from_certificate(auth) is None  # no personal data
    assert issued().holder.startswith("card-")
    assert "CN=" in issued().sign_subject and "L=Chiyoda-ku" in issued().sign_subject


async def test_the_ca_is_asked_for_both_and_the_holder_is_kept() -> None:
    ca = InProcessCa()
    desk = Desk()
    issued = await issue_card(CardClient(desk), RESIDENT, PINS, ca, holder="desk-ref-7")
    assert ca.calls == ["authentication", "signature"]
    assert issued.holder == "desk-ref-7"


async def test_the_residents_code_reaches_the_ca_with_both_certificates() -> None:
    """The 住民票コード the 市町村長's application gives: J-LIS's notice revokes by it."""
    ca = InProcessCa()
    await issue_card(CardClient(Desk()), RESIDENT, PINS, ca, code="12345678903")
    done = ca.ca.apply_notice(EventKind.DIED, "12345678903", "e1")
    assert done is not None and len(done) == 2


class _Refusing(InProcessCa):
    async def issue(self, kind: str, public_key_pem: str, **kw: Any) -> bytes:
        raise IssuanceError("the CA refused (pki.refused: no)")


class _WrongKey(InProcessCa):
    async def issue(self, kind: str, public_key_pem: str, **kw: Any) -> bytes:
        other = Desk()
        other.transmit(bytes.fromhex("00A4040C0AD392F000260100000001"))
        other.transmit(bytes.fromhex("00A4020C020017"))
        spki = other.transmit(bytes.fromhex("00460000000000"))[:-2]
        pem = serialization.load_der_public_key(spki).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return await super().issue(kind, pem.decode(), **kw)


async def test_a_refusing_ca_or_a_certificate_for_another_key_fails_issuance() -> None:
    desk = Desk()
    with pytest.raises(IssuanceError, match="refused"):
        await issue_card(CardClient(desk), RESIDENT, PINS, _Refusing())
    assert not desk.card.state.operational
    with pytest.raises(IssuanceError, match="for another key"):
        await issue_card(CardClient(Desk()), RESIDENT, PINS, _WrongKey())


@pytest.mark.parametrize(
    ("auth", "sign", "face", "which"),
    [
        ("123", "ABC123", "5678", "authentication"),
        ("1234", "abc123", "5678", "signature"),
        ("1234", "ABCDEF", "5678", "signature"),
        ("1234", "ABC123", "56789", "card-face"),
    ],
)
def test_pins_breaking_the_rules_are_refused_at_the_desk(
    auth: str, sign: str, face: str, which: str
) -> None:
    with pytest.raises(PinFormatError, match=which):
        Pins(auth=auth, sign=sign, face=face)
    assert "1234" not in repr(PINS)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"number": "123456789010"}, "number: has a wrong check digit"),
        ({"number": "12345678901"}, "number: must be 12 digits"),
        ({"number": "１２３４５６７８９０１８"}, "number: must be 12 digits"),
        ({"number": 123456789018}, "number: Input should be a valid string"),
        ({"birth_date": "15/06/1985"}, "birth_date: .*YYYY-MM-DD"),
        ({"birth_date": "1985-02-30"}, "birth_date: "),
        ({"birth_date": "0"}, "birth_date: must be YYYY-MM-DD"),  # a Unix time to pydantic
        ({"birth_date": "19850615"}, "birth_date: must be YYYY-MM-DD"),  # ISO 8601, not ours
        ({"birth_date": "1985-W24-6"}, "birth_date: must be YYYY-MM-DD"),
        ({"sex": "3"}, "sex: "),
        ({"sex": 2}, "sex: "),
        ({"name": ""}, "name: is empty"),
        ({"name": " \u3000"}, "name: is empty"),
        ({"address": "x" * 201}, "address: String should have at most 200"),
        ({"name": "a\nb"}, "name: holds a control character"),
        ({"name_alt": "a\x7fb"}, "name_alt: holds a control character"),
        ({"prefecture": None}, "prefecture: Input should be a valid string"),
        ({"shoe_size": "27"}, "shoe_size: Extra inputs are not permitted"),
    ],
)
def test_bad_resident_input(change: dict[str, Any], why: str) -> None:
    doc = RESIDENT_DOC | change
    with pytest.raises(ResidentError, match=why):
        Resident.from_json(json.dumps(doc).encode())


@pytest.mark.parametrize(
    "name",
    ["髙橋 一郎", "山\ufa11 花子", "\ufa19田 太郎", "\u845b\U000e0100西 次郎"],
    ids=["taka", "saki", "kami-compat", "ivs"],
)
def test_a_variant_character_goes_on_the_card_as_written(name: str) -> None:
    resident = Resident.from_json(json.dumps(RESIDENT_DOC | {"name": name}).encode())
    assert resident.name == resident.facts()["name"] == name
    text = resident.card_text()
    assert decode_facts(encode_facts(text.name, text.address, text.birth_date, text.sex))[0] == name


def test_missing_fields_and_not_json() -> None:
    doc = dict(RESIDENT_DOC)
    del doc["municipality"]
    with pytest.raises(ResidentError, match="municipality: Field required"):
        Resident.from_json(json.dumps(doc).encode())
    with pytest.raises(ResidentError, match="file: Invalid JSON"):
        Resident.from_json(b"{")
    with pytest.raises(ResidentError, match="file: Input should be an object"):
        Resident.from_json(b"[]")
    assert "花子" not in repr(RESIDENT) and "花子" not in str(RESIDENT)
