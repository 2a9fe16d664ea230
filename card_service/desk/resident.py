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
import json
import re
from dataclasses import dataclass
from typing import Any

from card_service.card.texts import CardText
from card_service.exceptions import ResidentError
from hub.numbers import is_valid

__all__ = ["Resident"]

_FIELDS = {"number", "name", "address", "birth_date", "sex", "prefecture", "municipality"}
_OPTIONAL = {"name_alt", "address_alt"}
_LIMITS = {
    "name": 100,
    "address": 200,
    "prefecture": 64,
    "municipality": 64,
    "name_alt": 100,
    "address_alt": 200,
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Resident:
    number: str
    name: str
    address: str
    birth_date: dt.date
    sex: str
    prefecture: str
    municipality: str
    name_alt: str = ""
    address_alt: str = ""

    def __repr__(self) -> str:
        return "Resident(<personal data>)"

    @classmethod
    def from_json(cls, raw: bytes) -> Resident:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ResidentError("the resident file is not JSON") from None
        if not isinstance(doc, dict):
            raise ResidentError("the resident file must hold one JSON object")
        missing = sorted(_FIELDS - set(doc))
        extra = sorted(set(doc) - _FIELDS - _OPTIONAL)
        if missing or extra:
            raise ResidentError(f"resident: missing {missing or '-'}, unknown {extra or '-'}")
        return cls.checked(doc)

    @classmethod
    def checked(cls, doc: dict[str, Any]) -> Resident:
        for field, limit in _LIMITS.items():
            value = doc.get(field, "")
            if not isinstance(value, str) or len(value) > limit or _CONTROL.search(value):
                raise ResidentError(f"resident: {field} must be text of at most {limit} characters")
            if field in _FIELDS and not value.strip():
                raise ResidentError(f"resident: {field} is empty")
        number = doc["number"]
        if not isinstance(number, str) or not re.fullmatch(r"[0-9]{12}", number):
            raise ResidentError("resident: number must be 12 digits")
        if not is_valid("individual_number", number):
            raise ResidentError("resident: number has a wrong check digit")
        try:
            birth = dt.date.fromisoformat(doc["birth_date"])
        except (TypeError, ValueError):
            raise ResidentError("resident: birth_date must be YYYY-MM-DD") from None
        if doc["sex"] not in ("1", "2", "9"):
            raise ResidentError('resident: sex must be "1", "2" or "9"')
        return cls(
            number=number,
            name=doc["name"],
            address=doc["address"],
            birth_date=birth,
            sex=doc["sex"],
            prefecture=doc["prefecture"],
            municipality=doc["municipality"],
            name_alt=doc.get("name_alt", ""),
            address_alt=doc.get("address_alt", ""),
        )

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
