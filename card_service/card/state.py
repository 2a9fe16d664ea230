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
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from card_service.card.layout import APPS, FACE_INFO, FACE_INPUT, JPKI, JPKI_TOKEN, TOKEN
from card_service.exceptions import StateFileError

__all__ = ["FORMAT", "AppData", "CardState", "PinRecord"]

FORMAT = 1
FACE_INFO_VALUE = bytes.fromhex("DF5102") + b"01"  # application info: a version, loose


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise TypeError("expected base64 text")
    return base64.b64decode(text, validate=True)


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
            doc = json.loads(raw)
            fmt = doc["format"]
        except (ValueError, KeyError, TypeError):
            raise StateFileError("card state is malformed") from None
        if fmt != FORMAT:
            raise StateFileError(f"card state format {fmt} is not {FORMAT}")
        try:
            state = cls._from_doc(doc)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateFileError(f"card state is malformed ({type(exc).__name__})") from None
        if set(state.apps) != set(APPS):
            raise StateFileError("card state does not hold the card's applications")
        return state

    @classmethod
    def _from_doc(cls, doc: dict[str, Any]) -> CardState:
        apps = {}
        for aid_hex, app in doc["apps"].items():
            apps[bytes.fromhex(aid_hex)] = AppData(
                files={int(k, 16): _unb64(v) for k, v in app["files"].items()},
                keys={int(k, 16): _unb64(v) for k, v in app["keys"].items()},
                pins={
                    int(k, 16): PinRecord(_unb64(s), _unb64(d), int(t))
                    for k, (s, d, t) in app["pins"].items()
                },
            )
        return cls(str(doc["serial"]), apps, bool(doc["operational"]))
