"""The four facts (基本4情報) of a resident, and their place in a signature certificate.

The signature certificate carries them as six ``otherName`` entries of subjectAltName, each a
UTF8String, under the JPKI OIDs ``1.2.392.200149.8.5.5.1``–``.6``: name, name in substitute
characters (代替文字), sex, birth date, address, address in substitute characters. The birth
date is written ``EYYYYMMDD``: the era code (1 明治 … 5 令和) then the Gregorian date. Sex is
``1`` male, ``2`` female, ``9`` not applicable, as on the card. Pure: no I/O, no logging.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from asn1crypto import core  # type: ignore[import-untyped]
from cryptography import x509

from pki.exceptions import Malformed

__all__ = [
    "FACT_OIDS",
    "Locality",
    "ResidentFacts",
    "Sex",
    "era_date",
    "facts_from_certificate",
    "facts_to_other_names",
    "parse_era_date",
]

_ARC = "1.2.392.200149.8.5.5"
FACT_OIDS = {
    "name": x509.ObjectIdentifier(f"{_ARC}.1"),
    "name_alt": x509.ObjectIdentifier(f"{_ARC}.2"),
    "sex": x509.ObjectIdentifier(f"{_ARC}.3"),
    "birth_date": x509.ObjectIdentifier(f"{_ARC}.4"),
    "address": x509.ObjectIdentifier(f"{_ARC}.5"),
    "address_alt": x509.ObjectIdentifier(f"{_ARC}.6"),
}
# (first day, era code): 明治 1, 大正 2, 昭和 3, 平成 4, 令和 5
_ERAS = (
    (dt.date(2019, 5, 1), 5),
    (dt.date(1989, 1, 8), 4),
    (dt.date(1926, 12, 25), 3),
    (dt.date(1912, 7, 30), 2),
    (dt.date(1868, 10, 23), 1),
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Sex(StrEnum):
    MALE = "1"
    FEMALE = "2"
    NOT_APPLICABLE = "9"


def _text(field: str, value: object, limit: int, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise Malformed(f"{field} must be text")
    if (not value.strip() and not empty) or len(value) > limit or _CONTROL.search(value):
        raise Malformed(f"{field} must be 1–{limit} printable characters")
    return value


def era_date(day: dt.date) -> str:
    """``EYYYYMMDD`` for a birth date; before 明治 (1868-10-23) there is no era code."""
    for start, code in _ERAS:
        if day >= start:
            return f"{code}{day:%Y%m%d}"
    raise Malformed("birth date before 1868-10-23 has no era code")


def parse_era_date(text: str) -> dt.date:
    if not re.fullmatch(r"[1-5]\d{8}", text):
        raise Malformed("birth date is not EYYYYMMDD")
    try:
        day = dt.date(int(text[1:5]), int(text[5:7]), int(text[7:9]))
    except ValueError:
        raise Malformed("birth date is not a calendar date") from None
    if era_date(day) != text:
        raise Malformed("birth date era code does not match the date")
    return day


@dataclass(frozen=True, slots=True)
class Locality:
    """Where the certificate was issued: the subject's two ``L=`` values."""

    prefecture: str
    municipality: str

    def __post_init__(self) -> None:
        _text("prefecture", self.prefecture, 64)
        _text("municipality", self.municipality, 64)


@dataclass(frozen=True, slots=True)
class ResidentFacts:
    """Name, address, birth date, sex, and the substitute-character forms. ``repr`` hides them."""

    name: str
    address: str
    birth_date: dt.date
    sex: Sex
    name_alt: str = ""
    address_alt: str = ""

    def __post_init__(self) -> None:
        _text("name", self.name, 100)
        _text("address", self.address, 200)
        _text("name_alt", self.name_alt, 100, empty=True)
        _text("address_alt", self.address_alt, 200, empty=True)
        if not isinstance(self.birth_date, dt.date) or isinstance(self.birth_date, dt.datetime):
            raise Malformed("birth_date must be a date")
        era_date(self.birth_date)
        if not isinstance(self.sex, Sex):
            raise Malformed("sex must be 1, 2 or 9")

    def __repr__(self) -> str:
        return "ResidentFacts(<personal data>)"

    def age_on(self, day: dt.date) -> int:
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


def facts_to_other_names(facts: ResidentFacts) -> list[x509.GeneralName]:
    values = {
        "name": facts.name,
        "name_alt": facts.name_alt,
        "sex": facts.sex.value,
        "birth_date": era_date(facts.birth_date),
        "address": facts.address,
        "address_alt": facts.address_alt,
    }
    return [x509.OtherName(FACT_OIDS[k], core.UTF8String(v).dump()) for k, v in values.items()]


def facts_from_certificate(cert: x509.Certificate) -> ResidentFacts | None:
    """The four facts of a signature certificate; ``None`` when it carries none."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    by_oid = {oid: field for field, oid in FACT_OIDS.items()}
    found: dict[str, str] = {}
    for other in san.get_values_for_type(x509.OtherName):
        field = by_oid.get(other.type_id)
        if field is None:
            continue
        try:
            value = core.UTF8String.load(other.value, strict=True).native
        except (ValueError, TypeError) as exc:
            raise Malformed(f"otherName {other.type_id.dotted_string} is not a UTF8String") from exc
        if field in found:
            raise Malformed(f"otherName {other.type_id.dotted_string} appears twice")
        found[field] = value
    if not found:
        return None
    missing = sorted(set(FACT_OIDS) - set(found))
    if missing:
        raise Malformed(f"signature certificate lacks {', '.join(missing)}")
    try:
        sex = Sex(found["sex"])
    except ValueError:
        raise Malformed("sex must be 1, 2 or 9") from None
    return ResidentFacts(
        name=found["name"],
        address=found["address"],
        birth_date=parse_era_date(found["birth_date"]),
        sex=sex,
        name_alt=found["name_alt"],
        address_alt=found["address_alt"],
    )
