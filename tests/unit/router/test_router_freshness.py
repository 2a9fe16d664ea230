"""The pure freshness checks: the issued-at window, the deadline cap, and what a claim means."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from hub.records import ClaimState
from hub.routing.freshness import (
    CLAIM_KEPT,
    MAX_CLOCK_SKEW,
    MAX_DEADLINE,
    check_times,
    seen,
)
from hub.wire import Envelope, outcome_code

NOW = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


def envelope(issued_at: dt.datetime, deadline: dt.datetime) -> Envelope:
    qid = uuid.uuid4()
    return Envelope(
        message_id=qid,
        correlation_id=qid,
        sender="chiyoda-child",
        recipient="chiyoda-tax",
        affair="child_allowance",
        issued_at=issued_at,
        deadline=deadline,
        traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
    )


@pytest.mark.parametrize(
    ("issued", "lasts", "code"),
    [
        (NOW, 10 * SECOND, None),
        (NOW - MAX_DEADLINE + SECOND, MAX_DEADLINE, None),  # the oldest that can be on time
        (NOW - MAX_CLOCK_SKEW, MAX_CLOCK_SKEW + SECOND, "hub.deadline_too_far"),
        (NOW + MAX_CLOCK_SKEW, MAX_DEADLINE, None),  # the sender's clock ahead, within the skew
        (NOW - MAX_CLOCK_SKEW - SECOND, MAX_DEADLINE, "hub.stale_request"),
        (NOW + MAX_CLOCK_SKEW + SECOND, 10 * SECOND, "hub.future_request"),
        (dt.datetime(2005, 4, 1, tzinfo=dt.UTC), dt.timedelta(days=9000), "hub.stale_request"),
        (dt.datetime(2099, 4, 1, tzinfo=dt.UTC), 10 * SECOND, "hub.future_request"),
        (NOW, MAX_DEADLINE, None),  # the cap itself
        (NOW, MAX_DEADLINE + SECOND, "hub.deadline_too_far"),
        (NOW, dt.timedelta(days=365 * 70), "hub.deadline_too_far"),
        (NOW - 20 * SECOND, 10 * SECOND, "timed_out"),  # what the requester concluded too
        (NOW - 10 * SECOND, 10 * SECOND, "timed_out"),  # a deadline of now is past
    ],
)
def test_the_time_window_and_the_deadline_cap(
    issued: dt.datetime, lasts: dt.timedelta, code: str | None
) -> None:
    refused = check_times(envelope(issued, issued + lasts), NOW)
    assert (outcome_code(refused, refused.status) if refused else None) == code
    if refused is not None:
        assert refused.reason


def test_a_claim_outlives_every_copy_that_could_still_be_on_time() -> None:
    assert CLAIM_KEPT >= MAX_CLOCK_SKEW + MAX_DEADLINE


A, B = b"a" * 32, b"b" * 32


@pytest.mark.parametrize(
    ("state", "digest", "redelivered", "verdict"),
    [
        (ClaimState(fresh=True), A, False, "new"),
        (ClaimState(fresh=True), A, True, "new"),  # the first worker died before claiming
        (ClaimState(False, A), A, True, "redelivered"),  # died after claiming, before the end
        (ClaimState(False, A, recorded=True), A, True, "done"),  # died after recording
        (ClaimState(False, A), A, False, "replay"),  # the office sent the same bytes again
        (ClaimState(False, A), B, False, "replay"),  # re-signed with other parameters
        (ClaimState(False, A), B, True, "replay"),  # the broker's mark is for the same bytes
        (ClaimState(False, None, recorded=True), A, False, "replay"),  # claim gone, record stays
        (ClaimState(False, None, recorded=True), A, True, "replay"),
    ],
)
def test_what_a_claim_means(
    state: ClaimState, digest: bytes, redelivered: bool, verdict: str
) -> None:
    assert seen(state, digest, redelivered=redelivered) == verdict
