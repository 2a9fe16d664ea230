"""What a resident does with the card: show it, read a certificate, sign, read the text.

Each function takes a :class:`CardClient` (over PC/SC or in-process) and works at the level
of the applications in JPKI-CARD.md. ``sign`` hashes with SHA-256 and sends the DER
DigestInfo; the card pads (PKCS#1 v1.5) and signs, so the signature verifies with
``openssl dgst -sha256 -verify pub.pem -signature sig.bin FILE``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509

from card_service.card.layout import (
    APPS,
    FACE_FACTS,
    FACE_INPUT,
    FACE_NUMBER,
    FACE_PIN,
    JPKI,
    JPKI_AUTH_CA,
    JPKI_AUTH_CERT,
    JPKI_AUTH_KEY,
    JPKI_AUTH_PIN,
    JPKI_SIGN_CA,
    JPKI_SIGN_CERT,
    JPKI_SIGN_KEY,
    JPKI_SIGN_PIN,
    JPKI_TOKEN,
)
from card_service.card.pins import PinRule
from card_service.card.texts import CardText, decode_facts, decode_number
from card_service.exceptions import CardError
from card_service.reader.client import CardClient

__all__ = [
    "SHA256_DIGEST_INFO",
    "CardInfo",
    "KeyKind",
    "KeySlot",
    "change_pin",
    "digest_info",
    "info",
    "read_certificate",
    "read_text",
    "sign",
]

SHA256_DIGEST_INFO = bytes.fromhex("3031300D060960864801650304020105000420")
KeyKind = Literal["auth", "sign", "face"]


@dataclass(frozen=True, slots=True)
class KeySlot:
    key: int
    pin: int
    rule: PinRule
    cert: int
    ca: int


SLOTS = {
    "auth": KeySlot(JPKI_AUTH_KEY, JPKI_AUTH_PIN, PinRule.AUTH, JPKI_AUTH_CERT, JPKI_AUTH_CA),
    "sign": KeySlot(JPKI_SIGN_KEY, JPKI_SIGN_PIN, PinRule.SIGN, JPKI_SIGN_CERT, JPKI_SIGN_CA),
}


def digest_info(data: bytes) -> bytes:
    return SHA256_DIGEST_INFO + hashlib.sha256(data).digest()


@dataclass(frozen=True, slots=True)
class CardInfo:
    reader: str
    atr: bytes
    applications: list[str]
    token: str | None
    tries: dict[str, int] = field(default_factory=dict)  # PIN label → tries left
    subjects: dict[str, str] = field(default_factory=dict)  # certificate → subject


def _subject(der: bytes) -> str:
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return "(not a certificate)"


def info(client: CardClient) -> CardInfo:
    """Everything the card shows without a PIN."""
    t = client.transport
    apps = [app.name for app in APPS.values() if client.has_app(app)]
    tries: dict[str, int] = {}
    subjects: dict[str, str] = {}
    token = None
    if JPKI.name in apps:
        client.select_app(JPKI)
        token = client.read_ef(JPKI_TOKEN, "token").rstrip(b" ").decode("ascii", "replace")
        for slot in SLOTS.values():
            tries[slot.rule.label] = client.tries_left(slot.pin)
        for label, fid in (
            ("authentication certificate", JPKI_AUTH_CERT),
            ("authentication CA", JPKI_AUTH_CA),
            ("signature CA", JPKI_SIGN_CA),
        ):
            subjects[label] = _subject(client.read_ef(fid, label))
        subjects["signature certificate"] = "(readable after the signature PIN)"
    if FACE_INPUT.name in apps:
        client.select_app(FACE_INPUT)
        tries[PinRule.FACE.label] = client.tries_left(FACE_PIN)
    return CardInfo(t.name, t.atr, apps, token, tries, subjects)


def read_certificate(client: CardClient, kind: Literal["auth", "sign"], pin: str | None) -> bytes:
    """The certificate (DER); the signature certificate needs the signature PIN."""
    slot = SLOTS[kind]
    client.select_app(JPKI)
    if kind == "sign":
        if pin is None:
            raise CardError("the signature certificate is readable only after the signature PIN")
        client.verify(slot.pin, slot.rule, pin)
    return client.read_ef(slot.cert, f"{kind} certificate")


def sign(client: CardClient, kind: Literal["auth", "sign"], pin: str, data: bytes) -> bytes:
    """RSA PKCS#1 v1.5 SHA-256 signature of ``data`` made by the card."""
    slot = SLOTS[kind]
    client.select_app(JPKI)
    client.verify(slot.pin, slot.rule, pin)
    return client.sign(slot.key, digest_info(data))


def read_text(client: CardClient, pin: str) -> CardText:
    """The number and the four facts, after the card-face input support PIN."""
    client.select_app(FACE_INPUT)
    client.verify(FACE_PIN, PinRule.FACE, pin)
    number = decode_number(client.read_ef(FACE_NUMBER, "the number"))
    name, address, birth, sex = decode_facts(client.read_ef(FACE_FACTS, "the four facts"))
    return CardText(number, name, address, birth, sex)


def change_pin(client: CardClient, kind: KeyKind, old: str, new: str) -> None:
    if kind == "face":
        client.select_app(FACE_INPUT)
        client.change_pin(FACE_PIN, PinRule.FACE, old, new)
        return
    slot = SLOTS[kind]
    client.select_app(JPKI)
    client.change_pin(slot.pin, slot.rule, old, new)
