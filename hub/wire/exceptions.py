"""Errors of the wire contract. Each carries the code that goes into an error reply."""

from __future__ import annotations

__all__ = [
    "BadSignature",
    "MalformedMessage",
    "MessageTooLarge",
    "SealError",
    "WireError",
    "WrongContentType",
]


class WireError(Exception):
    """Root of every wire error."""

    code = "wire.error"


class MalformedMessage(WireError):
    code = "wire.malformed"


class MessageTooLarge(WireError):
    code = "wire.too_large"


class WrongContentType(WireError):
    """The transport says the body is not JSON (every message of the network is)."""

    code = "wire.content_type"


class BadSignature(WireError):
    code = "wire.bad_signature"


class SealError(WireError):
    """A sealed payload could not be opened: not for this key, or altered."""

    code = "wire.seal_failed"
