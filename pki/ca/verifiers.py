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
import json
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pki.ca.keystore import read_secret, write_private
from pki.exceptions import Malformed, NotOnFile, StateError, Unauthorized
from pki.profiles import CertKind

__all__ = ["Verifier", "VerifierKind", "VerifierRegistry"]

_LICENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")
_KEY = re.compile(r"(v-[0-9a-f]{12})\.([A-Za-z0-9_-]{20,100})")


class VerifierKind(StrEnum):
    PUBLIC = "public"  # 国の機関・地方公共団体等
    PRIVATE = "private"  # 総務大臣の認定を受けた民間事業者


@dataclass(frozen=True, slots=True)
class Verifier:
    id: str
    name: str
    kind: VerifierKind
    roles: frozenset[CertKind]
    licence: str | None
    registered_at: dt.datetime
    key_hash: str

    def public(self) -> dict[str, Any]:
        """What the API shows: everything but the key hash."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
            "roles": sorted(r.value for r in self.roles),
            "licence": self.licence,
            "registered_at": self.registered_at.isoformat(),
        }


class VerifierRegistry:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._by_id: dict[str, Verifier] = {}
        if path is not None and path.exists():
            try:
                for v in json.loads(read_secret(path)):
                    self._by_id[v["id"]] = _from_json(v)
            except (ValueError, KeyError, TypeError) as exc:
                raise StateError(f"{path} is not a verifier registry ({exc})") from None

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
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
            raise Malformed("verifier name must be 1–100 characters")
        if not roles:
            raise Malformed("a verifier needs at least one role: signature, authentication")
        if kind is VerifierKind.PRIVATE and (licence is None or not _LICENCE.fullmatch(licence)):
            raise Malformed("a private verifier needs its licence number (1–32 of A–Z 0–9 -)")
        if kind is VerifierKind.PUBLIC and licence is not None:
            raise Malformed("a public body has no licence number")
        vid, secret = f"v-{secrets.token_hex(6)}", secrets.token_urlsafe(32)
        v = Verifier(vid, name.strip(), kind, roles, licence, now, _digest(secret))
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
            data = [_to_json(v) for v in self.all()]
            write_private(self._path, json.dumps(data, indent=1).encode(), replace=True)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _to_json(v: Verifier) -> dict[str, Any]:
    return v.public() | {"key_hash": v.key_hash}


def _from_json(d: dict[str, Any]) -> Verifier:
    return Verifier(
        id=d["id"],
        name=d["name"],
        kind=VerifierKind(d["kind"]),
        roles=frozenset(CertKind(r) for r in d["roles"]),
        licence=d["licence"],
        registered_at=dt.datetime.fromisoformat(d["registered_at"]),
        key_hash=d["key_hash"],
    )
