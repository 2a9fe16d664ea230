"""Issuance at the municipal desk: a blank card becomes the resident's card.

Through the card's own APDUs (personalization commands, :mod:`card_service.card.personalize`): the
card makes both RSA-2048 key pairs and hands out only the public keys; the CA certifies them
(the authentication certificate without personal data, the signature certificate with the
four facts); the desk writes the certificates, the CA certificates and the card-face text,
sets the three PINs the resident chose and activates the card. The CA is anything with the
:class:`CertificateAuthority` shape — :class:`card_service.desk.ca_http.HttpCa` talks to ``renkei
pki serve``. The desk's holder reference is opaque (never the number): the CA refuses
anything shaped like a number.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from card_service.card.apdu import Command
from card_service.card.layout import FACE_FACTS, FACE_INPUT, FACE_NUMBER, FACE_PIN, JPKI
from card_service.card.pins import PinRule, check_pin
from card_service.card.texts import encode_facts, encode_number
from card_service.desk.resident import Resident
from card_service.exceptions import IssuanceError
from card_service.reader.client import CardClient
from card_service.reader.jpki import SLOTS

__all__ = ["CertificateAuthority", "IssuedCard", "Pins", "issue_card", "new_holder"]

_CHUNK = 255


class CertificateAuthority(Protocol):
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
        """The certificate (DER) for the public key; ``code``: the 署名利用者's 住民票コード, as
        the 市町村長's issuance application gives it (the CA revokes by it on J-LIS's notice)."""
        ...

    async def ca_certificate(self, kind: str) -> bytes:
        """The issuing CA's certificate (DER): ``signature`` or ``authentication``."""
        ...


@dataclass(frozen=True, slots=True)
class Pins:
    auth: str
    sign: str
    face: str

    def __post_init__(self) -> None:
        check_pin(PinRule.AUTH, self.auth)
        check_pin(PinRule.SIGN, self.sign)
        check_pin(PinRule.FACE, self.face)

    def __repr__(self) -> str:
        return "Pins(***)"


@dataclass(frozen=True, slots=True)
class IssuedCard:
    holder: str
    auth_subject: str
    auth_serial: int
    sign_subject: str
    sign_serial: int
    not_after: str


def new_holder() -> str:
    return f"card-{secrets.token_hex(8)}"


def _write(client: CardClient, fid: int, data: bytes) -> None:
    client.select_ef(fid)
    for offset in range(0, len(data), _CHUNK):
        chunk = data[offset : offset + _CHUNK]
        client.expect(Command(0x00, 0xD6, offset >> 8, offset & 0xFF, chunk), f"write {fid:04X}")


def _set_pin(client: CardClient, fid: int, pin: str) -> None:
    client.select_ef(fid)
    client.expect(Command(0x00, 0x2C, 0x02, 0x80, pin.encode("ascii")), f"set PIN {fid:04X}")


def _generate(client: CardClient, fid: int) -> str:
    client.select_ef(fid)
    spki = client.expect(Command.build(0x00, 0x46, 0x00, 0x00, le=65536), "generate a key")
    key = serialization.load_der_public_key(spki)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def _check(cert_der: bytes, public_pem: str, what: str) -> x509.Certificate:
    try:
        cert = x509.load_der_x509_certificate(cert_der)
    except ValueError:
        raise IssuanceError(f"the CA's {what} certificate does not parse") from None
    spki = cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if spki.decode() != public_pem:
        raise IssuanceError(f"the CA's {what} certificate is for another key")
    return cert


async def issue_card(
    client: CardClient,
    resident: Resident,
    pins: Pins,
    ca: CertificateAuthority,
    *,
    holder: str | None = None,
    code: str | None = None,
) -> IssuedCard:
    """Personalize the blank card behind ``client`` for ``resident`` and activate it;
    ``code``: the resident's 住民票コード on the register, given to the CA."""
    holder = holder or new_holder()
    client.select_app(JPKI)
    auth_pub = _generate(client, SLOTS["auth"].key)
    sign_pub = _generate(client, SLOTS["sign"].key)
    where = {
        "holder": holder,
        "prefecture": resident.prefecture,
        "municipality": resident.municipality,
    }
    auth_der = await ca.issue("authentication", auth_pub, **where, facts=None, code=code)
    auth = _check(auth_der, auth_pub, "authentication")
    sign_der = await ca.issue("signature", sign_pub, **where, facts=resident.facts(), code=code)
    sign = _check(sign_der, sign_pub, "signature")
    der = serialization.Encoding.DER
    _write(client, SLOTS["auth"].cert, auth.public_bytes(der))
    _write(client, SLOTS["sign"].cert, sign.public_bytes(der))
    _write(client, SLOTS["auth"].ca, await ca.ca_certificate("authentication"))
    _write(client, SLOTS["sign"].ca, await ca.ca_certificate("signature"))
    _set_pin(client, SLOTS["auth"].pin, pins.auth)
    _set_pin(client, SLOTS["sign"].pin, pins.sign)

    client.select_app(FACE_INPUT)
    text = resident.card_text()
    _write(client, FACE_NUMBER, encode_number(text.number))
    _write(client, FACE_FACTS, encode_facts(text.name, text.address, text.birth_date, text.sex))
    _set_pin(client, FACE_PIN, pins.face)
    client.expect(Command(0x00, 0x44, 0x00, 0x00), "activate the card")
    return IssuedCard(
        holder=holder,
        auth_subject=auth.subject.rfc4514_string(),
        auth_serial=auth.serial_number,
        sign_subject=sign.subject.rfc4514_string(),
        sign_serial=sign.serial_number,
        not_after=sign.not_valid_after_utc.isoformat(),
    )
