"""The HTTP API's JSON bodies: strict pydantic models, and their translation to the core's types.

Every body is ``extra="forbid"``; an error names the first offending field and never echoes
the value (it may be personal data).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from pki.ca.revocation import EventKind, RequestReason, ResidentEvent
from pki.exceptions import Malformed, PolicyRefused
from pki.facts import Locality, ResidentFacts, Sex

__all__ = [
    "EventIn",
    "FactsIn",
    "IssueIn",
    "RevokeIn",
    "VerifierIn",
    "first_problem",
    "load_public_key",
    "parse_body",
    "parse_serial",
]

M = TypeVar("M", bound=BaseModel)
Text = Annotated[str, Field(max_length=400)]
Role = Literal["signature", "authentication"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FactsIn(_Strict):
    name: Text
    name_alt: Text = ""
    address: Text
    address_alt: Text = ""
    birth_date: dt.date
    sex: Literal["1", "2", "9"]

    def to_facts(self) -> ResidentFacts:
        return ResidentFacts(
            name=self.name,
            address=self.address,
            birth_date=self.birth_date,
            sex=Sex(self.sex),
            name_alt=self.name_alt,
            address_alt=self.address_alt,
        )


class IssueIn(_Strict):
    kind: Literal["signature", "authentication"]
    public_key: Annotated[str, Field(max_length=8000)]  # PEM SubjectPublicKeyInfo
    holder: Text
    prefecture: Text
    municipality: Text
    facts: FactsIn | None = None
    code: Annotated[str, Field(pattern=r"^[0-9]{11}$")] | None = None  # the 住民票コード

    def locality(self) -> Locality:
        return Locality(self.prefecture, self.municipality)


class EventIn(_Strict):
    kind: EventKind
    holder: Text
    at: AwareDatetime

    def to_event(self) -> ResidentEvent:
        return ResidentEvent(self.kind, self.holder, self.at)


class RevokeIn(_Strict):
    ca: Literal["signature", "authentication"]
    serial: Annotated[str, Field(max_length=64)]
    reason: RequestReason


class VerifierIn(_Strict):
    name: Text
    kind: Literal["public", "private"]
    roles: Annotated[
        list[Literal["signature", "authentication"]], Field(min_length=1, max_length=2)
    ]
    licence: Annotated[str, Field(max_length=64)] | None = None


def parse_body(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise Malformed(first_problem(exc)) from None


def first_problem(exc: ValidationError, whole: str = "body") -> str:
    """``where: what`` of the first error, without the value (it may be personal data);
    ``whole`` names the place of an error about the whole model."""
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or whole
    what = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]
    return f"{where}: {what}"


def parse_serial(text: str) -> int:
    cleaned = text.replace(":", "").lower()
    if not cleaned or len(cleaned) > 40 or any(c not in "0123456789abcdef" for c in cleaned):
        raise Malformed("serial must be 1–40 hex digits")
    return int(cleaned, 16)


def load_public_key(pem: str) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise Malformed(f"public_key is not a PEM public key ({type(exc).__name__})") from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise PolicyRefused("the public key must be RSA or ECDSA")
    return key
