"""Canonical, versioned byte encoding of chained content (pure; no I/O, no logging).

Layout of a record's hashed content (all integers big-endian)::

    version  u8 = 1
    seq      u64
    prev     32 bytes
    record_id, query_id               16 bytes each (UUID.bytes)
    requester, provider, affair       u32 length + UTF-8
    items    u32 count, then each     u32 length + UTF-8
    asked_at, answered_at             i64 microseconds since 1970-01-01 UTC
    outcome, reason, person           u32 length + UTF-8
    query_digest, reply_digest        u32 length + bytes

Every variable-length field is length-prefixed, so two different records can never encode to
the same bytes.  ``not_disclosed`` is deliberately absent (see `hub.records.flags`).  A future
layout gets a new version byte; verifiers dispatch on it, so old records stay verifiable.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol
from uuid import UUID

__all__ = [
    "RECORD_VERSION",
    "Content",
    "encode_record",
    "micros",
    "record_hash",
    "text",
]

RECORD_VERSION: Final = 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)


class Content(Protocol):
    """The fields a record and a draft share (read-only)."""

    @property
    def record_id(self) -> UUID: ...
    @property
    def query_id(self) -> UUID: ...
    @property
    def requester(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def affair(self) -> str: ...
    @property
    def items(self) -> Sequence[str]: ...
    @property
    def asked_at(self) -> datetime: ...
    @property
    def answered_at(self) -> datetime: ...
    @property
    def outcome(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def person(self) -> str: ...
    @property
    def query_digest(self) -> bytes: ...
    @property
    def reply_digest(self) -> bytes: ...


_HEAD: Final = struct.Struct(">BQ32s16s16s").pack
_LEN: Final = struct.Struct(">I").pack
_TIMES: Final = struct.Struct(">qq").pack


def text(value: str) -> bytes:
    """u32 length prefix + UTF-8."""
    raw = value.encode("utf-8")
    return _LEN(len(raw)) + raw


def micros(value: datetime) -> bytes:
    """i64 microseconds since the epoch (PostgreSQL ``timestamptz`` precision)."""
    return ((value - _EPOCH) // _MICRO).to_bytes(8, "big", signed=True)


def encode_record(seq: int, prev_hash: bytes, c: Content) -> bytes:
    """The canonical bytes hashed for the record at ``seq`` linked to ``prev_hash``."""
    if len(prev_hash) != 32:
        raise ValueError("prev_hash must be 32 bytes")
    out = [_HEAD(RECORD_VERSION, seq, prev_hash, c.record_id.bytes, c.query_id.bytes)]
    append = out.append
    for value in (c.requester, c.provider, c.affair):
        raw = value.encode("utf-8")
        append(_LEN(len(raw)))
        append(raw)
    append(_LEN(len(c.items)))
    for value in c.items:
        raw = value.encode("utf-8")
        append(_LEN(len(raw)))
        append(raw)
    append(_TIMES((c.asked_at - _EPOCH) // _MICRO, (c.answered_at - _EPOCH) // _MICRO))
    for value in (c.outcome, c.reason, c.person):
        raw = value.encode("utf-8")
        append(_LEN(len(raw)))
        append(raw)
    for blob in (c.query_digest, c.reply_digest):
        append(_LEN(len(blob)))
        append(blob)
    return b"".join(out)


def record_hash(seq: int, prev_hash: bytes, c: Content) -> bytes:
    """sha256 of `encode_record`."""
    return hashlib.sha256(encode_record(seq, prev_hash, c)).digest()
