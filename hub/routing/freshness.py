"""Is a request fresh? Its time within the hub's window, its deadline within the cap, its query
id not taken before (pure: the router supplies the clock, the claim and the bus's word).

A signed request could otherwise be replayed for as long as its deadline says, and a deadline
of 2099 is signed as easily as any other. So ``issued_at`` must lie within `MAX_CLOCK_SKEW` of
the hub's clock, the deadline no further than `MAX_DEADLINE` after ``issued_at`` (refused, not
cut: the requester asked for what the hub will not give), and a query id is accepted once per
requester: the first message to claim it goes ahead; a second one — the same bytes or a copy
re-signed with other parameters — is refused, unless the broker itself redelivers the very same
bytes (a hub worker died before it acknowledged them; the broker sets that mark, an office
cannot).

Claims are kept `CLAIM_KEPT`, twice the skew window. That covers every identical copy: the
first came no earlier than `MAX_CLOCK_SKEW` before its ``issued_at``, and a copy is on time
only until its deadline, at most `MAX_DEADLINE` after ``issued_at``; later it is answered as
timed out (or refused as too old). A copy re-signed with a fresh ``issued_at`` finds, once the
claim is gone, the access record of the first: written when it was answered, or at the latest
when its deadline passed — long before.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

from hub.records import ClaimState
from hub.routing.exceptions import (
    HUB_DEADLINE_TOO_FAR,
    HUB_FUTURE_REQUEST,
    HUB_STALE_REQUEST,
)
from hub.wire import Envelope, Refused, TimedOut

__all__ = [
    "CLAIM_KEPT",
    "MAX_CLOCK_SKEW",
    "MAX_DEADLINE",
    "Seen",
    "check_times",
    "seen",
]

MAX_DEADLINE: Final = dt.timedelta(seconds=120)
MAX_CLOCK_SKEW: Final = dt.timedelta(minutes=5)
CLAIM_KEPT: Final = 2 * MAX_CLOCK_SKEW
assert CLAIM_KEPT >= MAX_CLOCK_SKEW + MAX_DEADLINE, "a claim must outlive every on-time copy"

Seen = Literal["new", "redelivered", "done", "replay"]
"""``new``: go ahead; ``redelivered``: the broker's redelivery of a query not finished yet, go
ahead again; ``done``: the broker's redelivery of a finished query, nothing to do; ``replay``:
a second message under a taken query id, refuse it."""


def check_times(env: Envelope, now: dt.datetime) -> Refused | TimedOut | None:
    """The request's ``issued_at`` and deadline against the hub's clock ``now``."""
    at, deadline = env.issued_at, env.deadline
    if at < now - MAX_CLOCK_SKEW:
        return Refused(
            code=HUB_STALE_REQUEST,
            reason=f"issued at {at.isoformat()}, more than {_minutes(MAX_CLOCK_SKEW)} before "
            f"the hub's clock ({now.isoformat()}): too old to act on",
        )
    if at > now + MAX_CLOCK_SKEW:
        return Refused(
            code=HUB_FUTURE_REQUEST,
            reason=f"issued at {at.isoformat()}, more than {_minutes(MAX_CLOCK_SKEW)} after "
            f"the hub's clock ({now.isoformat()}): check the sender's clock",
        )
    if deadline - at > MAX_DEADLINE:
        return Refused(
            code=HUB_DEADLINE_TOO_FAR,
            reason=f"the deadline is {(deadline - at).total_seconds():.0f} s after issued_at; "
            f"the hub waits at most {MAX_DEADLINE.total_seconds():.0f} s",
        )
    if deadline <= now:  # what the requester concluded too: one outcome (``finish``)
        return TimedOut(reason=f"the deadline {deadline:%H:%M:%S.%f} had passed")
    return None


def seen(state: ClaimState, digest: bytes, *, redelivered: bool) -> Seen:
    """What to do with a request whose query id was just claimed (``state``)."""
    if state.fresh:
        return "new"
    if redelivered and state.digest == digest:
        return "done" if state.recorded else "redelivered"
    return "replay"


def _minutes(span: dt.timedelta) -> str:
    return f"{span.total_seconds() / 60:g} min"
