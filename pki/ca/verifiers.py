"""The verifier registry (署名検証者 / 利用者証明検証者).

A verifier is a public body or a licensed private business (a private one must give the number
of its licence, 主務大臣認定). Each is registered for one or both roles: ``signature`` (checks
residents' signatures: may ask about signature certificates) and ``authentication`` (checks
logins: may ask about authentication certificates).

What registration buys, concretely: the CRLs and CA certificates are public, but the OCSP
responder — per-certificate, real-time status — answers only registered verifiers, and only
about the CA of their role. A request carries ``Authorization: Bearer <verifier id>.<secret>``
(the API key, shown once at registration; the registry keeps only its SHA-256); anything else
gets the OCSP ``unauthorized`` status. Run behind TLS in production: the key is a bearer secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_serializer,
    model_validator,
)

from pki.ca.api import first_problem
from pki.ca.keystore import read_secret, write_private
from pki.exceptions import Malformed, NotOnFile, StateError, Unauthorized
from pki.profiles import CertKind

__all__ = ["Verifier", "VerifierKind", "VerifierRegistry"]

_KEY = re.compile(r"(v-[0-9a-f]{12})\.([A-Za-z0-9_-]{20,100})")


class VerifierKind(StrEnum):
    PUBLIC = "public"  # 国の機関・地方公共団体等
    PRIVATE = "private"  # 総務大臣の認定を受けた民間事業者


class Verifier(BaseModel):
    """A registered verifier, as registration checks it and the registry file keeps it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=r"^v-[0-9a-f]{12}$")]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    kind: VerifierKind
    roles: Annotated[frozenset[CertKind], Field(min_length=1)]
    # a private verifier's licence number (主務大臣認定): 1–32 of A–Z 0–9 -
    licence: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")] | None
    registered_at: AwareDatetime
    key_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

    @field_serializer("roles")
    def _sorted(self, roles: frozenset[CertKind]) -> list[str]:
        return sorted(r.value for r in roles)

    @model_validator(mode="after")
    def _licence_by_kind(self) -> Self:
        if self.kind is VerifierKind.PRIVATE and self.licence is None:
            raise ValueError("a private verifier needs its licence number (1–32 of A–Z 0–9 -)")
        if self.kind is VerifierKind.PUBLIC and self.licence is not None:
            raise ValueError("a public body has no licence number")
        return self

    def public(self) -> dict[str, Any]:
        """What the API shows: everything but the key hash."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
            "roles": self._sorted(self.roles),
            "licence": self.licence,
            "registered_at": self.registered_at.isoformat(),
        }


_FILE: TypeAdapter[list[Verifier]] = TypeAdapter(list[Verifier])


class VerifierRegistry:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._by_id: dict[str, Verifier] = {}
        if path is not None and path.exists():
            try:
                self._by_id = {v.id: v for v in _FILE.validate_json(read_secret(path))}
            except ValidationError as exc:
                raise StateError(
                    f"{path} is not a verifier registry ({first_problem(exc)})"
                ) from None

    def __len__(self) -> int:
        return len(self._by_id)

    def all(self) -> list[Verifier]:
        return sorted(self._by_id.values(), key=lambda v: v.registered_at)

    def register(
        self,
        name: str,
        kind: VerifierKind,
        roles: frozenset[CertKind],
        licence: str | None,
        now: dt.datetime,
    ) -> tuple[Verifier, str]:
        """Register a verifier; returns it and its API key (shown this once)."""
        vid, secret = f"v-{secrets.token_hex(6)}", secrets.token_urlsafe(32)
        try:
            v = Verifier(
                id=vid,
                name=name,
                kind=kind,
                roles=roles,
                licence=licence,
                registered_at=now,
                key_hash=_digest(secret),
            )
        except ValidationError as exc:
            raise Malformed(f"verifier {first_problem(exc, 'registration')}") from None
        self._by_id[vid] = v
        self._save()
        return v, f"{vid}.{secret}"

    def remove(self, vid: str) -> None:
        if self._by_id.pop(vid, None) is None:
            raise NotOnFile(f"no verifier {vid[:20]!r}")
        self._save()

    def authenticate(self, authorization: str | None) -> Verifier:
        """The verifier named by an ``Authorization: Bearer <id>.<secret>`` header."""
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized("a registered verifier's API key is required")
        m = _KEY.fullmatch(authorization[7:].strip())
        v = self._by_id.get(m.group(1)) if m else None
        if m is None or v is None or not hmac.compare_digest(v.key_hash, _digest(m.group(2))):
            raise Unauthorized("unknown verifier or wrong API key")
        return v

    def _save(self) -> None:
        if self._path is not None:
            data = _FILE.dump_json(self.all(), indent=1)
            write_private(self._path, data, replace=True)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
