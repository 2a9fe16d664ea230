"""The hub's routing context: what a worker needs to finish a query it did not start.

Sealed (AES-GCM under the hub's context key) into the forwarded message; the provider echoes it
back unread. So any hub worker can take any reply: the workers keep no state between messages.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.routing.exceptions import ForgedContext
from hub.wire import WireError, b64d, b64e

__all__ = ["Context", "ContextSealer", "Kind"]

Kind = Literal["query", "enroll", "change", "identify", "notice"]


@dataclass(frozen=True, slots=True)
class Context:
    kind: Kind
    query_id: UUID
    requester: str
    provider: str
    affair: str
    items: tuple[str, ...]
    person: str  # the hub's own token for the person ("" before it is known)
    asked_at: dt.datetime
    deadline: dt.datetime
    query_digest: bytes
    traceparent: str
    not_disclosed: bool = False
    # 不開示 granted by law (not_disclosed): until when, and the basis for the flag log
    withheld_until: dt.datetime | None = None
    withheld_reason: str = ""

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            [
                self.kind,
                str(self.query_id),
                self.requester,
                self.provider,
                self.affair,
                self.items,
                self.person,
                self.asked_at.timestamp(),
                self.deadline.timestamp(),
                self.query_digest.hex(),
                self.traceparent,
                self.not_disclosed,
                self.withheld_until.timestamp() if self.withheld_until else None,
                self.withheld_reason,
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Context:
        k, q, r, p, a, i, person, asked, deadline, d, tp, nd, until, why = orjson.loads(data)
        return cls(
            k,
            UUID(q),
            r,
            p,
            a,
            tuple(i),
            person,
            dt.datetime.fromtimestamp(asked, dt.UTC),
            dt.datetime.fromtimestamp(deadline, dt.UTC),
            bytes.fromhex(d),
            tp,
            nd,
            None if until is None else dt.datetime.fromtimestamp(until, dt.UTC),
            why,
        )


class ContextSealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the context key is 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, ctx: Context) -> str:
        nonce = os.urandom(12)
        return b64e(nonce + self._aead.encrypt(nonce, ctx.to_bytes(), b"renkei ctx v1"))

    def open(self, text: str) -> Context:
        try:
            raw = b64d(text)
            return Context.from_bytes(self._aead.decrypt(raw[:12], raw[12:], b"renkei ctx v1"))
        except (InvalidTag, ValueError, TypeError, WireError, orjson.JSONDecodeError) as exc:
            raise ForgedContext("the routing context was altered or is not the hub's") from exc
