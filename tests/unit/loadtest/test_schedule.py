"""The schedule generator: deterministic for a seed, its shape holds, bad options refused."""

from __future__ import annotations

from collections import Counter

import pytest

from loadtest.exceptions import BadOption
from loadtest.schedule import make_schedule, parse_duration
from loadtest.season import load_season

JUNE = load_season("june-child-allowance")
MOVES = load_season("spring-moves")
DAY = 240.0  # a season day in 4 minutes: 10 s a season hour


def test_same_seed_same_schedule_other_seed_another() -> None:
    a = make_schedule(JUNE, duration=60, day_seconds=DAY, rate=40, start_hour=9, seed=7)
    b = make_schedule(JUNE, duration=60, day_seconds=DAY, rate=40, start_hour=9, seed=7)
    c = make_schedule(JUNE, duration=60, day_seconds=DAY, rate=40, start_hour=9, seed=8)
    assert a.arrivals == b.arrivals
    assert a.arrivals != c.arrivals
    assert all(x.at <= y.at for x, y in zip(a.arrivals, a.arrivals[1:], strict=False))
    assert all(0 <= x.at < 60 for x in a.arrivals)


def test_the_mean_rate_is_what_was_asked() -> None:
    s = make_schedule(JUNE, duration=DAY, day_seconds=DAY, rate=50, start_hour=0, seed=1)
    assert s.mean_rate == pytest.approx(50)
    assert len(s.arrivals) == pytest.approx(50 * DAY, rel=0.05)  # a Poisson draw


def test_the_hourly_shape_holds() -> None:
    """A whole Monday: no counter or batch traffic at night; the portal's runs all day; the
    counters' busiest hours (11–14) carry more than their mornings (9–10)."""
    s = make_schedule(JUNE, duration=DAY, day_seconds=DAY, rate=100, start_hour=0, seed=3)
    per_hour = DAY / 24
    by: Counter[tuple[str, int]] = Counter()
    for a in s.arrivals:
        by[JUNE.traffic[a.stream].shape, int(a.at // per_hour)] += 1
    for hour in (0, 1, 2, 3, 4, 5, 6, 7, 20, 21, 22, 23):
        assert by["counter", hour] == 0
        assert by["batch", hour] == 0
    assert all(by["portal", hour] > 0 for hour in range(24))
    assert by["counter", 12] + by["counter", 13] > 1.5 * (by["counter", 9] + by["counter", 10])


def test_the_daily_shape_holds() -> None:
    """The moving season's Apr 1 (weight 5) against a normal Tuesday (weight 1): ~5× the moves."""
    day = 24.0  # a season day in 24 s
    s = make_schedule(MOVES, duration=day * 21, day_seconds=day, scale=1, start_hour=0, seed=2)
    per_day = Counter(
        int(a.at // day) for a in s.arrivals if MOVES.traffic[a.stream].shape == "moves"
    )
    assert per_day[14] > 3.5 * per_day[1]
    assert per_day[6] < per_day[0]  # a Sunday against a Monday


def test_scale_gives_the_season_volume_per_day() -> None:
    s = make_schedule(JUNE, duration=DAY * 7, day_seconds=DAY, scale=2, start_hour=0, seed=1)
    assert s.mean_rate * DAY == pytest.approx(JUNE.daily_messages * 2, rel=0.01)


def test_shares_hold() -> None:
    s = make_schedule(JUNE, duration=DAY, day_seconds=DAY, rate=200, start_hour=0, seed=5)
    counts = s.counts()
    child, nhi = counts["child_income_previous_city"], counts["nhi_income_previous_city"]
    assert child == pytest.approx(nhi * 0.25 / 0.15, rel=0.1)  # both batch: their shares' ratio
    assert child > 5 * counts["household_change"]


@pytest.mark.parametrize(
    ("kw", "what"),
    [
        ({"rate": 10, "scale": 1}, "either a rate"),
        ({}, "either a rate"),
        ({"rate": 0}, "rate must be above 0"),
        ({"rate": 10, "duration": 0}, "duration"),
        ({"rate": 10, "day_seconds": 0.5}, "season day"),
        ({"rate": 10, "start_hour": 24 * 14}, "--start-hour"),
        ({"scale": -1}, "scale"),
        ({"rate": 100_000, "duration": 7 * 86400}, "messages expected"),
    ],
)
def test_bad_options_are_refused(kw: dict[str, float], what: str) -> None:
    args = {"duration": 60.0, "day_seconds": DAY, "start_hour": 9.0, **kw}
    with pytest.raises(BadOption, match=what):
        make_schedule(JUNE, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("20m", 1200), ("1h", 3600), ("1h30m", 5400), ("0.5m", 30)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "ten", "20x", "-5s", "1d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(BadOption, match="not a duration"):
        parse_duration(text)


def test_a_window_without_traffic_is_refused() -> None:
    """Counter and batch streams only, replayed from Monday midnight for two season hours."""
    office_hours = tuple(t for t in JUNE.traffic if t.shape != "portal")
    total = sum(t.share for t in office_hours)
    season = JUNE.model_copy(
        update={
            "traffic": tuple(t.model_copy(update={"share": t.share / total}) for t in office_hours)
        }
    )
    with pytest.raises(BadOption, match="sends nothing"):
        make_schedule(season, duration=20, day_seconds=DAY, rate=10, start_hour=0)
    assert make_schedule(season, duration=20, day_seconds=DAY, scale=1, start_hour=0).arrivals == ()
