"""The schedule of a replay: when each message is due and of which stream. Pure.

A season day lasts ``day_seconds`` of wall time (``--compress``: a day in N minutes); the
replay starts ``start_hour`` hours into the season and lasts ``duration`` wall seconds. Each
stream's rate follows its shape: piecewise constant over each season hour, proportional to the
day's weight × the weekday's × the hour's, normalised so a stream's shape averages 1 over an
ordinary week. The overall level is either ``scale`` (the season's ``daily_messages`` × scale
messages per season day) or ``rate`` (that many messages per wall second on average over the
replay). Arrivals within an hour are a Poisson process (exponential gaps), the stream of each
drawn by its share of that hour's rate; everything comes from one ``random.Random(seed)``, so
a seed gives the same schedule every time.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from loadtest.exceptions import BadOption
from loadtest.season import Season

__all__ = ["Arrival", "Schedule", "Segment", "make_schedule", "parse_duration"]

HOUR = 3600.0
MAX_ARRIVALS = 20_000_000


@dataclass(frozen=True, slots=True)
class Arrival:
    at: float  # wall seconds after the replay's start: when the message is due
    stream: int  # the index of its stream in ``season.traffic``
    n: int  # its sequence number in the schedule


@dataclass(frozen=True, slots=True)
class Segment:
    """One season hour of the replay: its wall time and each stream's rate (per wall second)."""

    start: float
    end: float
    day: int
    hour: int
    rates: tuple[float, ...]

    @property
    def rate(self) -> float:
        return sum(self.rates)


@dataclass(frozen=True, slots=True)
class Schedule:
    season: Season
    duration: float
    day_seconds: float
    start_hour: float
    seed: int
    segments: tuple[Segment, ...]
    arrivals: tuple[Arrival, ...]

    @property
    def mean_rate(self) -> float:
        """Expected messages per wall second over the replay (the arrivals are a draw)."""
        total = sum(s.rate * (s.end - s.start) for s in self.segments)
        return total / self.duration if self.duration else 0.0

    def counts(self) -> dict[str, int]:
        """Messages scheduled per stream."""
        out = dict.fromkeys((t.name for t in self.season.traffic), 0)
        for a in self.arrivals:
            out[self.season.traffic[a.stream].name] += 1
        return out


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``20m``, ``1h``, ``1h30m`` → seconds; :class:`BadOption` otherwise."""
    parts = re.fullmatch(
        r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text
    )
    if not text.strip() or parts is None or not any(parts.groups()):
        raise BadOption(f"not a duration: {text!r} (e.g. 90s, 20m, 1h)")
    h, m, s = (float(g) if g else 0.0 for g in parts.groups())
    return h * 3600 + m * 60 + s


def _weight(season: Season, stream: int, day: int, hour: int) -> float:
    """The stream's relative rate in this season hour (its shape averages 1 over a week)."""
    t = season.traffic[stream]
    shape = season.shapes[t.shape]
    weekday = season.calendar.date(day % season.calendar.days).weekday()
    norm = (sum(shape.weekdays) / 7) * (sum(shape.hours) / 24)
    return (
        season.calendar.day_weight(day % season.calendar.days)
        * shape.weekdays[weekday]
        * shape.hours[hour]
        / norm
    )


def _segments(
    season: Season, duration: float, day_seconds: float, start_hour: float
) -> list[tuple[float, float, int, int, tuple[float, ...]]]:
    """(start, end, day, hour, relative weight per stream) for each season hour crossed."""
    per_hour = day_seconds / 24  # wall seconds per season hour
    out = []
    t = 0.0
    season_hour = start_hour
    while t < duration - 1e-9:
        whole = int(season_hour)
        end = min(duration, t + (whole + 1 - season_hour) * per_hour)
        day, hour = divmod(whole, 24)
        weights = tuple(
            t_.share * _weight(season, i, day, hour) for i, t_ in enumerate(season.traffic)
        )
        out.append((t, end, day, hour, weights))
        season_hour += (end - t) / per_hour
        if end - t < 1e-12:  # rounding at a boundary: step into the next hour
            season_hour = whole + 1
        t = end
    return out


def make_schedule(
    season: Season,
    *,
    duration: float,
    day_seconds: float,
    rate: float | None = None,
    scale: float | None = None,
    start_hour: float = 0.0,
    seed: int = 1,
) -> Schedule:
    """The arrivals of a replay; :class:`BadOption` for options out of range."""
    if (rate is None) == (scale is None):
        raise BadOption("give either a rate (messages per second) or a scale, not both or neither")
    if not 0 < duration <= 7 * 86400:
        raise BadOption(f"the duration must be above 0 and at most 7 days, not {duration:g} s")
    if not 1 <= day_seconds <= 86400:
        raise BadOption(f"a season day must last 1 s to 24 h of wall time, not {day_seconds:g} s")
    if not 0 <= start_hour < 24 * season.calendar.days:
        raise BadOption(
            f"--start-hour must be within the season's {season.calendar.days} days"
            f" (0 to {24 * season.calendar.days}), not {start_hour:g}"
        )
    raw = _segments(season, duration, day_seconds, start_hour)
    if rate is not None:
        if not 0 < rate <= 100_000:
            raise BadOption(f"the rate must be above 0 and at most 100000/s, not {rate:g}")
        mass = sum((e - s) * sum(w) for s, e, _, _, w in raw)
        if mass <= 0:
            raise BadOption(
                "the season sends nothing in this window (every weight is 0 there): start it"
                " elsewhere (--start-hour) or make it longer"
            )
        level = rate * duration / mass
    else:
        assert scale is not None
        if not 0 < scale <= 10_000:
            raise BadOption(f"the scale must be above 0 and at most 10000, not {scale:g}")
        level = season.daily_messages * scale / day_seconds
    segments = tuple(Segment(s, e, d, h, tuple(level * w for w in ws)) for s, e, d, h, ws in raw)
    expected = sum(seg.rate * (seg.end - seg.start) for seg in segments)
    if expected > MAX_ARRIVALS:
        raise BadOption(
            f"{expected:,.0f} messages expected: above {MAX_ARRIVALS:,}; lower the rate or scale"
        )
    return Schedule(
        season=season,
        duration=duration,
        day_seconds=day_seconds,
        start_hour=start_hour,
        seed=seed,
        segments=segments,
        arrivals=tuple(_arrivals(segments, random.Random(seed))),
    )


def _arrivals(segments: Sequence[Segment], rng: random.Random) -> list[Arrival]:
    out: list[Arrival] = []
    n = itertools.count()
    for seg in segments:
        total = seg.rate
        if total <= 0:
            continue
        cumulative = list(itertools.accumulate(seg.rates))
        t = seg.start + rng.expovariate(total)
        while t < seg.end:
            stream = bisect.bisect_right(cumulative, rng.random() * total)
            out.append(Arrival(t, min(stream, len(seg.rates) - 1), next(n)))
            t += rng.expovariate(total)
    return out
