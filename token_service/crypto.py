"""Tokens (符号) and their translation: pure functions of a master secret, no table, no logging.

- **Link id**: ``HMAC-SHA256(link key, resident-record code)[:16]``. The individual number is
  never an input, so a number change (a new generation at J-LIS) keeps every token. The link
  key is not versioned: rotating it would re-key every person, and translation could not
  carry old tokens across without a table.
- **Token** of a person at an office: ``base64url(version ‖ AES-SIV(link id))`` under that
  office's key for that version, with the office code as associated data. AES-SIV is
  deterministic, so an office always receives the same token for the same person; it is
  authenticated, so an altered token, or one presented by another office, fails to decrypt.
  33 bytes → 44 characters, no padding (so each token has exactly one spelling).
- **Keys**: HKDF-SHA256 of the master secret per (purpose, version, office). Tokens of every
  version in ``known`` are accepted; new tokens are made under ``current``. An office may have
  versions of its own (``offices``), so that its key rotates alone (docs/operations.md §5).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from binascii import Error as BinasciiError
from binascii import a2b_base64, b2a_base64
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.numbers import is_valid
from token_service.exceptions import (
    BadResidentCode,
    ForgedToken,
    InvalidLink,
    InvalidOffice,
    KeyConfigError,
    MalformedToken,
    UnknownKeyVersion,
)
from token_service.secrets import Secret

__all__ = ["DEFAULT_CACHE_SIZE", "LINK_BYTES", "MIN_MASTER_BYTES", "TOKEN_CHARS", "KeyRing"]

LINK_BYTES: Final = 16
TOKEN_CHARS: Final = 44  # base64url of 1 + 16 (SIV) + 16 (link id) bytes
MIN_MASTER_BYTES: Final = 32
DEFAULT_CACHE_SIZE: Final = 4096
_TOKEN_BYTES: Final = 1 + 16 + LINK_BYTES
_SALT: Final = b"renkei.token_service.v1"
_OFFICE: Final = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
# base64url → standard alphabet for the strict decoder; a '+', '/' or '=' in a token is made
# invalid ('!') rather than silently accepted as a second spelling of the same bytes.
_DECODE: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_ENCODE: Final = bytes.maketrans(b"+/", b"-_")


def _check_rrc(rrc: str) -> bytes:
    """The code as bytes, if it is 11 ASCII digits whose last checks the first 10
    (``hub.numbers``)."""
    if len(rrc) != 11 or not rrc.isascii() or not rrc.isdigit():
        raise BadResidentCode("a resident-record code is 11 ASCII digits")
    if not is_valid("resident_record_code", rrc):
        raise BadResidentCode("the resident-record code's check digit does not match")
    return rrc.encode("ascii")


class KeyRing:
    """The token service's keys, derived on demand from the master secret (bytes or `Secret`).

    ``known`` versions decrypt (``current`` is always among them); ``current`` encrypts.
    ``offices`` overrides both for the offices it names: office → (current, known), so one
    office's key rotates while every other office stays where it is. The
    AES-SIV objects are cached per (office, version) in a bounded dict: at most
    ``cache_size`` entries, the oldest inserted evicted first (no reordering on a hit, which
    keeps the hot path to one dict look-up; offices on the network number a few thousand).
    Only well-formed office codes and known versions are ever derived or cached.
    """

    __slots__ = (
        "_cache",
        "_cache_size",
        "_current",
        "_currents",
        "_known",
        "_link_key",
        "_master",
        "_office_known",
        "_prefix",
    )

    def __init__(
        self,
        master: bytes | Secret,
        *,
        current: int = 1,
        known: Iterable[int] = (1,),
        offices: Mapping[str, tuple[int, Iterable[int]]] | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if isinstance(master, Secret):
            master = master.reveal()
        if len(master) < MIN_MASTER_BYTES:
            raise KeyConfigError(f"the master secret must be at least {MIN_MASTER_BYTES} bytes")
        versions = frozenset(known) | {current}
        own = {o: (c, frozenset(k) | {c}) for o, (c, k) in (offices or {}).items()}
        if not all(1 <= v <= 255 for vs in (versions, *(k for _, k in own.values())) for v in vs):
            raise KeyConfigError("key versions are 1–255")
        self._master = master
        self._current = current
        self._known = versions
        self._currents = {o: c for o, (c, _) in own.items()}  # only offices of their own
        self._office_known = {o: k for o, (_, k) in own.items()}
        self._prefix = bytes([current])
        self._cache: dict[tuple[str, int], tuple[AESSIV, list[bytes]]] = {}
        self._cache_size = max(1, cache_size)
        self._link_key = self._derive(b"link", 0, "", 32)

    def __repr__(self) -> str:
        own = {o: (self._currents[o], sorted(self._office_known[o])) for o in self._currents}
        offices = f", offices={dict(sorted(own.items()))}" if own else ""
        return f"KeyRing(current={self._current}, known={sorted(self._known)}{offices})"

    @property
    def current(self) -> int:
        return self._current

    @property
    def known(self) -> frozenset[int]:
        return self._known

    def current_of(self, office: str) -> int:
        """The version ``office``'s new tokens are made under."""
        return self._currents.get(office, self._current)

    def known_of(self, office: str) -> frozenset[int]:
        """The versions of ``office``'s tokens that are accepted."""
        return self._office_known.get(office, self._known)

    def _derive(self, purpose: bytes, version: int, office: str, length: int) -> bytes:
        info = b"/".join((purpose, bytes([version]), office.encode("ascii")))
        return HKDF(hashes.SHA256(), length, salt=_SALT, info=info).derive(self._master)

    def service_seed(self) -> bytes:
        """64 bytes for the service's own signing and sealing keys (`OfficeKeys.from_seed`)."""
        return self._derive(b"service", 0, "", 64)

    def _cipher(self, office: str, version: int) -> tuple[AESSIV, list[bytes]]:
        """The (AES-SIV, associated data) pair of an office at a version; cached."""
        if version not in self._office_known.get(office, self._known):
            raise UnknownKeyVersion(f"key version {version} is not known for this office")
        if len(office) > 40 or not _OFFICE.fullmatch(office):
            raise InvalidOffice("not an office code")
        entry = (AESSIV(self._derive(b"office", version, office, 64)), [office.encode("ascii")])
        if len(self._cache) >= self._cache_size:
            del self._cache[next(iter(self._cache))]
        self._cache[(office, version)] = entry
        return entry

    def link_id(self, rrc: str) -> bytes:
        """The person's internal link id, from the resident-record code (never the number)."""
        return hmac.new(self._link_key, _check_rrc(rrc), hashlib.sha256).digest()[:LINK_BYTES]

    def token_for(self, link: bytes, office: str, version: int | None = None) -> str:
        """The office's token for the person, under the office's current key version (or
        ``version``, one of the office's known versions: a rotation's next token)."""
        if len(link) != LINK_BYTES:
            raise InvalidLink(f"a link id is {LINK_BYTES} bytes")
        if version is None:
            version = self._currents.get(office, self._current)
        siv, ad = self._cache.get((office, version)) or self._cipher(office, version)
        raw = bytes([version]) + siv.encrypt(link, ad)
        return b2a_base64(raw, newline=False).translate(_ENCODE).decode("ascii")

    def link_of(self, token: str, holder: str) -> bytes:
        """The link id inside ``holder``'s token; refuses malformed, unknown and forged ones."""
        try:
            raw = a2b_base64(token.encode("ascii").translate(_DECODE), strict_mode=True)
        except (UnicodeEncodeError, BinasciiError):
            raise MalformedToken("not a token: expected base64url characters only") from None
        if len(raw) != _TOKEN_BYTES:
            raise MalformedToken(f"not a token: a token is {TOKEN_CHARS} characters")
        version = raw[0]
        siv, ad = self._cache.get((holder, version)) or self._cipher(holder, version)
        try:
            return siv.decrypt(raw[1:], ad)
        except InvalidTag:
            raise ForgedToken(
                "the token was altered, or belongs to another office than the one presenting it"
            ) from None

    def translate(self, token: str, holder: str, targets: Sequence[str]) -> tuple[str, ...]:
        """``holder``'s token → each target's token (current version), by decrypt-then-encrypt."""
        link = self.link_of(token, holder)
        if len(targets) != 1:
            return tuple([self.token_for(link, target) for target in targets])
        # one target, `token_for` inlined: the hot path of every query
        target = targets[0]
        current = self._currents.get(target, self._current) if self._currents else self._current
        siv, ad = self._cache.get((target, current)) or self._cipher(target, current)
        raw = (self._prefix if current == self._current else bytes([current])) + siv.encrypt(
            link, ad
        )
        return (b2a_base64(raw, newline=False).translate(_ENCODE).decode("ascii"),)
