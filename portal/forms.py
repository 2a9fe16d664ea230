"""The application forms: their fields, validation, and the document the card signs.

Validation is strict and says what is wrong in Japanese and English, per field: required
fields, length limits, no control, format, private-use, unassigned or surrogate characters
(the last is how undecodable bytes arrive, see ``portal.web.read_form``), dates as YYYY-MM-DD,
digits as digits (full-width digits are accepted and normalised, as residents type them).
Text is kept exactly as typed, never normalised: NFC would turn a CJK compatibility ideograph
into its unified form (神 U+FA19 into 神 U+795E), so that a name signed and filed would no
longer be the one the resident wrote or the register holds. Variation sequences (葛󠄀, U+845B
U+E0100) and variant characters (髙, 﨑) are kept too.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from hub.numbers import is_valid
from portal.model import APPLICATIONS, ApplicationKind

__all__ = [
    "FIELDS",
    "Field",
    "build_document",
    "is_kind",
    "parse_date",
    "summary",
    "validate",
]

FieldType = Literal["text", "date", "municipality", "year", "yen"]
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DIGITS = re.compile(r"^[0-9]+$")
MAX_YEN = 10**12


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    ja: str
    en: str
    type: FieldType = "text"
    max_len: int = 200
    hint: str = ""

    @property
    def label(self) -> str:
        return f"{self.ja} ({self.en})"

    @property
    def input_type(self) -> str:
        return "date" if self.type == "date" else "text"

    def shown(self, value: str) -> str:
        """The value as the resident reads it: yen with thousands separators (the document
        signed keeps the digits)."""
        if self.type == "yen" and _DIGITS.match(value):
            return f"{int(value):,}円"
        return value

    @property
    def inputmode(self) -> str:
        return "numeric" if self.type in ("municipality", "year", "yen") else ""


FIELDS: dict[ApplicationKind, tuple[Field, ...]] = {
    "moving": (
        Field("to_address", "転居先住所", "new address", max_len=200),
        Field(
            "to_municipality",
            "転居先の市区町村コード",
            "municipal code, 6 digits",
            "municipality",
            6,
            "例 131041 (新宿区)",
        ),
        Field("moving_date", "転居予定日", "moving date", "date", 10, "YYYY-MM-DD"),
    ),
    "child_allowance": (
        Field("child_name", "児童の氏名", "child's name", max_len=60),
        Field("child_birth_date", "児童の生年月日", "child's birth date", "date", 10, "YYYY-MM-DD"),
        Field(
            "bank_account", "振込先口座", "bank account", max_len=40, hint="銀行・支店・口座番号"
        ),
    ),
    "tax_return": (
        Field("fiscal_year", "対象年分", "tax year", "year", 4, "例 2024"),
        Field("income", "所得金額(円)", "income, yen", "yen", 13),
        Field("deductions", "所得控除の合計(円)", "deductions, yen", "yen", 13),
    ),
}


def is_kind(kind: str) -> bool:
    return kind in FIELDS


def parse_date(text: str) -> dt.date:
    """YYYY-MM-DD and a real date, else ``ValueError``."""
    if not _DATE.match(text):
        raise ValueError(text)
    return dt.date.fromisoformat(text)


def _bad_char(text: str) -> bool:
    return any(unicodedata.category(ch) in _BAD_CATEGORIES for ch in text)


def _date_error(f: Field, value: str, today: dt.date) -> str:
    try:
        day = parse_date(value)
    except ValueError:
        return "日付は YYYY-MM-DD で入力してください (a date as YYYY-MM-DD)"
    if f.name == "moving_date" and abs((day - today).days) > 366:
        return "転居日は前後1年以内にしてください (within a year of today)"
    if f.name == "child_birth_date" and not (today.year - 19 <= day.year and day <= today):
        return "児童の生年月日が範囲外です (not a child's birth date)"
    return ""


def _check(f: Field, value: str, today: dt.date) -> str:
    """An error message for the field, or "" when the (normalised) value is good."""
    if f.type == "date":
        return _date_error(f, value, today)
    if f.type == "municipality" and not is_valid("municipal_code", value):
        return "6桁の市区町村コードを入力してください (a 6-digit municipal code)"
    if f.type == "year" and not (
        _DIGITS.match(value) and len(value) == 4 and 2000 <= int(value) <= today.year
    ):
        return f"2000〜{today.year}の西暦4桁で入力してください (a 4-digit year)"
    if f.type == "yen" and not (_DIGITS.match(value) and int(value) <= MAX_YEN):
        return "0以上1兆以下の整数(円)で入力してください (whole yen, 0 to 10^12)"
    return ""


def validate(
    kind: ApplicationKind, raw: Mapping[str, str], today: dt.date
) -> tuple[dict[str, str], dict[str, str]]:
    """(clean form, errors by field name); the form is good when there are no errors."""
    clean: dict[str, str] = {}
    errors: dict[str, str] = {}
    for f in FIELDS[kind]:
        value = raw.get(f.name, "")
        if _bad_char(value):
            clean[f.name] = ""
            errors[f.name] = "使用できない文字が含まれています (control or invalid characters)"
            continue
        if f.type != "text":  # dates and numbers: full-width digits become ASCII
            value = unicodedata.normalize("NFKC", value)
        value = value.strip()
        clean[f.name] = value
        if len(value) > f.max_len:
            clean[f.name] = value[: f.max_len]
            errors[f.name] = (
                f"{f.max_len}文字以内で入力してください (at most {f.max_len} characters)"
            )
        elif not value:
            errors[f.name] = "入力してください (required)"
        elif message := _check(f, value, today):
            errors[f.name] = message
        elif f.type == "yen":
            clean[f.name] = str(int(value))  # no leading zeros in what is signed
    return clean, errors


def build_document(
    kind: ApplicationKind, form: Mapping[str, str], application_id: UUID, at: dt.datetime
) -> bytes:
    """The canonical bytes the card signs: UTF-8 JSON, sorted keys, no spaces."""
    doc = {
        "kind": kind,
        "application_id": str(application_id),
        "form": dict(form),
        "submitted_at": at.isoformat(),
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def summary(kind: ApplicationKind, form: Mapping[str, str]) -> str:
    """What the bridge shows the resident before the signature PIN: one line per field."""
    lines = [f"申請 (application): {APPLICATIONS[kind]}"]
    lines += [f"{f.label}: {f.shown(form.get(f.name, ''))}" for f in FIELDS[kind]]
    return "\n".join(lines)
