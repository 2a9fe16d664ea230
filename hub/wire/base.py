"""Building blocks of the wire contract: the strict base model, constrained strings, envelope."""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "B64",
    "B64_MAX",
    "CONTENT_TYPE",
    "HUB",
    "JLIS",
    "JLIS_PKI",
    "MAX_ITEMS",
    "MAX_MESSAGE_BYTES",
    "WIRE_VERSION",
    "AffairCode",
    "Envelope",
    "ItemCode",
    "OfficeCode",
    "Params",
    "Text",
    "Token",
    "Traceparent",
    "WireModel",
    "new_traceparent",
]

WIRE_VERSION: Final = 2
"""What every writer puts in ``Envelope.v``. Version 2 seals with HPKE (``Sealed``); version 1
sealed with the construction ``SealedV1`` describes. Readers take both during the change: a
message of either version may carry a version-1 seal (the hub relays answers it cannot open),
so each seal says its own version too."""
CONTENT_TYPE: Final = "application/json"  # every message body on the network, nothing else
MAX_MESSAGE_BYTES = 64 * 1024
"""No message of the network is larger: the largest legitimate one is a ``Query`` or
``ForwardedQuery`` carrying a filed application, whose sealed document is at most 48 KiB of
base64 (``B64``), about 36 KiB signed; the rest of either is well under 16 KiB."""
MAX_ITEMS = 16
HUB = "hub"  # the network operator's own office code
JLIS = "jlis"  # J-LIS: numbers resolved at enrollment
JLIS_PKI = "jlis-pki"  # J-LIS's certification service: it alone links certificates to people


class WireModel(BaseModel):
    """Every wire model: strict types, no unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


OfficeCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=40)]
AffairCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,47}$")]
ItemCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,47}$")]
# An office's token for a person: base64url of version byte + AES-SIV output (see token_service).
Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{20,120}$")]
B64_MAX: Final = 48 * 1024  # characters of base64url in one field of a message
B64 = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]*$", max_length=B64_MAX)]
Traceparent = Annotated[
    str, StringConstraints(pattern=r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
]
Text = Annotated[str, StringConstraints(max_length=2000)]
# a number a database column or orjson can hold: a 40-digit year must not reach a provider
ParamValue = (
    Annotated[str, StringConstraints(max_length=200)]
    | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
)
Params = Annotated[
    dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")], ParamValue],
    AfterValidator(lambda p: _at_most(p, 8)),
]


def new_traceparent() -> str:
    """A W3C traceparent starting a new trace (sampled): a random trace id and parent id from
    one read of the system's random source (neither may be all zeros, W3C Trace Context §3.2)."""
    ids = os.urandom(24).hex()
    while ids[:32] == _ZERO_TRACE or ids[32:] == _ZERO_SPAN:  # 2**-64 at most: never, in effect
        ids = os.urandom(24).hex()
    return f"00-{ids[:32]}-{ids[32:]}-01"


_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


def _at_most(params: dict[str, str | int], n: int) -> dict[str, str | int]:
    if len(params) > n:
        raise ValueError(f"at most {n} parameters")
    return params


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a time zone")
    return value


Instant = Annotated[dt.datetime, AfterValidator(_aware)]


class Envelope(WireModel):
    """Who sends what to whom, under which affair, until when.

    The sender's signature is detached: an Ed25519 signature over the exact body bytes, carried
    beside the body (the transport header ``renkei-sig``), so checking it never depends on
    re-serialising what was parsed.
    """

    v: Literal[1, 2] = WIRE_VERSION
    message_id: UUID
    correlation_id: UUID  # the query id: a query's own id, echoed by every message about it
    sender: OfficeCode
    recipient: OfficeCode
    affair: AffairCode
    issued_at: Instant
    deadline: Instant
    traceparent: Traceparent
