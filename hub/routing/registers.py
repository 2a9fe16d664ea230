"""Who speaks for a person's resident record (住民票): pure checks over the hub's directory.

A person's 住民票 is kept by one municipality at a time, and only its 市町村長 enters, removes
or corrects it and notifies the 本人確認情報 to J-LIS (住基法 第30条の6, 第30条の7) — so only
that municipality's resident register may tell the network of a change. The hub's directory is
its copy of who keeps whom: a register's holding begins when it enrolls the person and ends
with a move out (naming the municipality moved to) or a death. These checks keep that copy
true; the rules, and why, are in ``hub/routing/README.md`` ("Who holds whom").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from hub.directory import Enrollment
from hub.routing.exceptions import (
    HUB_BAD_EFFECTIVE_DATE,
    HUB_NOT_A_REGISTER,
    HUB_NOT_RESIDENT_HERE,
    HUB_NOT_THE_REGISTER,
)
from hub.routing.finish import refused
from hub.routing.offices import Registry
from hub.wire import Refused

__all__ = [
    "REGISTER_ITEM",
    "enrollment_refusal",
    "is_register",
    "report_refusal",
]

REGISTER_ITEM = "resident_record"  # what a resident register provides

# How far ahead a change may be dated: a move out is filed before the move (転出届は
# あらかじめ, 住基法 第24条; online from 30 days before); anything else has happened already,
# give or take a day (the register dates in JST, the hub in UTC).
_AHEAD = {"moved_out": dt.timedelta(days=30)}
_MARGIN = dt.timedelta(days=1)


def is_register(registry: Registry, code: str) -> bool:
    return code in registry and REGISTER_ITEM in registry.get(code).provides


def _registers(registry: Registry, holders: Sequence[Enrollment]) -> list[Enrollment]:
    return [e for e in holders if is_register(registry, e.office)]


def _last_ended(holdings: Sequence[Enrollment]) -> Enrollment | None:
    ended = [e for e in holdings if e.until is not None]
    return max(ended, key=lambda e: (e.until, e.since)) if ended else None


def report_refusal(
    registry: Registry,
    sender: str,
    holders: Sequence[Enrollment],
    change: str,
    effective: dt.date,
    *,
    at: dt.datetime,
) -> Refused | None:
    """Why the register ``sender`` may not report ``change`` effective ``effective`` about a
    person with these ``holders`` at ``at``; None when it may.

    It must hold the person now. The date may not precede its holding (a move in: the move out
    it follows) — a register cannot rewrite who held the person before it did — nor lie ahead
    of ``at`` by more than a day (a move out: 30 days).
    """
    if not is_register(registry, sender):
        return refused(HUB_NOT_A_REGISTER, f"{sender} keeps no resident register")
    mine = next((e for e in holders if e.office == sender and e.open_at(at)), None)
    if mine is None:
        return refused(
            HUB_NOT_THE_REGISTER,
            f"{sender} does not keep this person's resident record now: only the register"
            " that does may report a change",
        )
    latest = at.date() + _AHEAD.get(change, _MARGIN)
    if effective > latest:
        return refused(
            HUB_BAD_EFFECTIVE_DATE,
            f"a {change} effective {effective} lies too far ahead ({latest})",
        )
    earliest: dt.date | None = mine.since.date()
    if change == "moved_in":  # its 異動日 precedes the 届出 that began the holding
        before = _last_ended([e for e in _registers(registry, holders) if e.office != sender])
        earliest = before.until.date() if before is not None and before.until else None
    elif change == "birth":  # likewise; a birth ends no one's holding
        earliest = None
    if earliest is not None and effective < earliest:
        return refused(
            HUB_BAD_EFFECTIVE_DATE,
            f"a {change} effective {effective} precedes {sender}'s holding of the record"
            f" ({earliest})",
        )
    return None


def enrollment_refusal(
    registry: Registry,
    requester: str,
    holders: Sequence[Enrollment],
    numbered_in: str | None,
    at: dt.datetime,
) -> Refused | None:
    """Why ``requester`` may not enroll a person with these ``holders`` (and whom J-LIS numbered
    in the municipality ``numbered_in``) at ``at``; None when it may.

    An office that holds the person already may (its token again). A national or prefectural
    office (no municipality) may. A municipality's office may while the person's record is kept
    there — by the register holding them now, or, when no register on the network ever held
    them, as J-LIS's 本人確認情報 says. A register may also begin holding a person whose last
    register moved them out to its municipality (転入 after 転出).
    """
    office = registry.get(requester)
    if office.municipality is None or any(e.office == requester and e.open_at(at) for e in holders):
        return None
    registers = _registers(registry, holders)
    keeper = next((e for e in registers if e.open_at(at)), None)
    if keeper is not None:
        kept_in = registry.get(keeper.office).municipality
        allowed = kept_in == office.municipality and not is_register(registry, requester)
    elif registers:  # moved away or died: only the register of a municipality moved to
        last = _last_ended(registers)
        allowed = (
            last is not None
            and last.moved_to == office.municipality
            and is_register(registry, requester)
        )
    else:
        allowed = numbered_in == office.municipality
    if allowed:
        return None
    return refused(
        HUB_NOT_RESIDENT_HERE,
        f"this person's resident record is not kept in {office.municipality}: {requester}"
        " may enroll only that municipality's residents",
    )
