"""The card-face input support application's two text files, pure.

EF ``0001``: ``DF 10 0C`` + the 12 ASCII digits of the individual number.
EF ``0002``: ``FF 20 L { DF 21 offsets, DF 22 name, DF 23 address, DF 24 birth date,
DF 25 sex }``, UTF-8. The offsets item (its real contents are not public) holds here four
2-byte big-endian offsets of the DF 22–DF 25 items from the start of the ``FF 20`` value.
The birth date is ``YYYYMMDD``; sex ``1`` male, ``2`` female, ``9`` not applicable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from card_service.card import tlv
from card_service.exceptions import TlvError

__all__ = [
    "FACTS_TAG",
    "NUMBER_TAG",
    "CardText",
    "decode_facts",
    "decode_number",
    "encode_facts",
    "encode_number",
]

NUMBER_TAG = b"\xdf\x10"
FACTS_TAG = b"\xff\x20"
_OFFSETS, _NAME, _ADDRESS, _BIRTH, _SEX = (b"\xdf" + bytes((n,)) for n in range(0x21, 0x26))
_SEXES = {"1": "male", "2": "female", "9": "not applicable"}


@dataclass(frozen=True, slots=True)
class CardText:
    """What the card-face input support application gives after its PIN. ``repr`` hides it."""

    number: str
    name: str
    address: str
    birth_date: str  # YYYYMMDD
    sex: str  # 1, 2 or 9

    def __repr__(self) -> str:
        return "CardText(<personal data>)"

    @property
    def sex_text(self) -> str:
        return _SEXES.get(self.sex, self.sex)


def encode_number(number: str) -> bytes:
    if not re.fullmatch(r"[0-9]{12}", number):
        raise TlvError("the number is 12 digits")
    return tlv.encode(NUMBER_TAG, number.encode("ascii"))


def decode_number(raw: bytes) -> str:
    item, _ = tlv.decode_one(raw)
    text = item.value.decode("ascii", errors="replace")
    if item.tag != NUMBER_TAG or not re.fullmatch(r"[0-9]{12}", text):
        raise TlvError("EF 0001 does not hold DF 10 and 12 digits")
    return text


def encode_facts(name: str, address: str, birth_date: str, sex: str) -> bytes:
    parts = [
        tlv.encode(tag, value.encode("utf-8"))
        for tag, value in ((_NAME, name), (_ADDRESS, address), (_BIRTH, birth_date), (_SEX, sex))
    ]
    offset = len(tlv.encode(_OFFSETS, bytes(8)))
    table = bytearray()
    for part in parts:
        table += offset.to_bytes(2, "big")
        offset += len(part)
    return tlv.encode(FACTS_TAG, tlv.encode(_OFFSETS, bytes(table)) + b"".join(parts))


def decode_facts(raw: bytes) -> tuple[str, str, str, str]:
    """(name, address, birth date, sex) from EF 0002; trailing padding after FF 20 ignored."""
    outer, _ = tlv.decode_one(raw)
    if outer.tag != FACTS_TAG:
        raise TlvError("EF 0002 does not start with FF 20")
    items = outer.children()
    try:
        name, address, birth, sex = (
            tlv.find(items, tag).decode("utf-8") for tag in (_NAME, _ADDRESS, _BIRTH, _SEX)
        )
    except UnicodeDecodeError:
        raise TlvError("EF 0002 holds text that is not UTF-8") from None
    return name, address, birth, sex
