"""hub.buckets: the token buckets of the hub's enrollment limit and the portal's login limits."""

from __future__ import annotations

import pytest

from hub.buckets import Buckets, Rate


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


@pytest.mark.parametrize(("burst", "per_second"), [(0, 1.0), (1, -0.1), (1, float("nan"))])
def test_a_rate_that_allows_nothing_sensible_is_refused(burst: int, per_second: float) -> None:
    with pytest.raises(ValueError, match="burst"):
        Rate(burst, per_second)


def test_a_bucket_refills_and_says_how_long_to_wait() -> None:
    buckets = Buckets(Rate(2, 0.5), keys=2)
    assert buckets.wait("a", 0.0) == 0.0
    buckets.take("a", 0.0)
    buckets.take("a", 0.0)
    assert buckets.wait("a", 0.0) == 2.0  # one token every 2 s
    assert buckets.wait("a", 1.0) == 1.0
    assert buckets.wait("a", 2.0) == 0.0
    assert buckets.wait("a", 100.0) == 0.0
    buckets.take("a", 100.0)
    buckets.take("a", 50.0)  # a clock set back refills nothing, and counts nothing twice
    assert buckets.wait("a", 50.0) == 2.0
    assert buckets.wait("a", 101.0) == 1.0
    buckets.take("b", 3.0)
    buckets.take("c", 3.0)  # three keys: the least recently used (a) is forgotten, i.e. full
    buckets.take("a", 3.0)
    buckets.take("a", 3.0)
    assert buckets.wait("a", 3.0) == 2.0


def test_a_bucket_never_refilled_says_so() -> None:
    buckets = Buckets(Rate(1, 0.0))
    assert buckets.take("a", 0.0) and not buckets.take("a", 1e9)
    assert buckets.wait("a", 1e9) == float("inf")


def test_several_tokens_at_once_take_what_the_bucket_has() -> None:
    buckets = Buckets(Rate(burst=3, per_second=2.0))
    assert buckets.take("monitor", 0.0, 5) == 3  # a batch of 5 spans: 3 stored
    assert buckets.take("monitor", 0.0, 5) == 0
    assert buckets.take("monitor", 1.25, 5) == 2  # 2.5 tokens refilled: whole ones only
    assert buckets.wait("monitor", 1.25) == 0.25
