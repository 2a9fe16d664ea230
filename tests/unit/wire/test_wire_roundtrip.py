"""Every valid message survives encode → decode unchanged, down to the byte."""

from __future__ import annotations

import orjson
from hypothesis import given
from pydantic import BaseModel
from wire_strategies import forwarded_queries, provider_replies, queries, replies

from hub.wire import ForwardedQuery, ProviderReply, Query, Reply, decode, encode


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
