"""What a span may say: its names, its events and its attributes — the allow-list.

Every span of the network is built from these names and nothing else; the monitor drops a
span that uses any other (``hub.tracing.codec``). Attribute names follow OpenTelemetry's
messaging conventions where one exists (``messaging.*``, ``error.type``); the rest are ours
(``renkei.*``). No value is ever a token, a number, a local id, a name or any content: only
office, affair and item codes, outcomes, error codes, message ids (random UUIDs), kinds and
sizes — each checked by the pattern below when a span is decoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

__all__ = [
    "AFFAIR",
    "ATTRIBUTE_CHECKS",
    "BATCH_COUNT",
    "BODY_SIZE",
    "CONVERSATION_ID",
    "DESTINATION",
    "ERROR_TYPE",
    "EVENT_ATTRIBUTES",
    "EVENT_NAMES",
    "ITEMS",
    "KIND",
    "MESSAGE_ID",
    "OPERATION",
    "OUTCOME",
    "PROVIDER",
    "REQUESTER",
    "ROUTING_KEY",
    "SPAN_NAMES",
    "SYSTEM",
    "Check",
]

# ---- attribute keys -----------------------------------------------------------------------------
SYSTEM: Final = "messaging.system"  # always "rabbitmq"
OPERATION: Final = "messaging.operation.type"  # send | receive | process
DESTINATION: Final = "messaging.destination.name"  # the exchange (RabbitMQ convention)
ROUTING_KEY: Final = "messaging.rabbitmq.destination.routing_key"
MESSAGE_ID: Final = "messaging.message.id"  # the envelope's message id (a random UUID)
CONVERSATION_ID: Final = "messaging.message.conversation_id"  # the query id (a random UUID)
BODY_SIZE: Final = "messaging.message.body.size"  # bytes
BATCH_COUNT: Final = "messaging.batch.message_count"  # items in a token batch
ERROR_TYPE: Final = "error.type"  # an outcome's code (``routing.no_row`` …)
KIND: Final = "renkei.kind"  # the request's kind: query, enroll, change, identify, notice …
REQUESTER: Final = "renkei.requester"  # office codes
PROVIDER: Final = "renkei.provider"
AFFAIR: Final = "renkei.affair"
ITEMS: Final = "renkei.items"
OUTCOME: Final = "renkei.outcome"  # ok, refused, not_found, error, timed_out, …

# ---- span and event names -----------------------------------------------------------------------
SPAN_NAMES: Final = frozenset(
    {
        # an office's request, from its publish to the hub's reply (kind CLIENT)
        "query",
        "enroll",
        "change",
        "identify",
        "notice",
        # the hub: a request in, a provider's reply in, a deadline that passed
        "process hub.requests",
        "process hub.replies",
        "timeout",
        # an office: a message from the hub (a forwarded request, an event, a notice)
        "process office.in",
        # the token service, one span per item of a batch
        "translate",
        "issue",
    }
)
EVENT_NAMES: Final = frozenset(
    {
        "validated",  # the hub: decoded, a known kind
        "checked",  # the hub: sender = broker user, signature, times
        "claimed",  # the hub: the query id taken (first copy)
        "translated",  # the hub: the token service answered
        "authorized",  # the hub: the legal table and the registry said yes
        "forwarded",  # the hub: published to the provider
        "recorded",  # the hub: the access record durable
        "replied",  # the hub: the reply sent; an office: its answer sent (not when confirmed)
        "looked_up",  # an office: its role answered from its own store
    }
)
EVENT_ATTRIBUTES: Final = frozenset({BODY_SIZE})

Check = Callable[[object], bool]

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_OFFICE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,47}$")  # affair and item codes (hub.wire's patterns)
_ERROR = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")  # hub.wire's outcome codes
_WORD = re.compile(r"^[a-z_]{1,24}$")
# hub.bus.topology's exchanges and routing keys (literals: the bus imports this module)
_EXCHANGES = frozenset(
    {
        "renkei.hub",
        "renkei.interactive",
        "renkei.offices",
        "",
    }
)
_KEYS = re.compile(
    r"^(query|enroll|reply|change|identify|notice|"
    r"office\.[a-z0-9]+(-[a-z0-9]+)*\.(in|replies))$"
)


def _text(pattern: re.Pattern[str], most: int) -> Check:
    return lambda v: isinstance(v, str) and len(v) <= most and pattern.match(v) is not None


def _size(most: int) -> Check:
    return lambda v: type(v) is int and 0 <= v <= most


def _codes(v: object) -> bool:
    return (
        isinstance(v, list | tuple)
        and 0 < len(v) <= 16
        and all(isinstance(c, str) and len(c) <= 48 and _CODE.match(c) for c in v)
    )


ATTRIBUTE_CHECKS: Final[dict[str, Check]] = {
    SYSTEM: lambda v: v == "rabbitmq",
    OPERATION: lambda v: v in ("send", "receive", "process"),
    DESTINATION: lambda v: v in _EXCHANGES,
    ROUTING_KEY: _text(_KEYS, 64),
    MESSAGE_ID: _text(_UUID, 36),
    CONVERSATION_ID: _text(_UUID, 36),
    BODY_SIZE: _size(1 << 24),
    BATCH_COUNT: _size(10_000),
    ERROR_TYPE: _text(_ERROR, 64),
    KIND: _text(_WORD, 24),
    REQUESTER: _text(_OFFICE, 40),
    PROVIDER: _text(_OFFICE, 40),
    AFFAIR: _text(_CODE, 48),
    ITEMS: _codes,
    OUTCOME: _text(_WORD, 24),
}
"""The allow-list: every attribute key a span may carry, and what its value may be."""
