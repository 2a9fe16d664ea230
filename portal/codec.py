"""base64url without padding: every binary value the portal and the card bridge exchange."""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["b64url_decode", "b64url_encode"]

_ALPHABET = re.compile(r"^[A-Za-z0-9_-]*$")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, limit: int = 1 << 20) -> bytes:
    """Decode strict base64url (padding optional); ``ValueError`` for anything else."""
    if len(text) > limit or not _ALPHABET.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:  # pragma: no cover - the alphabet check catches these first
        raise ValueError("not base64url") from exc
