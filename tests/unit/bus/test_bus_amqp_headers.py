"""How AMQP headers become our string headers, and what a dead letter carries (pure)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest

from hub.bus import (
    BODY_SHA256_HEADER,
    BODY_SIZE_HEADER,
    DEAD_LETTER_MAX_BODY,
    QUEUE_HEADER,
    REASON_HEADER,
    USER_HEADER,
    Death,
)
from hub.bus._amqp_consumer import death_of, str_headers
from hub.bus._common import dead_letter_copy
from hub.wire import MAX_MESSAGE_BYTES

CLAIMS = {
    USER_HEADER: "office-b",
    REASON_HEADER: "claimed",
    QUEUE_HEADER: "claimed",
    BODY_SIZE_HEADER: "1",
    BODY_SHA256_HEADER: "00",
}


def test_keeps_string_headers_and_drops_the_brokers() -> None:
    raw = {"traceparent": "00-a-b-01", "x-delivery-count": 2, "x-custom": "s", "n": 1}
    assert str_headers(raw, "a") == {"traceparent": "00-a-b-01"}
    assert str_headers(None, "a") == {}


def test_broker_dead_letters_carry_reason_queue_and_publisher() -> None:
    raw = {
        "traceparent": "t",
        "x-first-death-reason": "delivery_limit",
        "x-first-death-queue": "hub.requests",
        "x-death": [{"count": 1, "reason": "delivery_limit", "queue": "hub.requests"}],
    }
    assert str_headers(raw, "office-a") == {
        "traceparent": "t",
        REASON_HEADER: "delivery_limit",
        QUEUE_HEADER: "hub.requests",
        USER_HEADER: "office-a",
    }


def test_a_broker_dead_letter_names_the_vouched_publisher_not_its_claims() -> None:
    """A publisher may set our headers, and x-death / x-first-death-* too (RabbitMQ then leaves
    x-first-death-* alone); the broker's own event is always the first x-death entry."""
    raw = {
        **CLAIMS,
        "x-first-death-reason": "forged",
        "x-first-death-queue": "forged",
        "x-death": [
            {"count": 1, "reason": "rejected", "queue": "hub.requests"},
            {"count": 1, "reason": "expired", "queue": "forged"},
        ],
    }
    assert str_headers(raw, "office-a") == {
        REASON_HEADER: "rejected",
        QUEUE_HEADER: "hub.requests",
        USER_HEADER: "office-a",
    }


def test_without_x_death_the_headers_are_as_published() -> None:
    """An explicit dead letter (the dead-lettering service set them, and its user_id says who
    it is) or an ordinary message: nothing is added or taken."""
    assert str_headers({REASON_HEADER: "malformed", "x-first-death-reason": "expired"}, None) == {
        REASON_HEADER: "malformed"
    }
    assert str_headers({"x-death": "not-a-list", "t": "v"}, "a") == {"t": "v"}


def test_a_dead_letter_copy_overwrites_claims_with_the_vouched_facts() -> None:
    body, headers = dead_letter_copy(b"{}", {**CLAIMS, "t": "v"}, "wire.malformed", "q", "a")
    assert body == b"{}"
    assert headers == {
        "t": "v",
        REASON_HEADER: "wire.malformed",
        QUEUE_HEADER: "q",
        USER_HEADER: "a",
    }
    _, headers = dead_letter_copy(b"{}", CLAIMS, "r", "q", None)
    assert USER_HEADER not in headers  # no vouched publisher: no claim survives either


def test_a_dead_letter_copy_keeps_a_network_sized_body_whole_and_cuts_a_longer_one() -> None:
    assert DEAD_LETTER_MAX_BODY == MAX_MESSAGE_BYTES  # every message of the network is kept whole
    whole = b"x" * DEAD_LETTER_MAX_BODY
    assert dead_letter_copy(whole, {}, "r", "q", "a")[0] == whole
    big = bytes(range(256)) * (8 * 1024 * 1024 // 256)
    body, headers = dead_letter_copy(big, {}, "wire.too_large", "q", "a")
    assert body == big[:DEAD_LETTER_MAX_BODY]
    assert headers[BODY_SIZE_HEADER] == str(len(big))
    assert headers[BODY_SHA256_HEADER] == hashlib.sha256(big).hexdigest()


T = dt.datetime(2026, 6, 1, 9, 0)  # as aiormq decodes an AMQP timestamp: naive, UTC
ENTRY: dict[str, Any] = {
    "queue": "hub.requests",
    "reason": "expired",
    "exchange": "renkei.hub",
    "routing-keys": ["query"],
    "count": 2,
    "time": T,
}


def test_the_death_is_the_brokers_first_entry() -> None:
    older = {**ENTRY, "queue": "office.a.in", "reason": "rejected"}
    death = death_of({"x-death": [ENTRY, older], "x-first-death-queue": "claimed"})
    assert death == Death(
        "hub.requests", "expired", "renkei.hub", ("query",), 2, T.replace(tzinfo=dt.UTC)
    )
    assert death_of({"x-death": [{**ENTRY, "time": "yesterday"}]}) == Death(
        "hub.requests", "expired", "renkei.hub", ("query",), 2, None
    )


@pytest.mark.parametrize(
    "raw",
    [
        None,
        {},
        {"x-death": "expired"},
        {"x-death": []},
        {"x-death": ["not a table"]},
        {"x-death": [{**ENTRY, "queue": 7}]},
        {"x-death": [{**ENTRY, "reason": None}]},
        {"x-death": [{k: v for k, v in ENTRY.items() if k != "exchange"}]},
        {"x-death": [{**ENTRY, "routing-keys": "query"}]},
        {"x-death": [{**ENTRY, "routing-keys": ["query", 5]}]},
        {"x-death": [{**ENTRY, "count": 0}]},
        {"x-death": [{**ENTRY, "count": "2"}]},
        {"x-death": [{**ENTRY, "count": True}]},
        {"x-death": [{"queue": "q" * 100_000}]},  # oversized and incomplete
    ],
)
def test_a_malformed_death_is_none(raw: Any) -> None:
    """A publisher may put anything in x-death on what it sends to renkei.dlx: what is not a
    well-formed entry is no death (never an error)."""
    assert death_of(raw) is None
