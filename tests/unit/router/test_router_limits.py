"""The per-office token bucket that bounds enrollments (pure)."""

from __future__ import annotations

import pytest

from hub.routing.limits import Buckets, Rate


def test_a_burst_then_one_per_refill() -> None:
    buckets = Buckets(Rate(burst=3, per_second=0.5))
    assert [buckets.take("nenkin", 100.0) for _ in range(4)] == [True, True, True, False]
    assert not buckets.take("nenkin", 101.0)  # half a token
    assert buckets.take("nenkin", 102.0)  # one whole token since the refusal
    assert not buckets.take("nenkin", 102.0)


def test_each_office_has_its_own_bucket_and_a_full_one_does_not_overflow() -> None:
    buckets = Buckets(Rate(burst=2, per_second=1.0))
    assert buckets.take("a", 0.0) and buckets.take("a", 0.0) and not buckets.take("a", 0.0)
    assert buckets.take("b", 0.0)
    assert [buckets.take("b", 1000.0) for _ in range(3)] == [True, True, False]  # capped at 2


def test_a_clock_going_backwards_adds_nothing() -> None:
    buckets = Buckets(Rate(burst=1, per_second=1.0))
    assert buckets.take("a", 50.0)
    assert not buckets.take("a", 10.0)


@pytest.mark.parametrize(("burst", "per_second"), [(0, 1.0), (1, -0.1)])
def test_a_rate_that_allows_nothing_sensible_is_refused(burst: int, per_second: float) -> None:
    with pytest.raises(ValueError, match="burst"):
        Rate(burst, per_second)
