"""Check digits of the numbers the network deals in: pure functions, their one home.

(``JPKI-CARD.md`` "Check digits", ``FACTS.md`` §4.3.)

- individual number (個人番号): 12 digits, the LAST is the check digit, modulus 11 over the
  11-digit base with weights 2,3,4,5,6,7,2,3,4,5,6 counting from the right; ``11 - r``, and 0
  when the remainder r is 0 or 1.
- corporate number (法人番号): 13 digits, the FIRST is the check digit, ``9 - (Σ Pn·Qn mod 9)``
  over the 12-digit base with Qn = 1 for odd n and 2 for even n counting from the right.
- resident-record code (住民票コード): 11 digits = 10 + check digit, the same modulus-11 form
  over 10 digits (weights 2,3,4,5,6,7,2,3,4,5 from the right). NOT CONFIRMED against the
  official notice: it is the best available reading, and every code the network makes or
  accepts follows it, so the system is consistent with itself whatever the notice says.
- municipal code (全国地方公共団体コード): 6 digits = 5 + check digit, ``r = Σ (6,5,4,3,2)·d mod
  11`` and the check digit ``(11 - r) mod 10``.

A base or a number is exactly its count of ASCII digits: a ``*_check_digit`` function raises
``ValueError`` for anything else, ``is_valid`` says False. Reading what a person typed
(full-width digits, hyphens) is the caller's business before it comes here.
"""

from __future__ import annotations

from operator import mul
from typing import Final, Literal

__all__ = [
    "LENGTHS",
    "NumberKind",
    "check_digits",
    "corporate_check_digit",
    "corporate_number",
    "individual_check_digit",
    "individual_number",
    "is_valid",
    "municipal_check_digit",
    "resident_record_code",
    "rrc_check_digit",
]

NumberKind = Literal[
    "individual_number", "corporate_number", "resident_record_code", "municipal_code"
]
LENGTHS: Final[dict[NumberKind, int]] = {
    "individual_number": 12,
    "corporate_number": 13,
    "resident_record_code": 11,
    "municipal_code": 6,
}
_MOD11_WEIGHTS: Final = (2, 3, 4, 5, 6, 7, 2, 3, 4, 5, 6)  # Qn for n = 1, 2, ... from the right
_MOD9_WEIGHTS: Final = (1, 2) * 6
_MUNICIPAL_WEIGHTS: Final = (2, 3, 4, 5, 6)  # from the right: 6,5,4,3,2 from the left


def _weighted(base: str, n: int, weights: tuple[int, ...]) -> int:
    """Σ digit·weight, digits from the right (ASCII bytes, less 48 per weight used: fast)."""
    if len(base) != n or not base.isascii() or not base.isdigit():
        raise ValueError(f"a base of {n} ASCII digits expected")
    raw = base.encode("ascii")
    total: int = sum(map(mul, reversed(raw), weights))
    return total - 48 * sum(weights[:n])


def _mod11(base: str, n: int) -> int:
    r = _weighted(base, n, _MOD11_WEIGHTS) % 11
    return 0 if r <= 1 else 11 - r


def individual_check_digit(base: str) -> int:
    """The check digit of an individual number from its first 11 digits."""
    return _mod11(base, 11)


def rrc_check_digit(base: str) -> int:
    """The check digit of a resident-record code from its first 10 digits (unconfirmed form)."""
    return _mod11(base, 10)


def corporate_check_digit(base: str) -> int:
    """The check digit of a corporate number from its last 12 digits."""
    return 9 - _weighted(base, 12, _MOD9_WEIGHTS) % 9


def municipal_check_digit(base: str) -> int:
    """The check digit of a municipal code from its first five digits (千代田区 13101 → 6)."""
    return (11 - _weighted(base, 5, _MUNICIPAL_WEIGHTS) % 11) % 10


def individual_number(base: str) -> str:
    return base + str(individual_check_digit(base))


def resident_record_code(base: str) -> str:
    return base + str(rrc_check_digit(base))


def corporate_number(base: str) -> str:
    """The 13-digit corporate number: the check digit goes FIRST."""
    return str(corporate_check_digit(base)) + base


def check_digits(kind: NumberKind, number: str) -> tuple[int, int]:
    """(expected, actual) check digit of a number of ``kind``; ``ValueError`` unless it is
    exactly its count of ASCII digits."""
    n = LENGTHS[kind]
    if len(number) != n or not number.isascii() or not number.isdigit():
        raise ValueError(f"{n} ASCII digits expected")
    if kind == "corporate_number":
        return corporate_check_digit(number[1:]), int(number[0])
    digit = {
        "individual_number": individual_check_digit,
        "resident_record_code": rrc_check_digit,
        "municipal_code": municipal_check_digit,
    }[kind]
    return digit(number[:-1]), int(number[-1])


def is_valid(kind: NumberKind, number: str) -> bool:
    """``number`` is exactly a number of ``kind``: its count of ASCII digits, its check digit."""
    try:
        expected, actual = check_digits(kind, number)
    except ValueError:
        return False
    return expected == actual
