"""What is on the card: the ATR, the applications and their elementary files (JPKI-CARD.md).

Pure data. Each EF is a transparent (binary) file, a private key or a PIN; a file or key may be
guarded by a PIN of the same application, which must be verified in the current session
before the file is read or the key used.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from card_service.card.pins import PinRule

__all__ = [
    "APPS",
    "ATR",
    "CARD_FACE",
    "FACE_FACTS",
    "FACE_INFO",
    "FACE_INPUT",
    "FACE_NUMBER",
    "FACE_PIN",
    "JPKI",
    "JPKI_AUTH_CA",
    "JPKI_AUTH_CERT",
    "JPKI_AUTH_KEY",
    "JPKI_AUTH_PIN",
    "JPKI_SIGN_CA",
    "JPKI_SIGN_CERT",
    "JPKI_SIGN_KEY",
    "JPKI_SIGN_PIN",
    "JPKI_TOKEN",
    "TOKEN",
    "App",
    "Ef",
    "EfKind",
]

ATR = bytes.fromhex("3BE000FF8131FE4514")
TOKEN = b"JPKIAPICCTOKEN2".ljust(32, b" ")

JPKI_SIGN_CERT = 0x0001
JPKI_SIGN_CA = 0x0002
JPKI_TOKEN = 0x0006
JPKI_AUTH_CERT = 0x000A
JPKI_AUTH_CA = 0x000B
JPKI_AUTH_KEY = 0x0017
JPKI_AUTH_PIN = 0x0018
JPKI_SIGN_KEY = 0x001A
JPKI_SIGN_PIN = 0x001B

FACE_NUMBER = 0x0001
FACE_FACTS = 0x0002
FACE_INFO = 0x0005
FACE_PIN = 0x0011


class EfKind(Enum):
    BINARY = "binary"
    KEY = "key"
    PIN = "pin"


@dataclass(frozen=True, slots=True)
class Ef:
    fid: int
    kind: EfKind
    guard: int | None = None  # the PIN EF that must be verified first
    rule: PinRule | None = None  # for a PIN EF

    @property
    def sfi(self) -> int | None:
        """Short EF identifier (ISO 7816-4): the low five bits of an id ``00 01``–``00 1E``."""
        return self.fid if 1 <= self.fid <= 0x1E else None


@dataclass(frozen=True, slots=True)
class App:
    name: str
    aid: bytes
    efs: dict[int, Ef]

    def by_sfi(self, sfi: int) -> Ef | None:
        return next((ef for ef in self.efs.values() if ef.sfi == sfi), None)


def _efs(*efs: Ef) -> dict[int, Ef]:
    return {ef.fid: ef for ef in efs}


JPKI = App(
    "JPKI",
    bytes.fromhex("D392F000260100000001"),
    _efs(
        Ef(JPKI_SIGN_CERT, EfKind.BINARY, guard=JPKI_SIGN_PIN),
        Ef(JPKI_SIGN_CA, EfKind.BINARY),
        Ef(JPKI_TOKEN, EfKind.BINARY),
        Ef(JPKI_AUTH_CERT, EfKind.BINARY),
        Ef(JPKI_AUTH_CA, EfKind.BINARY),
        Ef(JPKI_AUTH_KEY, EfKind.KEY, guard=JPKI_AUTH_PIN),
        Ef(JPKI_AUTH_PIN, EfKind.PIN, rule=PinRule.AUTH),
        Ef(JPKI_SIGN_KEY, EfKind.KEY, guard=JPKI_SIGN_PIN),
        Ef(JPKI_SIGN_PIN, EfKind.PIN, rule=PinRule.SIGN),
    ),
)
FACE_INPUT = App(
    "card-face input support",
    bytes.fromhex("D3921000310001010408"),
    _efs(
        Ef(FACE_NUMBER, EfKind.BINARY, guard=FACE_PIN),
        Ef(FACE_FACTS, EfKind.BINARY, guard=FACE_PIN),
        Ef(FACE_INFO, EfKind.BINARY),
        Ef(FACE_PIN, EfKind.PIN, rule=PinRule.FACE),
    ),
)
# selectable; its contents (face images, photo, signed data) are not emulated
CARD_FACE = App("card face", bytes.fromhex("D3921000310001010402"), {})

APPS: dict[bytes, App] = {app.aid: app for app in (JPKI, FACE_INPUT, CARD_FACE)}
