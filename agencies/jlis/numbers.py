"""The numbers J-LIS deals in: the strict check, a lenient classifier, and number generation.

Pure. The check digits themselves are the network's (``hub.numbers``, one home); here they are
explained to people (``classify``) and enforced with J-LIS's error codes (``validate``).

Number generation (番号法 第8条: the number is generated from the resident-record code, is
unique, and has no regularity from which the code could be inferred): see `NumberGenerator`.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from typing import Final, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agencies.jlis.exceptions import (
    BadCheckDigit,
    InvalidGeneration,
    InvalidSecret,
    MalformedNumber,
)
from hub.numbers import check_digits, individual_number, resident_record_code

__all__ = [
    "MAX_GENERATION",
    "MAX_INPUT_CHARS",
    "NumberCheck",
    "NumberGenerator",
    "NumberKind",
    "classify",
    "generate_rrc",
    "validate",
]

NumberKind = Literal["individual_number", "corporate_number", "resident_record_code"]
MAX_GENERATION: Final = 9  # generations 0–9: a number can be changed nine times
MAX_INPUT_CHARS: Final = 64  # classify() reads no more than this

_SPECS: Final[dict[NumberKind, tuple[int, str]]] = {
    "individual_number": (12, "an individual number"),
    "corporate_number": (13, "a corporate number"),
    "resident_record_code": (11, "a resident-record code"),
}
_KIND_BY_LENGTH: Final[dict[int, NumberKind]] = {n: k for k, (n, _) in _SPECS.items()}
# Hyphen look-alikes people type between groups, including the long-vowel mark ー.
_HYPHENS: Final = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff70\ufe63")

# ---- the strict check ---------------------------------------------------------------------


def validate(text: str, kind: NumberKind) -> str:
    """The strict, machine-side check: exact ASCII digits and a matching check digit."""
    length, name = _SPECS[kind]
    if len(text) != length or not text.isascii() or not text.isdigit():
        raise MalformedNumber(f"{name} is {length} ASCII digits")
    expected, actual = check_digits(kind, text)
    if expected != actual:
        raise BadCheckDigit(f"check digit should be {expected}, not {actual}")
    return text


def generate_rrc(rng: random.Random) -> str:
    """A random, valid 11-digit resident-record code (for test data and the demo)."""
    return resident_record_code(f"{rng.randrange(10**10):010d}")


# ---- classify: the lenient, human-side check ----------------------------------------------


@dataclass(frozen=True, slots=True)
class NumberCheck:
    """What `classify` found. ``digits`` (normalized) is kept out of the repr on purpose."""

    kind: NumberKind | Literal["unknown"]
    valid: bool
    reason: str
    digits: str = field(default="", repr=False)


def _normalize(text: str, offset: int) -> tuple[str, list[str]] | str:
    """(ASCII digits, notes), or the reason the text is not a number."""
    digits: list[str] = []
    widened = hyphens = spaces = 0
    for i, ch in enumerate(text):
        norm = unicodedata.normalize("NFKC", ch)
        if len(norm) == 1 and "0" <= norm <= "9":
            digits.append(norm)
            widened += norm != ch
        elif ch in _HYPHENS or norm in _HYPHENS:
            hyphens += 1
        elif norm.isspace():
            spaces += 1
        else:
            return f"only digits allowed (found {ch!r} at position {offset + i + 1})"
    notes = ["full-width digits read as ASCII"] if widened else []
    seps = [_count(n, word) for n, word in ((hyphens, "hyphen"), (spaces, "space")) if n]
    if seps:
        notes.append("separators ignored: " + ", ".join(seps))
    return "".join(digits), notes


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n > 1 else ''}"


def classify(text: str, *, expect: NumberKind | None = None) -> NumberCheck:
    """Say what ``text`` is and whether it is valid; never raises.

    Each character is NFKC-normalized (full-width ０-９ become ASCII digits); hyphens (and
    their look-alikes) and spaces between digits are allowed and reported. The kind follows
    from the digit count (11, 12, 13) unless ``expect`` names it.
    """
    if len(text) > MAX_INPUT_CHARS:
        return NumberCheck(expect or "unknown", False, f"too long: {len(text)} characters")
    stripped = text.strip()
    found = _normalize(stripped, len(text) - len(text.lstrip()))
    if isinstance(found, str):
        return NumberCheck(expect or "unknown", False, found)
    digits, notes = found
    kind = expect or _KIND_BY_LENGTH.get(len(digits))
    if not digits:
        return NumberCheck(kind or "unknown", False, "no digits given")
    if kind is None:
        reason = (
            f"{len(digits)} digits: an individual number has 12, a corporate number 13, "
            "a resident-record code 11"
        )
        return NumberCheck("unknown", False, reason)
    length, name = _SPECS[kind]
    if len(digits) != length:
        return NumberCheck(kind, False, f"{length} digits expected for {name}, got {len(digits)}")
    expected, actual = check_digits(kind, digits)
    if expected == actual:
        reason = f"check digit {actual} is correct"
        if kind == "resident_record_code":
            reason += " (modulus-11 reading, not confirmed against the official notice)"
    else:
        reason = f"check digit should be {expected}, not {actual}"
    return NumberCheck(kind, expected == actual, "; ".join([reason, *notes]), digits)


# ---- generation ---------------------------------------------------------------------------

_DOMAIN: Final = 10**11  # generation (1 digit) + resident-record code base (10 digits)
_LOW_BITS: Final = 19  # the 37-bit Feistel domain (2**37 ≈ 1.37e11) is split 18 | 19
_ROUNDS: Final = 10
_INFO: Final = b"renkei.jlis.number-permutation.v1"


class NumberGenerator:
    """Individual numbers from resident-record codes, by a keyed permutation J-LIS holds.

    ``x = generation * 10**10 + rrc_base`` (the 10 digits before the code's check digit) is
    encrypted with a format-preserving cipher: a 10-round alternating Feistel network over 37
    bits (halves of 18 and 19 bits, as in NIST FF1), whose round function is AES-256 (keyed by
    HKDF-SHA256 of the secret) of (round, half), cycle-walked until the result lies in
    ``[0, 10**11)``. The 11-digit result plus its check digit is the number.

    Why this meets 番号法 第8条 and its ordinance:

    - unique: a cipher is a permutation, and cycle walking keeps it one on ``[0, 10**11)``, so
      distinct (code, generation) pairs never share a number;
    - derived from the 住民票コード: the number is a function of the code (and generation) alone,
      and J-LIS can recompute or `resolve` it;
    - no regularity revealing the code: without the secret the mapping is indistinguishable
      from a random permutation (Luby–Rackoff, AES as the PRF), so neighbouring codes give
      unrelated numbers and a number says nothing about its code;
    - changed on leak: the next generation maps the same code to a new, unrelated number, and
      tokens, which derive from the code and never from the number, are unaffected.

    The secret is the whole of the protection: whoever holds it can map both ways.
    """

    __slots__ = ("_encrypt", "_schedule")

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise InvalidSecret("the numbering secret must be at least 16 bytes")
        key = HKDF(hashes.SHA256(), 32, salt=None, info=_INFO).derive(secret)
        # ECB over single blocks is a keyed PRF here, never a mode for data.
        self._encrypt = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update  # noqa: S305
        # Round i XORs F(i, right half) into a left half of 18 (even i) or 19 (odd i) bits.
        self._schedule = tuple(
            ((0x52454E4B << 72) | (i << 64), (1 << (18 if i % 2 == 0 else 19)) - 1)
            for i in range(_ROUNDS)
        )

    def _permute(self, x: int) -> int:
        enc, fb, schedule = self._encrypt, int.from_bytes, self._schedule
        while True:
            a, b = x >> _LOW_BITS, x & ((1 << _LOW_BITS) - 1)
            for tweak, mask in schedule:
                a, b = b, a ^ (fb(enc((tweak | b).to_bytes(16, "big")), "big") & mask)
            x = (a << _LOW_BITS) | b
            if x < _DOMAIN:
                return x

    def _unpermute(self, y: int) -> int:
        enc, fb, schedule = self._encrypt, int.from_bytes, self._schedule[::-1]
        while True:
            a, b = y >> _LOW_BITS, y & ((1 << _LOW_BITS) - 1)
            for tweak, mask in schedule:
                a, b = b ^ (fb(enc((tweak | a).to_bytes(16, "big")), "big") & mask), a
            y = (a << _LOW_BITS) | b
            if y < _DOMAIN:
                return y

    def number_for(self, rrc: str, generation: int = 0) -> str:
        """The 12-digit individual number of the holder of ``rrc`` at ``generation`` (0–9)."""
        validate(rrc, "resident_record_code")
        if not 0 <= generation <= MAX_GENERATION:
            raise InvalidGeneration(f"generation must be 0–{MAX_GENERATION}, not {generation}")
        return individual_number(f"{self._permute(generation * 10**10 + int(rrc[:10])):011d}")

    def resolve(self, number: str) -> tuple[str, int]:
        """(resident-record code, generation) behind a number; checks the check digit first."""
        validate(number, "individual_number")
        generation, base = divmod(self._unpermute(int(number[:11])), 10**10)
        return resident_record_code(f"{base:010d}"), generation
