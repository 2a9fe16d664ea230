"""The card's persistent state — files, keys, PIN records and counters — as a pure value.

``CardState.blank()`` is a card as it leaves the factory: the applications exist, the token
and the application information are written, no key, certificate or PIN yet, lifecycle
"personalization". Issuance fills it through APDUs and activates it. The state serializes to
JSON bytes; :mod:`card_service.card.store` encrypts them. PINs are kept as salted SHA-256 digests
(a 4-digit PIN is no secret against a digest: the encryption of the file is what protects it;
the digest keeps PINs out of memory dumps and ``repr``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from card_service.card.layout import APPS, FACE_INFO, FACE_INPUT, JPKI, JPKI_TOKEN, TOKEN
from card_service.exceptions import StateFileError

__all__ = ["FORMAT", "AppData", "CardState", "PinRecord"]

FORMAT = 1
FACE_INFO_VALUE = bytes.fromhex("DF5102") + b"01"  # application info: a version, loose


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: object) -> object:
    if not isinstance(text, str):
        return text  # refused as not bytes
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None


# ---- the state file's document, as it is read back --------------------------------------

_B64 = Annotated[bytes, BeforeValidator(_unb64)]
_Id = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{4}$")]  # a file's or PIN's EF
_Aid = Annotated[str, StringConstraints(pattern=r"^(?:[0-9a-f]{2}){5,16}$")]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _AppDoc(_Doc):
    files: dict[_Id, _B64]
    keys: dict[_Id, _B64]
    # salt, SHA-256 digest, tries left (a status word says 0–15: 63 Cx)
    pins: dict[_Id, tuple[_B64, _B64, Annotated[int, Field(ge=0, le=15)]]]


class _StateDoc(_Doc):
    format: Literal[1]  # FORMAT
    serial: Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{16}$")]
    operational: bool
    apps: dict[_Aid, _AppDoc]


@dataclass(slots=True)
class PinRecord:
    salt: bytes
    digest: bytes
    tries_left: int

    @staticmethod
    def _hash(salt: bytes, pin: bytes) -> bytes:
        return hashlib.sha256(salt + pin).digest()

    @classmethod
    def new(cls, pin: bytes, tries: int) -> PinRecord:
        salt = secrets.token_bytes(16)
        return cls(salt, cls._hash(salt, pin), tries)

    def matches(self, pin: bytes) -> bool:
        return hmac.compare_digest(self._hash(self.salt, pin), self.digest)

    def __repr__(self) -> str:
        return f"PinRecord(tries_left={self.tries_left})"


@dataclass(slots=True)
class AppData:
    files: dict[int, bytes] = field(default_factory=dict)
    keys: dict[int, bytes] = field(default_factory=dict)  # PKCS#8 DER, never leaves the card
    pins: dict[int, PinRecord] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"AppData(files={sorted(self.files)}, keys={sorted(self.keys)})"


@dataclass(slots=True)
class CardState:
    serial: str
    apps: dict[bytes, AppData]
    operational: bool = False

    @classmethod
    def blank(cls) -> CardState:
        apps = {aid: AppData() for aid in APPS}
        apps[JPKI.aid].files[JPKI_TOKEN] = TOKEN
        apps[FACE_INPUT.aid].files[FACE_INFO] = FACE_INFO_VALUE
        return cls(serial=secrets.token_hex(8).upper(), apps=apps)

    def to_bytes(self) -> bytes:
        doc = {
            "format": FORMAT,
            "serial": self.serial,
            "operational": self.operational,
            "apps": {
                aid.hex(): {
                    "files": {f"{k:04x}": _b64(v) for k, v in app.files.items()},
                    "keys": {f"{k:04x}": _b64(v) for k, v in app.keys.items()},
                    "pins": {
                        f"{k:04x}": [_b64(p.salt), _b64(p.digest), p.tries_left]
                        for k, p in app.pins.items()
                    },
                }
                for aid, app in self.apps.items()
            },
        }
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> CardState:
        try:
            doc = _StateDoc.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "file"
            raise StateFileError(f"card state is malformed ({where}: {first['msg']})") from None
        apps = {
            bytes.fromhex(aid): AppData(
                files={int(k, 16): v for k, v in app.files.items()},
                keys={int(k, 16): v for k, v in app.keys.items()},
                pins={int(k, 16): PinRecord(*pin) for k, pin in app.pins.items()},
            )
            for aid, app in doc.apps.items()
        }
        if set(apps) != set(APPS):
            raise StateFileError("card state does not hold the card's applications")
        return cls(doc.serial, apps, doc.operational)
