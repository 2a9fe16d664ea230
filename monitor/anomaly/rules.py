"""One class per rule: each takes accesses in time order (``see``) and says what it finds.

Pure: no I/O, no clock (times come from the accesses and the caller's ``now``). State is
bounded per office (and, for repeated look-ups, per office and person within the window).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict, deque
from collections.abc import Iterator

import holidays

from monitor.anomaly import config as c
from monitor.anomaly.model import Access, Finding

__all__ = [
    "NotHeldRule",
    "OffHoursRule",
    "OffSeasonRule",
    "RateSpikeRule",
    "RefusalSpikeRule",
    "RepeatedLookupsRule",
    "threshold",
]


def threshold(history: deque[int], floor: int, k: float, min_history: int) -> float:
    """max(floor, mean + k·stdev of the history) once it is long enough, else the floor.
    Counts are Poisson-like, so the stdev is taken as at least √mean: a history that happens
    to be very even does not make a small rise an alert."""
    if len(history) < min_history:
        return float(floor)
    mean = statistics.fmean(history)
    spread = max(statistics.pstdev(history, mean), math.sqrt(mean))
    return max(float(floor), mean + k * spread)


def _bucket(at: dt.datetime, minutes: int) -> int:
    return math.floor(at.timestamp() / (minutes * 60))


def _start(bucket: int, minutes: int) -> str:
    return dt.datetime.fromtimestamp(bucket * minutes * 60, c.JST).isoformat(timespec="minutes")


class _Windows:
    """Per office: counts of the current fixed window, the closed windows' counts, and which
    windows already fired (once per window and office)."""

    def __init__(self, minutes: int, keep: int) -> None:
        self.minutes = minutes
        self.keep = keep
        self.current: dict[str, int] = {}
        self.counts: dict[str, defaultdict[str, int]] = {}
        self.history: dict[str, deque[int]] = {}
        self.fired: dict[str, int] = {}

    def add(self, office: str, at: dt.datetime, what: str) -> tuple[int, dict[str, int]]:
        b = _bucket(at, self.minutes)
        cur = self.current.get(office)
        history = self.history.setdefault(office, deque(maxlen=self.keep))
        if cur is None or b > cur:
            if cur is not None:
                history.append(self.counts[office]["all"])
                history.extend([0] * min(b - cur - 1, self.keep))
            self.current[office], cur = b, b
            self.counts[office] = defaultdict(int)
        counts = self.counts[office]  # a late access counts in the current window
        counts["all"] += 1
        counts[what] += 1
        return cur, counts

    def first(self, office: str, bucket: int) -> bool:
        if self.fired.get(office) == bucket:
            return False
        self.fired[office] = bucket
        return True


class RateSpikeRule:
    name = "rate_spike"

    def __init__(self, p: c.RateSpike) -> None:
        self.p = p
        self.w = _Windows(p.window_minutes, p.baseline_windows)

    def see(self, a: Access) -> Iterator[Finding]:
        p = self.p
        bucket, counts = self.w.add(a.requester, a.at, a.outcome)
        n = counts["all"]
        history = self.w.history[a.requester]
        limit = threshold(history, p.floor, p.k, p.min_history)
        if n > limit and self.w.first(a.requester, bucket):
            base = round(statistics.fmean(history), 1) if history else 0.0
            yield Finding(
                self.name, a.requester, p.severity, a.at,
                f"{a.requester} asked {n} queries in the {p.window_minutes} minutes from "
                f"{_start(bucket, p.window_minutes)} (its own baseline {base}, limit {limit:.0f})",
                {"office": a.requester, "count": n, "baseline": base, "limit": round(limit, 1),
                 "window_start": _start(bucket, p.window_minutes)},
            )  # fmt: skip


class _ShareRule:
    """Findings when an outcome's count and share in one window pass both bounds."""

    name = ""
    outcome = ""
    what = ""

    def __init__(self, p: c.RefusalSpike | c.NotHeld, least: int) -> None:
        self.p = p
        self.least = least
        self.w = _Windows(p.window_minutes, 1)

    def see(self, a: Access) -> Iterator[Finding]:
        bucket, counts = self.w.add(a.requester, a.at, a.outcome)
        n, total = counts[self.outcome], counts["all"]
        p = self.p
        if (
            a.outcome == self.outcome
            and n >= self.least
            and n / total >= p.min_share
            and self.w.first(a.requester, bucket)
        ):
            start = _start(bucket, p.window_minutes)
            yield Finding(
                self.name, a.requester, p.severity, a.at,
                f"{a.requester}: {n} of its {total} queries in the {p.window_minutes} minutes "
                f"from {start} {self.what}",
                {"office": a.requester, "count": n, "total": total, "window_start": start},
            )  # fmt: skip


class RefusalSpikeRule(_ShareRule):
    name, outcome, what = "refusal_spike", "refused", "were refused by the hub"

    def __init__(self, p: c.RefusalSpike) -> None:
        super().__init__(p, p.min_refused)


