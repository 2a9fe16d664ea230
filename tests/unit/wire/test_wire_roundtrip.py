"""Every valid message survives encode → decode unchanged, down to the byte; a new trace's id."""

from __future__ import annotations

import re

import orjson
import pytest
from hypothesis import given
from pydantic import BaseModel
from wire_strategies import forwarded_queries, provider_replies, queries, replies

from hub.wire import (
    ForwardedQuery,
    ProviderReply,
    Query,
    Reply,
    base,
    decode,
    encode,
    new_traceparent,
)


def assert_round_trips(message: BaseModel, kind: type[BaseModel]) -> None:
    body = encode(message)
    decoded = decode(body)
    assert type(decoded) is kind
    assert decoded == message
    assert encode(decoded) == body


@given(queries)
def test_a_query_round_trips(message: Query) -> None:
    assert_round_trips(message, Query)


@given(forwarded_queries)
def test_a_forwarded_query_round_trips(message: ForwardedQuery) -> None:
    assert_round_trips(message, ForwardedQuery)


@given(provider_replies)
def test_a_provider_reply_round_trips_with_every_kind_of_outcome(message: ProviderReply) -> None:
    assert_round_trips(message, ProviderReply)


@given(replies)
def test_a_reply_round_trips_with_or_without_a_record_id(message: Reply) -> None:
    assert_round_trips(message, Reply)


@given(queries)
def test_an_encoded_message_is_json_naming_its_kind_and_version(message: Query) -> None:
    data = orjson.loads(encode(message))
    assert data["kind"] == "query"
    assert data["envelope"]["v"] == message.envelope.v


def test_a_new_traceparent_is_w3c_random_and_never_all_zeros(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One read of the random source per new trace (bench/README.md, issue 19, the office
    nodes); an all-zero trace or parent id (invalid, W3C Trace Context) is drawn again."""
    pattern = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
    seen = {new_traceparent() for _ in range(200)}
    assert len(seen) == 200
    assert all(pattern.fullmatch(tp) for tp in seen)
    draws = iter([bytes(16) + b"\1" * 8, b"\1" * 16 + bytes(8), b"\2" * 24])
    reads: list[int] = []

    def urandom(n: int) -> bytes:
        reads.append(n)
        return next(draws)

    monkeypatch.setattr(base.os, "urandom", urandom)
    assert new_traceparent() == f"00-{'02' * 16}-{'02' * 8}-01"
    assert reads == [24, 24, 24]
