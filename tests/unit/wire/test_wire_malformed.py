"""A message that breaks the contract is refused with a WireError an operator can read.

Never another exception: whatever arrives on a queue, ``decode`` either returns a message or
raises a ``WireError`` subclass carrying its wire code and a one-line explanation.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from wire_strategies import provider_reply_data, queries, query_data

from hub.wire import (
    CONTENT_TYPE,
    MAX_MESSAGE_BYTES,
    Answered,
    MalformedMessage,
    MessageTooLarge,
    OfficeKeys,
    ProviderReply,
    Query,
    Sealed,
    SealedV1,
    WireError,
    WrongContentType,
    check_content_type,
    decode,
    encode,
    sign,
    verify,
)


def body_of(data: Any) -> bytes:
    return orjson.dumps(data)


def refused(body: bytes) -> MalformedMessage:
    """Decoding ``body`` fails with a readable MalformedMessage; returns it."""
    with pytest.raises(MalformedMessage) as caught:
        decode(body)
    error = caught.value
    text = str(error)
    assert error.code == "wire.malformed"
    assert text
    assert "\n" not in text
    assert "pydantic.dev" not in text  # no documentation links in an operator's line
    assert len(text) < 1000
    return error


def with_change(path: str, value: Any, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """``data`` (a valid query by default) with the dotted ``path`` set to ``value``."""
    data = copy.deepcopy(query_data() if data is None else data)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    return data


def without(path: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(query_data() if data is None else data)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    del node[last]
    return data


def test_the_valid_fixture_decodes() -> None:
    assert isinstance(decode(body_of(query_data())), Query)
    assert decode(body_of(provider_reply_data())).kind == "provider_reply"


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"not json", b'{"kind": "query",}', b"\xff\xfe\x00", b"null", b"[]", b'"query"'],
    ids=["empty", "unclosed", "text", "trailing-comma", "not-utf8", "null", "array", "string"],
)
def test_malformed_json_is_refused(body: bytes) -> None:
    refused(body)


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        ("envelope.v", "1", "query.envelope.v"),
        ("envelope.v", 3, "query.envelope.v"),
        ("envelope.sender", 7, "query.envelope.sender"),
        ("envelope.message_id", 1, "query.envelope.message_id"),
        ("envelope.issued_at", 1748736000, "query.envelope.issued_at"),
        ("person", 123456789018, "query.person"),
        ("items", "local_tax", "query.items"),
        ("items", [1], "query.items.0"),
        ("params", [], "query.params"),
        ("params", {"fiscal_year": 2025.0}, "query.params.fiscal_year"),
        ("params", {"fiscal_year": True}, "query.params.fiscal_year"),
        ("not_disclosed", "false", "query.not_disclosed"),
        ("not_disclosed", 0, "query.not_disclosed"),
    ],
    ids=str,
)
def test_wrong_types_are_refused_without_coercion(path: str, value: Any, where: str) -> None:
    error = refused(body_of(with_change(path, value)))
    assert str(error).startswith(f"{where}")


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (query_data() | {"extra": 1}, "query.extra"),
        (with_change("envelope.extra", 1), "query.envelope.extra"),
        (with_change("outcome.extra", 1, provider_reply_data()), "provider_reply.outcome.ok.extra"),
        (
            with_change("outcome.payload.extra", 1, provider_reply_data()),
            "provider_reply.outcome.ok.payload.2.extra",
        ),
    ],
    ids=["message", "envelope", "outcome", "sealed"],
)
def test_unknown_fields_are_refused_at_every_level(data: dict[str, Any], where: str) -> None:
    error = refused(body_of(data))
    assert where in str(error)
    assert "Extra inputs are not permitted" in str(error)


@pytest.mark.parametrize("v", [1, 2])
def test_both_wire_versions_are_read(v: int) -> None:
    """Writers say 2 (HPKE seals); a message of version 1 is read during the change."""
    assert decode(body_of(with_change("envelope.v", v))).envelope.v == v


def test_writers_say_version_2() -> None:
    unsaid = decode(body_of(without("envelope.v")))
    assert orjson.loads(encode(unsaid))["envelope"]["v"] == 2


def test_a_seal_is_read_by_its_own_version() -> None:
    """A seal says its version: none is version 1 (still read), 2 is HPKE, anything else is
    refused. The hub relays seals it cannot open, so a message of either version may carry
    either seal."""
    v1 = {"epk": "ZXBr", "nonce": "bm9uY2U", "ct": "Y3Q"}
    v2 = {"v": 2, "epk": "ZXBr", "ct": "Y3Q"}
    for envelope_v in (1, 2):
        for seal, model in ((v1, SealedV1), (v2, Sealed)):
            data = with_change("outcome.payload", seal, provider_reply_data())
            data["envelope"]["v"] = envelope_v
            reply = decode(body_of(data))
            assert isinstance(reply, ProviderReply)
            assert isinstance(reply.outcome, Answered)
            assert type(reply.outcome.payload) is model


@pytest.mark.parametrize(
    "seal",
    [
        {"v": 3, "epk": "ZXBr", "ct": "Y3Q"},
        {"v": 1, "epk": "ZXBr", "nonce": "bm9uY2U", "ct": "Y3Q"},
        {"v": "2", "epk": "ZXBr", "ct": "Y3Q"},
        {"v": 2, "epk": "ZXBr", "nonce": "bm9uY2U", "ct": "Y3Q"},  # a v2 seal has no nonce
        {"epk": "ZXBr", "ct": "Y3Q"},  # a v1 seal has one
    ],
    ids=["v3", "v1-said", "v-text", "v2-nonce", "v1-no-nonce"],
)
def test_a_seal_of_no_known_version_is_refused(seal: dict[str, Any]) -> None:
    refused(body_of(with_change("outcome.payload", seal, provider_reply_data())))


@pytest.mark.parametrize("v", [3, 0, "1", None])
def test_a_reader_takes_wire_versions_1_and_2_only(v: Any) -> None:
    """The version rule docs/operations.md states for mixed versions: an envelope says
    ``"v": 1`` or ``2`` (nothing: the current one); any other version is malformed, named."""
    error = str(refused(body_of(with_change("envelope.v", v))))
    assert error.startswith("query.envelope.v: ")


@pytest.mark.parametrize("kind", ["mystery", "", "Query", None, 1])
def test_an_unknown_kind_is_refused(kind: Any) -> None:
    error = str(refused(body_of(with_change("kind", kind))))
    assert error.startswith(f"message: Input tag '{kind}' found using 'kind' does not match")
    assert "'query'" in error


def storable(text: str) -> None:
    """What a reply, an access record (PostgreSQL text) and a log line can carry."""
    assert text.isprintable()
    assert "\x00" not in text
    text.encode("utf-8")  # no lone surrogate
    assert len(text) <= 2000  # an outcome's reason (Text)


@pytest.mark.parametrize(
    "kind",
    ["x" * 3000, "a\x00b", "\x00" * 3000, "\x1b[31mred\x1b[0m", "k\u2028\u0085"],
    ids=["3000-characters", "nul", "3000-nuls", "escape-codes", "line-breaks"],
)
def test_a_poison_kind_is_explained_cut_and_escaped(kind: str) -> None:
    """The explanation quotes the tag a sender chose: it must not carry it as sent (a 3,000-
    character reason is longer than an outcome's, a NUL cannot go into a record)."""
    error = str(refused(body_of(with_change("kind", kind))))
    storable(error)
    assert error.startswith("message: Input tag '")
    assert "'query'" in error  # what was expected is still said


def test_a_poison_field_name_is_cut_and_escaped_in_the_location() -> None:
    error = str(refused(body_of(query_data() | {"\x00" * 500 + "y" * 3000: 1})))
    storable(error)
    assert "Extra inputs are not permitted" in error


@given(st.dictionaries(st.text(), st.text(), max_size=4), st.text())
def test_every_explanation_is_storable(extra: dict[str, str], kind: str) -> None:
    data: dict[str, Any] = {**query_data(), **extra, "kind": kind}
    try:
        decode(json.dumps(data).encode())
    except WireError as exc:
        storable(str(exc))


def test_only_json_is_taken() -> None:
    check_content_type(CONTENT_TYPE)
    for wrong in ("text/plain", "application/json; charset=utf-8", "", None, "a\x00" * 100):
        with pytest.raises(WrongContentType) as caught:
            check_content_type(wrong)
        assert caught.value.code == "wire.content_type"
        storable(str(caught.value))


def test_a_message_without_a_kind_is_refused() -> None:
    assert str(refused(body_of(without("kind")))) == (
        "message: Unable to extract tag using discriminator 'kind'"
    )


def test_an_unknown_outcome_status_is_refused() -> None:
    data = with_change("outcome.status", "maybe", provider_reply_data())
    assert str(refused(body_of(data))).startswith(
        "provider_reply.outcome: Input tag 'maybe' found using 'status'"
    )


@pytest.mark.parametrize(
    "path",
    [
        "envelope",
        "person",
        "items",
        "envelope.message_id",
        "envelope.correlation_id",
        "envelope.sender",
        "envelope.recipient",
        "envelope.affair",
        "envelope.issued_at",
        "envelope.deadline",
        "envelope.traceparent",
    ],
)
def test_a_missing_field_is_refused_by_name(path: str) -> None:
    error = refused(body_of(without(path)))
    assert f"query.{path}: Field required" in str(error)


@pytest.mark.parametrize(
    "path", ["params", "not_disclosed", "envelope.v"], ids=["params", "flag", "version"]
)
def test_fields_with_defaults_may_be_left_out(path: str) -> None:
    assert isinstance(decode(body_of(without(path))), Query)


@pytest.mark.parametrize("path", ["envelope.issued_at", "envelope.deadline"])
def test_a_naive_timestamp_is_refused(path: str) -> None:
    error = refused(body_of(with_change(path, "2025-06-01T09:00:00")))
    assert "time zone" in str(error)


def test_nine_parameters_are_too_many_and_eight_are_not() -> None:
    eight = {f"p{i}": i for i in range(8)}
    assert decode(body_of(with_change("params", eight))).params == eight
    error = refused(body_of(with_change("params", eight | {"p8": 8})))
    assert "at most 8 parameters" in str(error)


@pytest.mark.parametrize(
    "params",
    [
        {"Fiscal": 1},
        {"1year": 1},
        {"a" * 33: 1},
        {"x": "v" * 201},
        {"x": 2**63},
        {"x": -(2**63) - 1},
    ],
    ids=["upper-case-name", "digit-first", "long-name", "long-value", "2^63", "-2^63-1"],
)
def test_badly_named_or_oversized_parameters_are_refused(params: dict[str, Any]) -> None:
    """A number over 64 bits reached the provider (found by tests/e2e/test_raw_amqp_attacks):
    no database column or orjson holds it."""
    body = json.dumps(with_change("params", params)).encode()  # orjson writes no such number
    assert "query.params" in str(refused(body))


def test_a_parameter_of_64_bits_is_taken() -> None:
    for n in (2**63 - 1, -(2**63)):
        assert decode(body_of(with_change("params", {"x": n}))).params == {"x": n}


@pytest.mark.parametrize(
    "items",
    [[], [f"item_{i}" for i in range(17)], ["Local_tax"], ["x"], ["local-tax"], ["a" * 49]],
    ids=["none", "seventeen", "upper-case", "too-short", "dash", "too-long"],
)
def test_items_out_of_range_are_refused(items: list[str]) -> None:
    assert "query.items" in str(refused(body_of(with_change("items", items))))


def test_sixteen_items_are_allowed() -> None:
    items = [f"item_{i}" for i in range(16)]
    assert len(decode(body_of(with_change("items", items))).items) == 16


@pytest.mark.parametrize(
    "code",
    [
        "Chiyoda",
        "chiyoda_tax",
        "-chiyoda",
        "chiyoda-",
        "chiyoda--tax",
        "",
        "a" * 41,
        "chiyoda tax",
        "ｃｈｉｙｏｄａ",  # full-width look-alikes
        "chiyodа",  # the last letter is Cyrillic
    ],
)
def test_bad_office_codes_are_refused(code: str) -> None:
    error = refused(body_of(with_change("envelope.recipient", code)))
    assert "query.envelope.recipient" in str(error)


def test_an_office_code_of_forty_characters_is_allowed() -> None:
    assert decode(body_of(with_change("envelope.sender", "a" * 40))).envelope.sender == "a" * 40


@pytest.mark.parametrize(
    "traceparent",
    [
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        "",
    ],
    ids=["version", "upper-case", "short-trace-id", "no-flags", "trailing", "empty"],
)
def test_a_bad_traceparent_is_refused(traceparent: str) -> None:
    error = refused(body_of(with_change("envelope.traceparent", traceparent)))
    assert "query.envelope.traceparent" in str(error)


@pytest.mark.parametrize("person", ["short", "T" * 121, "T" * 43 + "=", "T" * 43 + "/"])
def test_a_malformed_token_is_refused(person: str) -> None:
    assert "query.person" in str(refused(body_of(with_change("person", person))))


def padded_to(size: int) -> bytes:
    """A valid query padded with JSON whitespace to exactly ``size`` bytes."""
    body = body_of(query_data())
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_a_message_of_exactly_64_kib_is_decoded() -> None:
    assert isinstance(decode(padded_to(MAX_MESSAGE_BYTES)), Query)


@pytest.mark.parametrize("size", [MAX_MESSAGE_BYTES + 1, 10 * MAX_MESSAGE_BYTES])
def test_a_message_over_64_kib_is_too_large(size: int) -> None:
    with pytest.raises(MessageTooLarge) as caught:
        decode(padded_to(size))
    assert caught.value.code == "wire.too_large"
    assert str(caught.value) == f"message of {size} bytes exceeds {MAX_MESSAGE_BYTES}"


def test_an_oversized_body_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(MessageTooLarge):
        decode(b"\xff" * (MAX_MESSAGE_BYTES + 1))


@pytest.mark.parametrize(
    "reason",
    [
        "🙂👨‍👩‍👧",
        "مرحبا",
        "e\u0301",
        "\u200b\u200d\ufeff",
        "a\x00b",
        "千代田区 税務課",
        "\U0010ffff",
    ],
    ids=["emoji", "rtl", "combining", "zero-width", "nul", "kanji", "last-code-point"],
)
def test_odd_unicode_in_free_text_is_carried_unchanged(reason: str) -> None:
    data = with_change("outcome", {"status": "not_found", "reason": reason}, provider_reply_data())
    message = decode(body_of(data))
    assert message.outcome.reason == reason  # type: ignore[union-attr]
    assert decode(encode(message)) == message


def test_a_lone_surrogate_is_refused() -> None:
    body = body_of(query_data()).replace(b'"fiscal_year":2025', b'"note":"\\ud800"')
    assert "Invalid JSON" in str(refused(body))


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        body_of(query_data()).replace(b"2025}", b"[" * 3000 + b"]" * 3000 + b"}"),
    ],
    ids=["arrays", "objects", "inside-a-query"],
)
def test_deeply_nested_json_is_refused(body: bytes) -> None:
    assert len(body) <= MAX_MESSAGE_BYTES
    refused(body)