class NotHeldRule(_ShareRule):
    name, outcome = "not_held", "not_found"
    what = "asked about people the provider holds no record for"

    def __init__(self, p: c.NotHeld) -> None:
        super().__init__(p, p.min_count)


class OffHoursRule:
    """An office asking when it is closed: outside its hours, on a day of the week it does not
    open, on a public holiday of its country (``public_holidays``: the ``holidays`` package's
    calendar, 振替休日 and 国民の休日 included), or in a yearly closure (年末年始)."""

    name = "off_hours"

    def __init__(self, p: c.OffHours, kinds: dict[str, str]) -> None:
        self.p = p
        self.kinds = kinds
        self.days = {c.DAYS.index(d) for d in p.days}
        self.holidays = (  # named in Japanese, whatever the process's locale
            holidays.country_holidays(p.public_holidays, language="ja") if p.public_holidays else {}
        )

    def closed_because(self, office: str, at: dt.datetime) -> str | None:
        """Why ``office`` is closed at ``at`` (a phrase), or None when it is open."""
        if self.kinds.get(office) in self.p.always_open_kinds:
            return None
        local = at.astimezone(c.JST)
        day = local.date()
        if (holiday := self.holidays.get(day)) is not None:
            return f"on a public holiday ({holiday})"
        if (closure := next((x for x in self.p.closed if x.covers(day)), None)) is not None:
            return f"in a closure ({closure.why})"
        if local.weekday() not in self.days:
            return "on a day it does not open"
        if not self.p.opens <= local.time() < self.p.closes:
            return "outside its opening hours"
        return None

    def open_at(self, office: str, at: dt.datetime) -> bool:
        return self.closed_because(office, at) is None

    def see(self, a: Access) -> Iterator[Finding]:
        why = self.closed_because(a.requester, a.at)
        if why is not None:
            local = a.at.astimezone(c.JST).isoformat(timespec="minutes")
            yield Finding(
                self.name, a.requester, self.p.severity, a.at,
                f"{a.requester} asked at {local}, {why}",
                {"office": a.requester, "affair": a.affair, "record_id": a.record_id,
                 "local_time": local},
            )  # fmt: skip


class OffSeasonRule:
    name = "off_season_reads"

    def __init__(self, p: c.OffSeasonReads, rules: c.Rules) -> None:
        self.p = p
        self.rules = rules
        self.day: dict[str, dt.date] = {}
        self.people: dict[str, set[str]] = {}
        self.history: dict[str, deque[int]] = {}
        self.fired: dict[str, dt.date] = {}

    def see(self, a: Access) -> Iterator[Finding]:
        if a.outcome != "ok" or not a.subject:
            return
        day = a.at.astimezone(c.JST).date()
        if self.rules.in_season(a.affair, day):
            return
        p, office = self.p, a.requester
        history = self.history.setdefault(office, deque(maxlen=p.baseline_days))
        last = self.day.get(office)
        if last is None or day > last:
            if last is not None:
                history.append(len(self.people[office]))
                history.extend([0] * min((day - last).days - 1, p.baseline_days))
            self.day[office], self.people[office] = day, set()
        people = self.people[office]
        if len(people) < p.max_tracked:
            people.add(a.subject)
        limit = threshold(history, p.floor, p.k, p.min_history)
        if len(people) > limit and self.fired.get(office) != self.day[office]:
            self.fired[office] = self.day[office]
            yield Finding(
                self.name, office, p.severity, a.at,
                f"{office} read {len(people)} residents on {self.day[office]} under affairs "
                f"out of their claim season (limit {limit:.0f})",
                {"office": office, "residents": len(people), "limit": round(limit, 1),
                 "day": self.day[office].isoformat()},
            )  # fmt: skip


class RepeatedLookupsRule:
    name = "repeated_lookups"

    def __init__(self, p: c.RepeatedLookups) -> None:
        self.p = p
        self.window = dt.timedelta(minutes=p.window_minutes)
        self.seen: dict[tuple[str, str], deque[tuple[dt.datetime, str]]] = {}

    def see(self, a: Access) -> Iterator[Finding]:
        if not a.subject:
            return
        lookups = self.seen.setdefault((a.requester, a.subject), deque())
        lookups.append((a.at, a.record_id))
        while lookups and lookups[0][0] <= a.at - self.window:
            lookups.popleft()
        if len(lookups) >= self.p.min_lookups:
            ids = tuple(r for _, r in list(lookups)[-self.p.max_record_ids :])
            yield Finding(
                self.name, a.requester, self.p.severity, a.at,
                f"{a.requester} looked up one person {len(lookups)} times within "
                f"{self.p.window_minutes} minutes",
                {"office": a.requester, "lookups": len(lookups), "record_ids": ids},
            )  # fmt: skip

    def forget(self, now: dt.datetime) -> None:
        """Drop the people whose last look-up is out of the window (bounded memory)."""
        gone = [key for key, q in self.seen.items() if not q or q[-1][0] <= now - self.window]
        for key in gone:
            del self.seen[key]
