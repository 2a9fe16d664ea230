"""The four facts (基本4情報) compared (pure): whether a record bears out what is presented.

Used wherever a person's identity is checked against a record (番号法 第16条): J-LIS against its
本人確認情報 when an office enrolls a number, the municipal card desk against the resident
register before it issues a card, an office taking a signed application against its register.
A name is compared as a name (:func:`same_name`), an address width- and space-blind, a birth
date and a sex exactly. What differs is named, never its value.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from typing import Any

from hub.wire import Fact, Facts

__all__ = ["FACT_NAMES", "mismatched", "person_key", "same_address", "same_name"]

FACT_NAMES: dict[Fact, str] = {
    "name": "氏名",
    "address": "住所",
    "birth_date": "生年月日",
    "sex": "性別",
}

# variation selectors (VS1–16, VS17–256): they choose a glyph, not a character
_SELECTORS = dict.fromkeys([*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])


def same_name(a: str, b: str) -> bool:
    """Whether two spellings are the same name, for comparison only (a name is kept, shown and
    signed as written): canonically equivalent (NFC, under which a CJK compatibility
    ideograph is its unified form, 神 U+FA19 = 神 U+795E) once variation selectors, which only
    choose a glyph (葛󠄀 = 葛), are left out. Different characters stay different: 髙 is not 高,
    﨑 (U+FA11, a unified ideograph) is not 崎."""
    return _comparable(a) == _comparable(b)


def person_key(name: str, birth_date: str, sex: str) -> str:
    """A digest of who a person is by name (as :func:`same_name` compares it), birth date and
    sex — not the address, which a move changes: J-LIS's look-up of a person it may hold
    already (a resident entering from abroad who was numbered before)."""
    text = f"{_comparable(name)}|{birth_date}|{sex}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _comparable(name: str) -> str:
    return unicodedata.normalize("NFC", name.translate(_SELECTORS))


def same_address(a: str, b: str) -> bool:
    """Whether two spellings are the same address: NFKC (full- and half-width digits alike)
    and no spaces; 一丁目 and 1丁目 stay different (the register writes one of them)."""
    return _address(a) == _address(b)


def _address(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def mismatched(presented: Facts, kept: Mapping[str, Any]) -> tuple[Fact, ...]:
    """The facts of ``presented`` that the record ``kept`` (its ``name``, ``address``,
    ``birth_date`` as an ISO date, ``sex``) does not bear out, in the order of the facts."""
    out: list[Fact] = []
    if not same_name(presented.name, str(kept.get("name", ""))):
        out.append("name")
    if not same_address(presented.address, str(kept.get("address", ""))):
        out.append("address")
    if presented.birth_date != str(kept.get("birth_date", "")):
        out.append("birth_date")
    if presented.sex != kept.get("sex"):
        out.append("sex")
    return tuple(out)
