"""Held replies: an answer the hub made itself, kept sealed until it can no longer be asked for.

A provider's answer that the hub recorded and whose reply was lost (the hub killed, its
connection cut, the broker restarting between the record and the reply) comes back from the
broker and is sent again from there. An answer the hub makes itself — the portal's disclosure
(情報提供等記録の開示), where to file an application — has no such message: the broker
redelivers the request, whose record says ``ok`` and holds no content. So the hub keeps the
reply's outcome as it was sent — the payload sealed for the requester, which the hub itself
cannot open — under the query's record key and the digest the record carries, before it writes
the record; the redelivered request sends that again. Not evidence: kept only until the
query's deadline and a slack (``until``), then deleted, as the query claims are.

Keyed by the record key *and* the digest: two workers that took the same request (one whose
connection was cut but went on) each hold their own answer, and the one the record names — the
first recorded — is the one sent again. The record key holds the requester (``record_key``), so
nobody gets another office's reply by reusing its query id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from hub.batch import Batcher
from hub.records.claims import SWEEP_EVERY
from hub.records.exceptions import ConfigError
from hub.records.model import digest as sha256

__all__ = ["HeldReply", "HeldStore", "ReplyHold"]


@dataclass(frozen=True, slots=True)
class HeldReply:
    key: UUID  # the query's record key (requester and query id)
    digest: bytes  # sha256 of ``body``: the record's ``reply_digest``
    body: bytes  # the outcome as sent, its payload sealed for the requester
    until: dt.datetime  # deleted after this


class HeldStore(Protocol):
    """What a `ReplyHold` needs of a records store (`MemoryRecordStore`, `PgRecordStore`)."""

    async def hold_replies(self, held: Sequence[HeldReply]) -> None:
        """Keep each (a key and digest kept already stays as it is)."""
        ...

    async def held_reply(self, key: UUID, digest: bytes) -> bytes | None:
        """The body held under ``key`` and ``digest``, if any."""
        ...

    async def forget_held(self, before: dt.datetime) -> int:
        """Delete those kept until before ``before``; how many."""
        ...


class ReplyHold:
    """Batches concurrent holds into the store (one call per batch) and deletes the expired
    ones now and then; a body read back is checked against its digest."""

    def __init__(
        self,
        store: HeldStore,
        *,
        clock: Callable[[], dt.datetime],
        max_batch: int = 500,
        sweep_every: dt.timedelta = SWEEP_EVERY,
    ) -> None:
        if max_batch < 1:
            raise ConfigError("replies are held in batches of 1 or more")
        self._store = store
        self._clock = clock
        self._sweep_every = sweep_every
        self._swept: dt.datetime | None = None
        self._batcher: Batcher[HeldReply, None] = Batcher(self._flush, max_batch=max_batch)

    async def hold(self, key: UUID, body: bytes, until: dt.datetime) -> bytes:
        """Keep ``body`` under ``key`` until ``until``, durably once the query's record is
        (the store may commit it without waiting for the flush: the record's commit, later
        on the same server, flushes it); its digest."""
        found = sha256(body)
        await self._batcher.submit(HeldReply(key, found, body, until))
        return found

    async def held(self, key: UUID, digest: bytes) -> bytes | None:
        body = await self._store.held_reply(key, digest)
        return body if body is not None and sha256(body) == digest else None

    async def _flush(self, held: Sequence[HeldReply]) -> list[None]:
        now = self._clock()
        if self._swept is None or now - self._swept >= self._sweep_every:
            await self._store.forget_held(now)
            self._swept = now
        await self._store.hold_replies(list(held))
        return [None] * len(held)

    async def close(self) -> None:
        await self._batcher.close()
