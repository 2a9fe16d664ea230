"""Hypothesis strategies for valid wire messages, and a valid query as plain JSON data."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from hypothesis import strategies as st

from hub.wire import (
    Answered,
    Enrolled,
    Envelope,
    Failed,
    ForwardedQuery,
    NotFound,
    ProviderReply,
    Query,
    Refused,
    Reply,
    Resolved,
    Sealed,
    SealedV1,
    TimedOut,
    b64e,
)

office_codes = st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,8}){0,2}", fullmatch=True)
codes = st.from_regex(r"[a-z][a-z0-9_]{1,30}", fullmatch=True)  # affairs and items
tokens = st.from_regex(r"[A-Za-z0-9_-]{20,120}", fullmatch=True)
b64 = st.binary(max_size=300).map(b64e)
hex_chars = "0123456789abcdef"
traceparents = st.builds(
    lambda t, s, f: f"00-{t}-{s}-{f}",
    st.text(hex_chars, min_size=32, max_size=32),
    st.text(hex_chars, min_size=16, max_size=16),
    st.text(hex_chars, min_size=2, max_size=2),
)
# Fixed whole-minute offsets: every instant has one spelling, so re-encoding is byte-exact.
zones = st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
instants = st.datetimes(
    min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=zones
)
texts = st.text(max_size=300)  # any Unicode but lone surrogates: emoji, RTL, NUL, combining
error_codes = st.from_regex(r"[a-z_]{1,10}(\.[a-z_]{1,10}){1,3}", fullmatch=True)
params = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True),
    st.text(max_size=200) | st.integers(-(2**63), 2**63 - 1),  # the wire takes 64 bits
    max_size=8,
)
items = st.lists(codes, min_size=1, max_size=16).map(tuple)

envelopes = st.builds(
    Envelope,
    v=st.sampled_from([1, 2]),
    message_id=st.uuids(),
    correlation_id=st.uuids(),
    sender=office_codes,
    recipient=office_codes,
    affair=codes,
    issued_at=instants,
    deadline=instants,
    traceparent=traceparents,
)
sealed = st.builds(Sealed, epk=b64, ct=b64) | st.builds(SealedV1, epk=b64, nonce=b64, ct=b64)
outcomes = st.one_of(
    st.builds(Answered, payload=sealed),
    st.builds(Enrolled, token=tokens),
    st.builds(Resolved, rrc=sealed),
    st.builds(Refused, code=error_codes, reason=texts),
    st.builds(NotFound, reason=texts),
    st.builds(
        Failed,
        family=st.sampled_from(["requester", "provider", "provider_system", "hub"]),
        code=error_codes,
        reason=texts,
    ),
    st.builds(TimedOut, reason=texts),
)
queries = st.builds(
    Query,
    envelope=envelopes,
    person=tokens,
    items=items,
    params=params,
    not_disclosed=st.booleans(),
)
forwarded_queries = st.builds(
    ForwardedQuery,
    envelope=envelopes,
    requester=office_codes,
    person=tokens,
    items=items,
    params=params,
    seal_to=b64,
    context=b64,
)
provider_replies = st.builds(ProviderReply, envelope=envelopes, context=b64, outcome=outcomes)
replies = st.builds(Reply, envelope=envelopes, outcome=outcomes, record_id=st.none() | st.uuids())

TOKEN = "T" * 44


def query_data() -> dict[str, Any]:
    """A valid query as the JSON a requester sends; tests break one thing in it at a time."""
    return {
        "kind": "query",
        "envelope": {
            "v": 2,
            "message_id": str(uuid.UUID(int=1)),
            "correlation_id": str(uuid.UUID(int=1)),
            "sender": "chiyoda-child",
            "recipient": "chiyoda-tax",
            "affair": "child_allowance",
            "issued_at": "2025-06-01T09:00:00+09:00",
            "deadline": "2025-06-01T09:00:10+09:00",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        },
        "person": TOKEN,
        "items": ["local_tax"],
        "params": {"fiscal_year": 2025},
        "not_disclosed": False,
    }


def provider_reply_data() -> dict[str, Any]:
    """A valid provider reply carrying an answer, as JSON data."""
    envelope = query_data()["envelope"] | {"sender": "chiyoda-tax", "recipient": "hub"}
    return {
        "kind": "provider_reply",
        "envelope": envelope,
        "context": "Y29udGV4dA",
        "outcome": {"status": "ok", "payload": {"v": 2, "epk": "ZXBr", "ct": "Y3Q"}},
    }
