"""The access-record chain, verified continuously by the monitor (`hub.records`' verifier).

Each ``check()`` reads what was written since the last one — the checkpoints and the
witness's heads first, then the records from the last verified seq to the head, page by page
— and verifies them as a continuation of the chain verified so far (`Verifier(start=…)`):
links, hashes, seals, due checkpoints, forged checkpoints, witnessed heads, an unsigned or
truncated end. Every ``full_every`` checks (and at the first) it verifies the whole store
again (`verify_store`, the disclosure-flag log too), from one snapshot: records changed,
removed or swapped after they were verified are found then. The state says the last verified
record, the last checkpoint, and where and why the chain broke; a break stays until a full
verification finds the chain whole again (an operator repaired it).

The records read are handed back, verified or not, for the anomaly engine (`monitor.oversight`):
those written since the monitor started (the engine does not replay history at a restart).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.records import (
    AccessRecord,
    Checkpoint,
    RecordsError,
    RecordStore,
    Verifier,
    verify_store,
)
from hub.records.checkpoints import checkpoint_valid

__all__ = ["ChainState", "ChainWatch"]

Witnessed = Callable[[], Sequence[Checkpoint]]


@dataclass(frozen=True, slots=True)
class ChainState:
    """What the console shows of the chain. ``broken_at`` None: intact as far as verified."""

    verified_seq: int = 0
    verified_hash: str = ""  # hex
    checked_at: dt.datetime | None = None
    last_checkpoint_seq: int | None = None
    last_checkpoint_at: dt.datetime | None = None
    full_checked_at: dt.datetime | None = None
    broken_at: int | None = None
    problem: str | None = None
    detail: str = "not verified yet"

    @property
    def ok(self) -> bool:
        return self.broken_at is None and self.checked_at is not None

    def as_json(self) -> dict[str, Any]:
        def iso(t: dt.datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {
            "ok": self.ok,
            "verified_seq": self.verified_seq,
            "verified_hash": self.verified_hash,
            "checked_at": iso(self.checked_at),
            "last_checkpoint_seq": self.last_checkpoint_seq,
            "last_checkpoint_at": iso(self.last_checkpoint_at),
            "full_checked_at": iso(self.full_checked_at),
            "broken_at": self.broken_at,
            "problem": self.problem,
            "detail": self.detail,
        }


class ChainWatch:
    def __init__(
        self,
        records: RecordStore,
        public_key: Ed25519PublicKey,
        *,
        witnessed: Witnessed = lambda: (),
        page: int = 1000,
        full_every: int = 720,
        replay_from: int | None = None,
    ) -> None:
        """``public_key``: the hub's, from the network's public keys (never the store's).
        ``replay_from``: hand the engine the records after this seq too (None: only those
        written after the first check)."""
        self._records = records
        self._key = public_key
        self._witnessed = witnessed
        self._page = page
        self._full_every = full_every
        self._checks = 0
        self._read = replay_from or 0  # the last seq handed to the engine
        self._replay = replay_from is not None
        self._head: tuple[int, bytes] = (0, b"")
        self._signed: set[tuple[int, int, bytes]] = set()  # checkpoints whose signature held
        self.state = ChainState()

    @property
    def checkpoint_every(self) -> int:
        """The hub signs a checkpoint every this many records."""
        return self._records.checkpoint_every

    async def check(self, now: dt.datetime) -> list[AccessRecord]:
        """Verify what is new (all of it every ``full_every`` checks); the new records."""
        try:
            if self._checks == 0 and not self._replay:  # the engine starts at the head
                self._read = await self._records.count()
            witnessed = list(self._witnessed())
            checkpoints = await self._records.checkpoints()
            if self._checks % self._full_every == 0:
                await self._full(witnessed, now)
            self._checks += 1
            self._new_checkpoints(checkpoints, now)
            fresh = await self._continue(checkpoints, witnessed, now)
        except (RecordsError, OSError) as exc:  # a witness unreadable, the database away
            self.state = replace(self.state, checked_at=now, detail=f"cannot verify now: {exc}")
            return []
        if checkpoints:
            last = max(checkpoints, key=lambda cp: (cp.seq, cp.signed_at))
            self.state = replace(
                self.state, last_checkpoint_seq=last.seq, last_checkpoint_at=last.signed_at
            )
        return fresh

    def _new_checkpoints(self, checkpoints: list[Checkpoint], now: dt.datetime) -> None:
        """A checkpoint added at or before the verified head (a flag change, ``sign_head``, or a
        forgery) is not read again by the continuation: its signature is checked here."""
        head = self._head[0]
        for cp in checkpoints:
            key = (cp.seq, cp.flag_seq, cp.signature)
            if cp.seq > head or key in self._signed:
                continue
            if not checkpoint_valid(cp, self._key):
                self._broke(
                    cp.seq,
                    "bad_checkpoint_signature",
                    f"the checkpoint at seq {cp.seq} has an invalid signature: "
                    "it was forged or altered",
                    now,
                )
                return
            self._signed.add(key)

    async def _full(self, witnessed: list[Checkpoint], now: dt.datetime) -> None:
        report = await verify_store(self._records, self._key, witnessed=witnessed)
        if report.ok:  # (after a break: repaired) verify onward from this head
            self._head = (report.records.last_seq, report.records.last_hash)
            self.state = replace(
                self.state, full_checked_at=now, broken_at=None, problem=None, detail=str(report)
            )
            return
        bad = report.records if not report.records.ok else report.flags
        self._broke(bad.first_bad_seq or 0, bad.problem, str(report), now, full=True)

    async def _continue(
        self, checkpoints: list[Checkpoint], witnessed: list[Checkpoint], now: dt.datetime
    ) -> list[AccessRecord]:
        seq, hash_ = self._head
        start = (seq, hash_) if seq else None
        every = self._records.checkpoint_every
        v = Verifier(checkpoints, self._key, witnessed=witnessed, every=every, start=start)
        fresh: list[AccessRecord] = []
        first = min(seq, self._read) + 1  # the engine may still want records verified before
        while True:
            page = await self._records.between(first, first + self._page - 1)
            for r in page:
                if r.seq > seq:
                    v.feed(r)  # after a fault, a no-op
            fresh.extend(r for r in page if r.seq > self._read)
            if len(page) < self._page:
                break
            first = page[-1].seq + 1
        if fresh:
            self._read = max(r.seq for r in fresh)
        report = v.finish()
        if report.ok:
            self._head = (report.last_seq, report.last_hash)
            if self.state.broken_at is None:
                self.state = replace(
                    self.state,
                    verified_seq=report.last_seq,
                    verified_hash=report.last_hash.hex(),
                    checked_at=now,
                    detail="the chain is intact",
                )
            else:
                self.state = replace(self.state, checked_at=now)
        else:
            self._broke(report.first_bad_seq or 0, report.problem, report.detail, now)
        return fresh

    def _broke(
        self, seq: int, problem: str | None, detail: str, now: dt.datetime, *, full: bool = False
    ) -> None:
        if self.state.broken_at is not None and not full:
            self.state = replace(self.state, checked_at=now)
            return
        self.state = replace(
            self.state,
            checked_at=now,
            full_checked_at=now if full else self.state.full_checked_at,
            broken_at=seq,
            problem=problem,
            detail=detail,
        )
