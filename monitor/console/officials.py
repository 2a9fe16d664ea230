"""Officials' credentials, pure: a password kept as scrypt and a TOTP second factor.

An official (an operator of the hub, an auditor of the oversight commission) is made by an
operator's command (``renkei officials add NAME --role operator|auditor``), which prints a
one-time password and the TOTP secret once; the monitor keeps only the password's scrypt hash
and the TOTP secret (``monitor.official``, or memory on the embedded default).

- **password**: 24 random bytes (URL-safe base64), stored as ``scrypt$n$r$p$salt$hash``
  (stdlib ``hashlib.scrypt``, n=2**14, r=8, p=1: 16 MiB and ~50 ms a check), compared in
  constant time;
- **TOTP** (RFC 6238): HMAC-SHA1, 30-second steps, 6 digits, the step before and after
  accepted (clock drift), and each step at most once per official (``last_step``): a code
  seen over a shoulder or in a proxy's log cannot be used again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "NAME",
    "ROLES",
    "Official",
    "Role",
    "hash_password",
    "new_official",
    "password_ok",
    "provisioning_uri",
    "totp",
    "totp_step",
]

Role = Literal["operator", "auditor"]
ROLES: tuple[Role, ...] = ("operator", "auditor")
NAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")  # an official's sign-in name
STEP = 30  # seconds (RFC 6238's default)
DIGITS = 6
_N, _R, _P = 2**14, 8, 1
_MAX_PASSWORD = 256  # a longer one is refused before scrypt runs


@dataclass(frozen=True, slots=True)
class Official:
    name: str
    role: Role
    password_hash: str
    totp_secret: str  # base32, as authenticator apps take it
    last_step: int = 0  # the last TOTP step used to sign in (never accepted again)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.urlsafe_b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def password_ok(stored: str, password: str) -> bool:
    """Does ``password`` match the stored hash? A malformed hash or an over-long password is
    no match, never an error."""
    if len(password) > _MAX_PASSWORD:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.urlsafe_b64decode(digest)
        got = hashlib.scrypt(
            password.encode(errors="surrogateescape"),
            salt=base64.urlsafe_b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(want),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def totp(secret: str, step: int) -> str:
    """The code of ``step`` (RFC 4226's HOTP of the step counter; RFC 6238)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**DIGITS:0{DIGITS}d}"


def totp_step(secret: str, code: str, now: float, last_step: int) -> int | None:
    """The step ``code`` is valid for at ``now`` (seconds): this one, the one before or after,
    and later than ``last_step``; None if none."""
    if not re.fullmatch(r"[0-9]{6}", code):
        return None
    current = int(now // STEP)
    for step in (current, current - 1, current + 1):
        if step > last_step and hmac.compare_digest(totp(secret, step), code):
            return step
    return None


def new_official(name: str, role: Role) -> tuple[Official, str]:
    """A new official and their one-time password (shown once, kept only as a hash)."""
    if not NAME.fullmatch(name):
        raise ValueError(f"an official's name is 2-32 of a-z 0-9 . _ - (a letter first): {name!r}")
    if role not in ROLES:
        raise ValueError(f"a role is one of {', '.join(ROLES)}: {role!r}")
    password = secrets.token_urlsafe(24)
    secret = base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")
    return Official(name, role, hash_password(password), secret), password


def provisioning_uri(official: Official, issuer: str = "renkei monitor") -> str:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code or typed in)."""
    label = f"{issuer}:{official.name}".replace(" ", "%20")
    return (
        f"otpauth://totp/{label}?secret={official.totp_secret}&issuer={issuer.replace(' ', '%20')}"
    )
