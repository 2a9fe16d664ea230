"""The desk's input for one card: the resident as a JSON file, validated, pure.

    {"number": "123456789018", "name": "番号 花子", "address": "東京都千代田区…",
     "birth_date": "1985-06-15", "sex": "2", "prefecture": "Tokyo-to",
     "municipality": "Chiyoda-ku", "name_alt": "", "address_alt": ""}

``name_alt`` and ``address_alt`` (the substitute-character forms) are optional. The number
must carry a valid check digit. ``prefecture`` and ``municipality`` become the certificates'
``L=`` values; the four facts go into the signature certificate and the card-face text.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationError,
)

from card_service.card.texts import CardText
from card_service.exceptions import ResidentError
from hub.numbers import check_digits

__all__ = ["Resident"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _number(value: str) -> str:
    try:
        expected, actual = check_digits("individual_number", value)
    except ValueError:
        raise ValueError("must be 12 digits") from None
    if expected != actual:
        raise ValueError("has a wrong check digit")
    return value


def _iso_date(value: object) -> object:
    """YYYY-MM-DD and nothing else (pydantic would read "0" as a Unix time, Python 3.11's
    ``fromisoformat`` "19850615" and "1985-W24-6")."""
    if not isinstance(value, str):
        return value
    if not _DATE.fullmatch(value):
        raise ValueError("must be YYYY-MM-DD")
    return dt.date.fromisoformat(value)


def _line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("holds a control character")
    return value


def _filled(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty")
    return value


Name = Annotated[str, StringConstraints(max_length=100), AfterValidator(_line)]
Address = Annotated[str, StringConstraints(max_length=200), AfterValidator(_line)]
Place = Annotated[str, StringConstraints(max_length=64), AfterValidator(_line)]


class Resident(BaseModel):
    """One resident, kept exactly as given (a name is never normalised)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    number: Annotated[str, AfterValidator(_number)]
    name: Annotated[Name, AfterValidator(_filled)]
    address: Annotated[Address, AfterValidator(_filled)]
    birth_date: Annotated[dt.date, BeforeValidator(_iso_date)]
    sex: Literal["1", "2", "9"]
    prefecture: Annotated[Place, AfterValidator(_filled)]
    municipality: Annotated[Place, AfterValidator(_filled)]
    name_alt: Name = ""
    address_alt: Address = ""

    def __repr__(self) -> str:
        return "Resident(<personal data>)"

    __str__ = __repr__

    @classmethod
    def from_json(cls, raw: bytes) -> Resident:
        """The resident file; ``ResidentError`` names the first field that breaks a rule (never
        its value: it is personal data)."""
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "file"
            what = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]
            raise ResidentError(f"resident: {where}: {what}") from None

    def facts(self) -> dict[str, str]:
        """The four facts as the CA's HTTP API takes them (signature certificate only)."""
        return {
            "name": self.name,
            "name_alt": self.name_alt,
            "address": self.address,
            "address_alt": self.address_alt,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
        }

    def card_text(self) -> CardText:
        return CardText(
            number=self.number,
            name=self.name,
            address=self.address,
            birth_date=f"{self.birth_date:%Y%m%d}",
            sex=self.sex,
        )
