"""Shared material for the PKI tests: one hierarchy per session, residents, keys, a clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pki import (
    CaName,
    CertificationAuthority,
    CertKind,
    Endpoints,
    Hierarchy,
    Issued,
    Locality,
    ResidentFacts,
    Sex,
)

HIERARCHY = Hierarchy.generate(dt.datetime.now(dt.UTC))
CHIYODA = Locality("Tokyo-to", "Chiyoda-ku")
TARO = ResidentFacts(
    name="番号 太郎",
    address="東京都千代田区永田町一丁目7番1号",
    birth_date=dt.date(1975, 4, 1),
    sex=Sex.MALE,
    name_alt="番号　太郎",
)
HANAKO = ResidentFacts(
    name="個人 花子",
    address="東京都千代田区霞が関2-1-2",
    birth_date=dt.date(1990, 2, 28),
    sex=Sex.FEMALE,
)
_EC_KEYS = [ec.generate_private_key(ec.SECP256R1()) for _ in range(4)]
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key(i: int = 0) -> ec.EllipticCurvePrivateKey:
    return _EC_KEYS[i % len(_EC_KEYS)]


@dataclass
class Clock:
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now

    def shift(self, **delta: float) -> None:
        self.now = self.now + dt.timedelta(**delta)


def make_ca(clock: Clock | None = None, hierarchy: Hierarchy = HIERARCHY) -> CertificationAuthority:
    return CertificationAuthority(
        hierarchy,
        holder_key=b"k" * 32,
        endpoints=Endpoints("http://127.0.0.1:9"),
        clock=clock or Clock(),
    )


def issue_pair(
    ca: CertificationAuthority,
    holder: str = "card-1",
    facts: ResidentFacts = TARO,
    key_index: int = 0,
) -> tuple[Issued, Issued]:
    key = ec_key(key_index).public_key()
    sig = ca.issue(CertKind.SIGNATURE, key, holder, CHIYODA, facts)
    auth = ca.issue(CertKind.AUTHENTICATION, ec_key(key_index + 1).public_key(), holder, CHIYODA)
    return sig, auth


def chain_pem(h: Hierarchy = HIERARCHY) -> bytes:
    return h.chain_pem()


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


__all__ = [
    "CHIYODA",
    "HANAKO",
    "HIERARCHY",
    "RSA_KEY",
    "TARO",
    "CaName",
    "Clock",
    "chain_pem",
    "ec_key",
    "issue_pair",
    "make_ca",
    "pem",
]
