"""Errors of J-LIS numbering: one root, each class with a stable wire code; and the codes of
J-LIS's answers as an office."""

from __future__ import annotations

from typing import ClassVar, Final

__all__ = [
    "JLIS_ALREADY_NUMBERED",
    "JLIS_CODE_IN_USE",
    "JLIS_DECEASED",
    "JLIS_MALFORMED_ENROLLMENT",
    "JLIS_NOT_THE_MUNICIPALITY",
    "JLIS_NO_FACTS",
    "JLIS_NUMBERS_EXHAUSTED",
    "JLIS_NUMBER_CHANGED",
    "JLIS_UNKNOWN_RESIDENT",
    "BadCheckDigit",
    "InvalidGeneration",
    "InvalidSecret",
    "MalformedNumber",
    "NumberError",
]


class NumberError(Exception):
    """Root of every error raised by ``agencies.jlis.numbers``."""

    code: ClassVar[str] = "jlis.number_error"


class MalformedNumber(NumberError, ValueError):
    """Not the right count of ASCII digits for the kind of number expected."""

    code: ClassVar[str] = "jlis.malformed_number"


class BadCheckDigit(NumberError, ValueError):
    """The digits are well formed but the check digit does not match the others."""

    code: ClassVar[str] = "jlis.bad_check_digit"


class InvalidGeneration(NumberError, ValueError):
    """A number generation outside 0–9 (a resident's number can be changed at most nine times)."""

    code: ClassVar[str] = "jlis.invalid_generation"


class InvalidSecret(NumberError, ValueError):
    """The numbering secret is too short to key the permutation."""

    code: ClassVar[str] = "jlis.invalid_secret"


# J-LIS's answers as an office (``registry.py``)
JLIS_UNKNOWN_RESIDENT: Final = "jlis.unknown_resident"
JLIS_NUMBER_CHANGED: Final = "jlis.number_changed"  # a replaced number was presented
JLIS_MALFORMED_ENROLLMENT: Final = "jlis.malformed_enrollment"  # not a number and four facts
JLIS_NO_FACTS: Final = "jlis.no_facts"  # J-LIS keeps no 本人確認情報 to check the facts against
JLIS_DECEASED: Final = "jlis.deceased"  # the 住民票 was removed by a death
JLIS_NOT_THE_MUNICIPALITY: Final = "jlis.not_the_municipality"  # noted by another municipality
JLIS_ALREADY_NUMBERED: Final = "jlis.already_numbered"  # an entry J-LIS holds a number for
JLIS_CODE_IN_USE: Final = "jlis.code_in_use"  # a birth's 住民票コード is someone's already
JLIS_NUMBERS_EXHAUSTED: Final = "jlis.numbers_exhausted"  # changed nine times: no generation left
