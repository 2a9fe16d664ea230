"""The anomaly engine: accesses in, findings out, time passed in. Pure (no I/O, no clock).

``observe(accesses, now)`` runs every enabled rule over each access in turn; ``chain(view,
now)`` turns the record chain's state into the chain-break finding. Anything that is not a
well-formed `Access` — a wrong type, a naive time, a field of the wrong kind — is skipped and
counted (``dropped``): nothing an input holds makes the engine raise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from monitor.anomaly.config import Rules
from monitor.anomaly.model import Access, Finding
from monitor.anomaly.rules import (
    NotHeldRule,
    OffHoursRule,
    OffSeasonRule,
    RateSpikeRule,
    RefusalSpikeRule,
    RepeatedLookupsRule,
)

__all__ = ["CHAIN_SUBJECT", "ChainView", "Engine", "well_formed"]

CHAIN_SUBJECT = "records"  # the chain-break finding is about the access records themselves
_TEXT = ("record_id", "requester", "provider", "affair", "outcome", "subject")


class ChainView(Protocol):
    """What the engine needs of the chain's state (`monitor.chain.ChainState`)."""

    @property
    def broken_at(self) -> int | None: ...
    @property
    def problem(self) -> str | None: ...
    @property
    def detail(self) -> str: ...


class _Rule(Protocol):
    def see(self, a: Access) -> Iterator[Finding]: ...


def well_formed(a: object) -> bool:
    return (
        isinstance(a, Access)
        and all(isinstance(getattr(a, f), str) for f in _TEXT)
        and bool(a.requester)
        and isinstance(a.seq, int)
        and isinstance(a.at, dt.datetime)
        and a.at.tzinfo is not None
    )


class Engine:
    def __init__(self, rules: Rules, *, kinds: Mapping[str, str] | None = None) -> None:
        """``kinds``: each office's kind (the registry's), for opening hours by kind."""
        r = rules.rules
        self.rules = rules
        self._lookups = RepeatedLookupsRule(r.repeated_lookups)
        candidates: list[tuple[Any, _Rule]] = [
            (r.rate_spike, RateSpikeRule(r.rate_spike)),
            (r.refusal_spike, RefusalSpikeRule(r.refusal_spike)),
            (r.off_hours, OffHoursRule(r.off_hours, dict(kinds or {}))),
            (r.not_held, NotHeldRule(r.not_held)),
            (r.off_season_reads, OffSeasonRule(r.off_season_reads, rules)),
            (r.repeated_lookups, self._lookups),
        ]
        self._active = [rule for params, rule in candidates if params.enabled]
        self.seen = 0
        self.dropped = 0

    def observe(self, accesses: Iterable[object], now: dt.datetime) -> list[Finding]:
        found: list[Finding] = []
        for a in accesses:
            if not well_formed(a):
                self.dropped += 1
                continue
            assert isinstance(a, Access)
            self.seen += 1
            for rule in self._active:
                found.extend(rule.see(a))
        self._lookups.forget(now)
        return found

    def chain(self, view: ChainView, now: dt.datetime) -> list[Finding]:
        p = self.rules.rules.chain_break
        if not p.enabled or view.broken_at is None:
            return []
        return [
            Finding(
                "chain_break", CHAIN_SUBJECT, p.severity, now,
                f"the access-record chain is broken at seq {view.broken_at}: {view.detail}",
                {"seq": view.broken_at, "problem": view.problem or "", "detail": view.detail},
            )
        ]  # fmt: skip
