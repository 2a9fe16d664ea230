"""Finding corporations: by exact corporate number, or by a piece of the name or its reading.

Queries are normalized the way people type them: NFKC (full-width letters and digits, half-
width katakana, ㈱ → (株)), case-folded, katakana read as hiragana (so カブ, かぶ and ｶﾌﾞ meet),
spaces, middle dots and invisible format characters dropped, and (株), (有) … expanded. A kind
in the query (株式会社, 一般社団法人 …) must be the corporation's kind; the rest of the query must
appear in the name or the reading. A query of digits (hyphens and spaces allowed, an invoice
number's leading T too) is a corporate number: it must have 13 digits and a valid check digit.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from agencies.corporations.exceptions import BadCorporateNumber, InvalidQuery
from agencies.corporations.model import ABBREVIATIONS, KINDS, Corporation
from agencies.jlis.numbers import classify

__all__ = ["MAX_QUERY_CHARS", "Found", "Index", "normalize"]

MAX_QUERY_CHARS: Final = 100
_DROP: Final = frozenset(" \u3000・･·.,，、。")
_KATA_TO_HIRA: Final = {c: c - 0x60 for c in range(ord("ァ"), ord("ヶ") + 1)}
_NUMBER_SEPARATORS: Final = frozenset("-‐‑‒–—―−ー ")


def _check(text: str) -> str:
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"too long: {len(text)} characters (at most {MAX_QUERY_CHARS})")
    for i, ch in enumerate(text, start=1):
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Co", "Cn"):
            raise InvalidQuery(f"character {i} ({ord(ch):#06x}) cannot be part of a name")
    return text


def normalize(text: str) -> str:
    """The comparable form of a name, reading or query (see the module's docstring)."""
    folded = unicodedata.normalize("NFKC", text)
    for short, long in ABBREVIATIONS.items():
        folded = folded.replace(short, long)
    folded = folded.casefold().translate(_KATA_TO_HIRA)
    return "".join(
        ch
        for ch in folded
        if ch not in _DROP and not ch.isspace() and unicodedata.category(ch) != "Cf"
    )


def _as_number(text: str) -> str | None:
    """The digits, if the query is meant as a number (digits and separators, maybe a T)."""
    folded = unicodedata.normalize("NFKC", text).strip()
    if folded[:1] in ("T", "t") and folded[1:2].isdigit():
        folded = folded[1:]
    rest = [ch for ch in folded if ch not in _NUMBER_SEPARATORS]
    if rest and all("0" <= ch <= "9" for ch in rest):
        return folded
    return None


@dataclass(frozen=True, slots=True)
class Found:
    query: str  # what was searched for, normalized (or the number)
    by: str  # "number" or "name"
    total: int
    corporations: tuple[Corporation, ...]  # the first ``limit`` matches


class Index:
    """The registry in memory, searchable; built once from the corporations."""

    def __init__(self, corporations: Iterable[Corporation]) -> None:
        self._all = tuple(sorted(corporations, key=lambda c: c.number))
        self._by_number = {c.number: c for c in self._all}
        if len(self._by_number) != len(self._all):
            raise ValueError("two corporations share a number")
        self._keys = [
            (normalize(_core(c)), normalize(c.kana), normalize(c.kind), c) for c in self._all
        ]

    def __len__(self) -> int:
        return len(self._all)

    def find(self, query: str, *, limit: int = 20) -> Found:
        """By number if the query is digits, else by name or reading; at most ``limit`` shown."""
        if not 1 <= limit <= 10_000:
            raise InvalidQuery(f"the limit is 1–10000, not {limit}")
        text = _check(query)
        digits = _as_number(text)
        if digits is not None:
            check = classify(digits, expect="corporate_number")
            if not check.valid:
                raise BadCorporateNumber(f"not a corporate number: {check.reason}")
            hit = self._by_number.get(check.digits)
            return Found(check.digits, "number", int(hit is not None), (hit,) if hit else ())
        wanted = normalize(text)
        kinds = [normalize(k) for k in KINDS if normalize(k) in wanted]
        core = wanted
        for kind in kinds:
            core = core.replace(kind, "")
        if not wanted:
            raise InvalidQuery("nothing to search for: give a name, a reading or a number")
        hits = [
            c
            for name, kana, kind, c in self._keys
            if all(k == kind for k in kinds) and (not core or core in name or core in kana)
        ]
        return Found(wanted, "name", len(hits), tuple(hits[:limit]))


def _core(c: Corporation) -> str:
    """The name without its kind (株式会社佐藤商事 → 佐藤商事)."""
    return c.name.replace(c.kind, "", 1) if c.kind in c.name else c.name
