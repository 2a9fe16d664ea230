"""Errors of the token service: one root, each class with the code a `TokenRefusal` carries."""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BadResidentCode",
    "ForgedToken",
    "InvalidLink",
    "InvalidOffice",
    "KeyConfigError",
    "MalformedToken",
    "SecretFileError",
    "TokenError",
    "UnknownKeyVersion",
    "UnreadableResidentCode",
]


class TokenError(Exception):
    """Root of every error raised by ``token_service``."""

    code: ClassVar[str] = "token.error"


class MalformedToken(TokenError):
    """Not a token at all: wrong length, or not base64url."""

    code: ClassVar[str] = "token.malformed"


class UnknownKeyVersion(TokenError):
    """The token names a key version this service does not (or no longer) hold."""

    code: ClassVar[str] = "token.unknown_version"


class ForgedToken(TokenError):
    """The token does not authenticate under the presenting office's key."""

    code: ClassVar[str] = "token.forged"


class InvalidOffice(TokenError):
    """Not an office code (lower-case letters, digits and inner hyphens, at most 40)."""

    code: ClassVar[str] = "token.bad_office"


class InvalidLink(TokenError):
    """A link id that `KeyRing.link_id` did not make (it is 16 bytes)."""

    code: ClassVar[str] = "token.bad_link"


class BadResidentCode(TokenError):
    """What J-LIS sealed is not an 11-digit resident-record code with a valid check digit."""

    code: ClassVar[str] = "token.bad_rrc"


class UnreadableResidentCode(TokenError):
    """The sealed resident-record code is not sealed for this service, or was altered."""

    code: ClassVar[str] = "token.unsealable"


class KeyConfigError(TokenError):
    """The key ring cannot be built: a short master secret or a version outside 1–255."""

    code: ClassVar[str] = "token.key_config"


class SecretFileError(TokenError):
    """The master secret file is missing, too open, or does not hold enough key material."""

    code: ClassVar[str] = "token.secret_file"
