"""Query claims: a query id is taken once, before anything is forwarded.

The access record of a query is written only when it ends, so it cannot stop a second copy of
the query (the same bytes again, or a copy re-signed with other parameters) from being
forwarded while the first is in flight. A claim can: the hub claims the query's key (its
``record_key``, which is also the key of its access record) when the query arrives, in the
shared store, so every hub worker sees it. A claim answers what the store knows of the key: a
fresh claim, an earlier claim (and the digest of the message that made it), or a record
already written under it.

Claims are only kept for ``keep`` (the hub passes twice its clock-skew window): a later copy
either carries an ``issued_at`` the hub refuses as too old, or was re-signed with a new one,
and then the record of the first copy (written at the latest when its deadline passed) stops
it. `Claimer` batches the claims of concurrent queries into one store call (one round trip
per batch, as `RecordWriter` does for records) and forgets expired claims now and then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from hub.batch import Batcher
from hub.records.exceptions import ConfigError

__all__ = ["SWEEP_EVERY", "Claim", "ClaimState", "ClaimStore", "Claimer", "settle"]

SWEEP_EVERY = dt.timedelta(seconds=30)
"""How often a claimer deletes the claims older than its ``keep`` (one statement)."""


@dataclass(frozen=True, slots=True)
class Claim:
    key: UUID  # the query's record key: its id within its requester's ids
    digest: bytes  # sha256 of the message that claims it


@dataclass(frozen=True, slots=True)
class ClaimState:
    """What the store knew of a key when it was claimed."""

    fresh: bool  # first claim, and no record under the key: the query may go ahead
    digest: bytes | None = None  # the earlier claim's message digest, when one is known
    recorded: bool = False  # an access record under the key exists already


def settle(claims: Sequence[Claim], found: Sequence[ClaimState]) -> list[ClaimState]:
    """Claims of one batch, in order: a key claimed afresh earlier in the same batch is taken
    by that claim (a store that claims the whole batch at once reports both as fresh)."""
    fresh: dict[UUID, bytes] = {}
    out: list[ClaimState] = []
    for claim, state in zip(claims, found, strict=True):
        if claim.key in fresh:
            out.append(ClaimState(False, fresh[claim.key], state.recorded))
            continue
        if state.fresh:
            fresh[claim.key] = claim.digest
        out.append(state)
    return out


class ClaimStore(Protocol):
    """What a `Claimer` needs of a records store (`MemoryRecordStore`, `PgRecordStore`)."""

    async def claim(self, claims: Sequence[Claim], at: dt.datetime) -> list[ClaimState]:
        """Claim each key at ``at`` unless it is claimed already; say what was known of it
        (in order: a key twice in ``claims`` is taken by its first claim)."""
        ...

    async def forget_claims(self, before: dt.datetime) -> int:
        """Delete the claims made before ``before``; how many."""
        ...


class Claimer:
    """Batches concurrent claims into the store, one call per batch (one per event loop)."""

    def __init__(
        self,
        store: ClaimStore,
        *,
        keep: dt.timedelta,
        clock: Callable[[], dt.datetime],
        max_batch: int = 500,
        sweep_every: dt.timedelta = SWEEP_EVERY,
    ) -> None:
        if keep <= dt.timedelta(0) or max_batch < 1:
            raise ConfigError("a claimer keeps claims a positive time, in batches of 1 or more")
        self._store = store
        self._keep = keep
        self._clock = clock
        self._sweep_every = sweep_every
        self._swept: dt.datetime | None = None
        self._batcher: Batcher[Claim, ClaimState] = Batcher(self._flush, max_batch=max_batch)
        self.batches = 0
        """Store calls made so far (for metrics and tests)."""

    async def claim(self, key: UUID, digest: bytes) -> ClaimState:
        return await self._batcher.submit(Claim(key, digest))

    async def _flush(self, claims: Sequence[Claim]) -> list[ClaimState]:
        self.batches += 1
        now = self._clock()
        if self._swept is None or now - self._swept >= self._sweep_every:
            await self._store.forget_claims(now - self._keep)
            self._swept = now
        return await self._store.claim(list(claims), now)

    async def close(self) -> None:
        await self._batcher.close()
