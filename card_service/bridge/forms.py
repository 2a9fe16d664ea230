"""The card bridge's form protocol, pure: parse a posted form, check each field, name origins,
keep the one-time form nonces.

Everything a portal (or anything else) posts is refused here with a :class:`FormError` whose
message says which field broke which rule; the bridge answers it with 400. Nothing here logs,
and no message repeats a field's value.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from card_service.exceptions import FormError

__all__ = [
    "CHALLENGE_BYTES",
    "MAX_DOCUMENT",
    "MAX_FIELDS",
    "MAX_STATE",
    "MAX_SUMMARY",
    "NONCE_TTL",
    "Origin",
    "Pending",
    "PendingForms",
    "b64url",
    "field",
    "origin_of",
    "parse_b64url",
    "parse_form",
    "parse_origin",
    "parse_return_to",
    "parse_text",
]

CHALLENGE_BYTES = 32
MAX_DOCUMENT = 64 * 1024
MAX_SUMMARY = 2000
MAX_STATE = 200
MAX_URL = 2000
MAX_FIELDS = 16
NONCE_TTL = 300.0  # seconds
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
# bidirectional embeddings, overrides and isolates: they can make a summary read differently
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body: ASCII, UTF-8 once percent-decoded, each
    field at most once."""
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise FormError("the form is not valid UTF-8 (send it as an HTML form does)") from None
    except ValueError:
        raise FormError(f"the form has more than {MAX_FIELDS} fields") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise FormError(f"the field {name[:40]!r} appears twice")
        form[name] = value
    return form


def field(form: dict[str, str], name: str) -> str:
    try:
        return form[name]
    except KeyError:
        raise FormError(f"the field {name!r} is missing") from None


def parse_text(value: str, name: str, limit: int, *, lines: bool = False) -> str:
    """Text a person reads: at most ``limit`` characters, no control characters (tab and line
    breaks only where ``lines``), no bidirectional overrides, nothing unassigned."""
    if len(value) > limit:
        raise FormError(f"the field {name!r} is longer than {limit} characters")
    allowed = "\t\r\n" if lines else ""
    for ch in value:
        cat = unicodedata.category(ch)
        if (cat == "Cc" and ch not in allowed) or cat in ("Cs", "Cn") or ord(ch) in _BIDI:
            where = f"U+{ord(ch):04X}"
            raise FormError(f"the field {name!r} holds a character not shown safely ({where})")
    return value


def parse_b64url(value: str, name: str, *, size: int | None = None, limit: int = 0) -> bytes:
    """base64url (RFC 4648 §5), padding optional, canonical; exactly ``size`` bytes, or 1 to
    ``limit`` bytes."""
    if not _B64URL.fullmatch(value) or len(value.rstrip("=")) % 4 == 1:
        raise FormError(f"the field {name!r} is not base64url")
    bare = value.rstrip("=")
    try:
        data = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError):
        raise FormError(f"the field {name!r} is not base64url") from None
    if b64url(data) != bare:
        raise FormError(f"the field {name!r} is not canonical base64url")
    if size is not None and len(data) != size:
        raise FormError(f"the field {name!r} must hold {size} bytes")
    if size is None and not 1 <= len(data) <= limit:
        raise FormError(f"the field {name!r} must hold 1 to {limit} bytes")
    return data


def b64url(data: bytes) -> str:
    """base64url without padding, as the bridge always answers."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str  # lower case; an IPv6 address in brackets
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def _origin_of(url: str, what: str) -> tuple[Origin, str]:
    if len(url) > MAX_URL or not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
        raise FormError(f"{what} must be a plain ASCII URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FormError(f"{what} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FormError(f"{what} must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise FormError(f"{what} must not carry a user name or password")
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    default = 443 if parts.scheme == "https" else 80
    return Origin(parts.scheme, host, port or default), parts.path


def origin_of(url: str) -> Origin:
    """The origin of an absolute http(s) URL (one already accepted by ``parse_return_to``)."""
    return _origin_of(url, "the URL")[0]


def parse_origin(text: str) -> Origin:
    """A configured portal origin, ``scheme://host[:port]`` (a trailing ``/`` is allowed)."""
    origin, path = _origin_of(text.strip(), f"the portal origin {text!r}")
    if path not in ("", "/") or "?" in text or "#" in text:
        raise FormError(f"the portal origin {text!r} must be scheme://host[:port] only")
    return origin


def parse_return_to(url: str, allowed: Iterable[Origin]) -> str:
    """``return_to``: an absolute http(s) URL on one of the portal origins."""
    origin, _ = _origin_of(url, "return_to")
    if "#" in url:
        raise FormError("return_to must not carry a fragment")
    if origin not in set(allowed):
        raise FormError(f"return_to is not on a portal this bridge serves ({origin})")
    return url


@dataclass(frozen=True, slots=True)
class Pending:
    """What a PIN page was shown for; the confirming form must name it by its nonce."""

    kind: Literal["login", "sign"]
    return_to: str
    state: str
    challenge: str = ""  # login: as the portal sent it (echoed back unchanged)
    document: bytes = b""  # sign: the exact bytes to sign
    summary: str = ""  # sign: what the resident was shown


class PendingForms:
    """One-time nonces for the bridge's own PIN forms, each bound to its :class:`Pending`
    request, valid for ``ttl`` seconds; at most ``capacity`` outstanding (oldest dropped)."""

    def __init__(
        self, clock: Callable[[], float], ttl: float = NONCE_TTL, capacity: int = 64
    ) -> None:
        self._clock = clock
        self._ttl = ttl
        self._capacity = capacity
        self._forms: OrderedDict[str, tuple[float, Pending]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._forms)

    def issue(self, pending: Pending) -> str:
        now = self._clock()
        for nonce, (expires, _) in list(self._forms.items()):
            if expires <= now:
                del self._forms[nonce]
        while len(self._forms) >= self._capacity:
            self._forms.popitem(last=False)
        nonce = secrets.token_urlsafe(32)
        self._forms[nonce] = (now + self._ttl, pending)
        return nonce

    def take(self, nonce: str, kind: str) -> Pending:
        """The request behind ``nonce``, which is spent whatever the outcome."""
        entry = self._forms.pop(nonce, None)
        if entry is None:
            raise FormError("this form was already used or is unknown: start again from the portal")
        expires, pending = entry
        if expires <= self._clock():
            raise FormError("this form has expired (5 minutes): start again from the portal")
        if pending.kind != kind:
            raise FormError("this form belongs to another step: start again from the portal")
        return pending