def test_a_huge_number_is_refused() -> None:
    body = body_of(query_data()).replace(b"2025}", b"9" * 5000 + b"}")
    refused(body)


def test_the_explanation_names_at_most_three_problems_and_counts_the_rest() -> None:
    data = query_data()
    data["envelope"] = {}
    error = refused(body_of(data))
    assert str(error).count("Field required") == 3
    assert str(error).endswith("(+5 more)")


@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_refused_with_a_wire_error(body: bytes) -> None:
    with pytest.raises(WireError) as caught:
        decode(body)
    assert str(caught.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(json_values)
def test_arbitrary_json_is_refused_as_malformed(value: Any) -> None:
    with pytest.raises(MalformedMessage):
        decode(json.dumps(value).encode())


SENDER = OfficeKeys.from_seed(bytes(64))
FIXED = decode(body_of(query_data()))
IN_PERSON = encode(FIXED).index(b'"person":"') + 12  # a token character: still a valid token


def read(body: bytes, signature: str) -> None:
    """What the hub does with a message before acting on it: decode it, check its signature."""
    decode(body)
    verify(body, signature, SENDER.public.verify)


@given(queries, st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4))
@example(FIXED, [(IN_PERSON, ord("U"))])  # decodes still: only the signature tells
def test_a_corrupted_message_is_refused_with_a_wire_error(
    message: Query, changes: list[tuple[int, int]]
) -> None:
    sent = encode(message)
    signature = sign(sent, SENDER.signing)
    body = bytearray(sent)
    for at, value in changes:
        body[at % len(body)] = value
    if body == sent:
        read(sent, signature)  # unchanged: taken
        return
    with pytest.raises(WireError) as caught:
        read(bytes(body), signature)
    assert str(caught.value)


def test_an_office_cannot_date_its_own_enrollment_nor_learn_how_many_hold_a_person() -> None:
    sealed = {"epk": "ZXBr", "nonce": "bm9uY2U", "ct": "Y3Q"}
    enroll = {"kind": "enroll", "envelope": query_data()["envelope"], "number": sealed}
    decode(body_of(enroll))
    assert "held_since" in str(refused(body_of({**enroll, "held_since": "2019-01-01"})))
    reply = provider_reply_data() | {"outcome": {"status": "delivered"}}
    decode(body_of(reply))
    refused(body_of(reply | {"outcome": {"status": "delivered", "offices": 2}}))
