"""Errors of the wire contract. Each carries the code that goes into an error reply."""

from __future__ import annotations

from typing import Final

__all__ = [
    "JUKI_MALFORMED",
    "JUKI_OVERSIZED",
    "JUKI_UNKNOWN_SENDER",
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


# the refusals on 住基ネット (``hub/wire/juki.py``), by J-LIS of a register's request and by
# J-LIS's CA of a notice: answered where there is a sender to answer, and dead-lettered
JUKI_OVERSIZED: Final = "juki.oversized"  # longer than hub.bus.juki.JUKI_MAX_BYTES
JUKI_MALFORMED: Final = "juki.malformed"  # not JSON of a request (or a notice) of 住基ネット
JUKI_UNKNOWN_SENDER: Final = "juki.unknown_sender"  # the broker vouched for no one it takes
