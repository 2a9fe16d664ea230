"""How AMQP headers become our string headers (pure)."""

from __future__ import annotations

from hub.bus import QUEUE_HEADER, REASON_HEADER, USER_HEADER
from hub.bus._amqp_consumer import str_headers


def test_keeps_string_headers_and_drops_the_brokers() -> None:
    raw = {"traceparent": "00-a-b-01", "x-delivery-count": 2, "x-custom": "s", "n": 1}
    assert str_headers(raw, "a") == {"traceparent": "00-a-b-01"}
    assert str_headers(None, "a") == {}


def test_broker_dead_letters_carry_reason_queue_and_publisher() -> None:
    raw = {
        "traceparent": "t",
        "x-first-death-reason": "delivery_limit",
        "x-first-death-queue": "hub.requests",
        "x-death": [{"count": 1}],
    }
    assert str_headers(raw, "office-a") == {
        "traceparent": "t",
        REASON_HEADER: "delivery_limit",
        QUEUE_HEADER: "hub.requests",
        USER_HEADER: "office-a",
    }


def test_an_explicit_reason_wins_over_the_brokers() -> None:
    raw = {REASON_HEADER: "malformed", "x-first-death-reason": "expired"}
    assert str_headers(raw, None)[REASON_HEADER] == "malformed"
