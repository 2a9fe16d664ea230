"""The sealed routing context: any hub worker opens what another sealed; nobody else can."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.records import digest
from hub.routing.context import Context, ContextSealer
from hub.routing.exceptions import ForgedContext, RoutingError
from hub.wire import b64d, b64e

KEY = bytes(range(32))
SEALER = ContextSealer(KEY)
T0 = dt.datetime(2025, 6, 1, 0, 0, tzinfo=dt.UTC)

office = st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,8}){0,2}", fullmatch=True)
code = st.from_regex(r"[a-z][a-z0-9_]{1,20}", fullmatch=True)
# Microseconds survive the float timestamp for any instant before 2100 (spacing < 0.5 µs).
instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
contexts = st.builds(
    Context,
    kind=st.sampled_from(["query", "enroll"]),
    query_id=st.uuids(),
    requester=office,
    provider=office | st.just(""),
    affair=code,
    items=st.lists(code, max_size=16).map(tuple),
    person=st.text(max_size=120),
    asked_at=instants,
    deadline=instants,
    query_digest=st.binary(max_size=32),
    traceparent=st.text(max_size=60),
    not_disclosed=st.booleans(),
    withheld_until=st.none() | instants,
    withheld_reason=st.text(max_size=200),
)


def a_context(**changes: object) -> Context:
    fields: dict[str, object] = {
        "kind": "query",
        "query_id": uuid.UUID(int=42),
        "requester": "chiyoda-child",
        "provider": "chiyoda-tax",
        "affair": "child_allowance",
        "items": ("local_tax",),
        "person": "H" * 44,
        "asked_at": T0,
        "deadline": T0 + dt.timedelta(seconds=10),
        "query_digest": digest(b"the query"),
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    fields.update(changes)
    return Context(**fields)  # type: ignore[arg-type]


@given(contexts)
def test_a_sealed_context_opens_to_the_same_context(ctx: Context) -> None:
    assert SEALER.open(SEALER.seal(ctx)) == ctx


@given(contexts)
def test_another_worker_with_the_same_key_opens_it(ctx: Context) -> None:
    assert ContextSealer(KEY).open(SEALER.seal(ctx)) == ctx


def test_a_context_in_another_time_zone_opens_to_the_same_instants() -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    ctx = a_context(asked_at=T0.astimezone(tokyo), deadline=T0.astimezone(tokyo))
    opened = SEALER.open(SEALER.seal(ctx))
    assert opened.asked_at == T0
    assert opened.asked_at.tzinfo == dt.UTC


def test_the_sealed_text_is_wire_safe_and_hides_the_person() -> None:
    text = SEALER.seal(a_context())
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert "H" * 10 not in text
    assert b"chiyoda" not in b64d(text)


def test_sealing_twice_gives_different_texts() -> None:
    assert SEALER.seal(a_context()) != SEALER.seal(a_context())


def forged(text: str, sealer: ContextSealer = SEALER) -> ForgedContext:
    with pytest.raises(ForgedContext) as caught:
        sealer.open(text)
    assert isinstance(caught.value, RoutingError)
    assert caught.value.code == "routing.forged_context"
    assert "altered or is not the hub's" in str(caught.value)
    return caught.value


@given(st.data())
def test_any_altered_bit_is_detected(data: st.DataObject) -> None:
    raw = bytearray(b64d(SEALER.seal(a_context())))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= 1 << data.draw(st.integers(0, 7))
    forged(b64e(bytes(raw)))


@pytest.mark.parametrize("keep", [0, 1, 11, 12, 27, -1])
def test_a_truncated_context_is_forged(keep: int) -> None:
    raw = b64d(SEALER.seal(a_context()))
    forged(b64e(raw[:keep]))


def test_a_context_sealed_under_another_key_is_forged() -> None:
    foreign = ContextSealer(bytes(32)).seal(a_context())
    forged(foreign)


def test_a_context_with_bytes_appended_is_forged() -> None:
    forged(SEALER.seal(a_context()) + "AAAA")


@pytest.mark.parametrize("text", ["", "AAAA", "!!!!", "not a context at all"])
def test_garbage_is_forged(text: str) -> None:
    forged(text)


@pytest.mark.parametrize("text", ["A", "AAAAA", "é"], ids=["one-char", "five-chars", "non-ascii"])
def test_text_that_is_not_base64url_is_forged(text: str) -> None:
    forged(text)


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_the_context_key_must_be_32_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ContextSealer(b"\1" * size)
