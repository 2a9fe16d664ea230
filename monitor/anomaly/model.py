"""What the anomaly engine reads and what it says.

`Access` is one access record as the engine sees it: the record's id and position, the hub's
time, who asked whom under which affair, the outcome — and ``subject``, an opaque pseudonym
of the person (a keyed hash made by the monitor's reader, `pseudonym`), used only to tell
look-ups of the same person apart. The engine never puts a subject into a `Finding`: a
finding names offices, affairs, counts and record ids (which the oversight commission may
audit in the records), never a token, a number, a name or a pseudonym.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Access", "Fact", "Finding", "pseudonym"]

Fact = str | int | float | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Access:
    record_id: str
    seq: int
    at: dt.datetime  # the hub's asked_at, timezone-aware
    requester: str
    provider: str
    affair: str
    outcome: str  # ok, refused, not_found, error, timed_out
    subject: str = field(default="", repr=False)  # a pseudonym; "" when the hub knew no person


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's verdict: ``subject`` is what it is about (an office code, or ``records``)."""

    rule: str
    subject: str
    severity: str
    at: dt.datetime
    summary: str
    facts: Mapping[str, Fact] = field(default_factory=dict)


def pseudonym(key: bytes, person: str) -> str:
    """The engine's handle on a person: HMAC-SHA-256 of the hub's token under a key the
    monitor makes at start and never stores, so a handle means nothing outside the process."""
    if not person:
        return ""
    return hmac.new(key, person.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]
