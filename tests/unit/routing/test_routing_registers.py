"""Who speaks for a person's resident record: the pure checks on change events and enrollments."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.directory import Enrollment, MemoryDirectory
from hub.routing.offices import Registry
from hub.routing.registers import enrollment_refusal, report_refusal
from hub.wire import Refused

NOW = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
LONG_AGO = dt.datetime(2020, 4, 1, tzinfo=dt.UTC)
CHIYODA, SHINJUKU = "131016", "131041"


def held(office: str, since: dt.datetime = LONG_AGO, **ended: object) -> Enrollment:
    return Enrollment(office, since, **ended)  # type: ignore[arg-type]


def code(refusal: Refused | None) -> str | None:
    return None if refusal is None else refusal.code


# ---- change events ------------------------------------------------------------------------

KEPT = [held("chiyoda-resident"), held("chiyoda-tax"), held("nenkin")]
MOVED = [
    held("chiyoda-resident", until=NOW - dt.timedelta(days=3), moved_to=SHINJUKU),
    held("shinjuku-resident", since=NOW - dt.timedelta(days=1)),
]


@pytest.mark.parametrize(
    ("sender", "holders", "change", "effective", "expected"),
    [
        ("chiyoda-resident", KEPT, "death", TODAY, None),
        ("chiyoda-resident", KEPT, "household", LONG_AGO.date(), None),  # its first day
        ("chiyoda-tax", KEPT, "death", TODAY, "hub.not_a_register"),
        ("nobody-office", KEPT, "death", TODAY, "hub.not_a_register"),
        ("shinjuku-resident", KEPT, "death", TODAY, "hub.not_the_register"),
        ("chiyoda-resident", [], "birth", TODAY, "hub.not_the_register"),  # holds no one
        ("chiyoda-resident", MOVED, "death", TODAY, "hub.not_the_register"),  # moved away
        ("chiyoda-resident", KEPT, "death", dt.date(2000, 1, 1), "hub.bad_effective_date"),
        ("chiyoda-resident", KEPT, "death", TODAY + dt.timedelta(days=2), "hub.bad_effective_date"),
        ("chiyoda-resident", KEPT, "death", TODAY + dt.timedelta(days=1), None),  # JST is ahead
        ("chiyoda-resident", KEPT, "moved_out", TODAY + dt.timedelta(days=30), None),  # filed ahead
        (
            "chiyoda-resident",
            KEPT,
            "moved_out",
            TODAY + dt.timedelta(days=31),
            "hub.bad_effective_date",
        ),
        # a move in and a birth are dated before the 届出 that began the holding
        ("shinjuku-resident", MOVED, "moved_in", TODAY - dt.timedelta(days=3), None),
        (
            "shinjuku-resident",
            MOVED,
            "moved_in",
            TODAY - dt.timedelta(days=4),  # before the move out it follows
            "hub.bad_effective_date",
        ),
        (
            "shinjuku-resident",
            MOVED,
            "household",
            TODAY - dt.timedelta(days=3),  # before its own holding
            "hub.bad_effective_date",
        ),
        ("shinjuku-resident", MOVED, "birth", dt.date(2026, 5, 20), None),
    ],
)
def test_only_the_register_keeping_the_record_reports_within_its_holding(
    registry: Registry,
    sender: str,
    holders: list[Enrollment],
    change: str,
    effective: dt.date,
    expected: str | None,
) -> None:
    assert code(report_refusal(registry, sender, holders, change, effective, at=NOW)) == expected


def test_a_move_out_dated_ahead_leaves_the_register_in_charge_until_then(
    registry: Registry,
) -> None:
    pending = [held("chiyoda-resident", until=NOW + dt.timedelta(days=5), moved_to=SHINJUKU)]
    assert report_refusal(registry, "chiyoda-resident", pending, "death", TODAY, at=NOW) is None
    later = NOW + dt.timedelta(days=6)
    refusal = report_refusal(registry, "chiyoda-resident", pending, "death", later.date(), at=later)
    assert code(refusal) == "hub.not_the_register"


# ---- enrollment ---------------------------------------------------------------------------

DIED = [held("chiyoda-resident", until=NOW - dt.timedelta(days=3)), held("nenkin")]


@pytest.mark.parametrize(
    ("requester", "holders", "numbered_in", "expected"),
    [
        # nobody on the network has kept the record: J-LIS's 本人確認情報 says where
        ("chiyoda-resident", [], CHIYODA, None),
        ("chiyoda-tax", [], CHIYODA, None),
        ("shinjuku-resident", [], CHIYODA, "hub.not_resident_here"),
        ("shinjuku-tax", [], CHIYODA, "hub.not_resident_here"),
        ("chiyoda-resident", [], None, "hub.not_resident_here"),  # J-LIS does not say
        # a register keeps it: that municipality's offices, not another register
        ("chiyoda-child", KEPT, SHINJUKU, None),  # the register, not J-LIS's old word, decides
        ("chiyoda-welfare", KEPT, CHIYODA, None),
        ("shinjuku-tax", KEPT, CHIYODA, "hub.not_resident_here"),
        ("shinjuku-resident", KEPT, CHIYODA, "hub.not_resident_here"),
        ("chiyoda-tax", KEPT, CHIYODA, None),  # holds already: its token again
        # national and prefectural offices hold people wherever they live
        ("nenkin", KEPT, CHIYODA, None),
        ("tokyo-pref", [], None, None),
        ("jlis-pki", DIED, CHIYODA, None),
        # moved out to 新宿区: its register may begin; no office of 千代田区 may any more
        ("shinjuku-resident", MOVED[:1], CHIYODA, None),
        ("shinjuku-tax", MOVED[:1], CHIYODA, "hub.not_resident_here"),  # not yet moved in
        ("chiyoda-resident", MOVED[:1], CHIYODA, "hub.not_resident_here"),
        ("shinjuku-tax", MOVED, CHIYODA, None),  # moved in
        ("chiyoda-tax", MOVED, CHIYODA, "hub.not_resident_here"),
        # died: no register may begin again
        ("chiyoda-resident", DIED, CHIYODA, "hub.not_resident_here"),
        ("shinjuku-resident", DIED, SHINJUKU, "hub.not_resident_here"),
    ],
)
def test_a_municipality_enrolls_only_the_residents_whose_record_it_keeps(
    registry: Registry,
    requester: str,
    holders: list[Enrollment],
    numbered_in: str | None,
    expected: str | None,
) -> None:
    refusal = enrollment_refusal(registry, requester, holders, numbered_in, NOW)
    assert code(refusal) == expected
    if refusal is not None:  # it names no holder
        assert not [h for h in holders if h.office != requester and h.office in refusal.reason]


def test_a_move_back_follows_the_latest_move_out(registry: Registry) -> None:
    back = [
        held("chiyoda-resident", until=NOW - dt.timedelta(days=300), moved_to=SHINJUKU),
        held(
            "shinjuku-resident",
            since=NOW - dt.timedelta(days=299),
            until=NOW - dt.timedelta(days=2),
            moved_to=CHIYODA,
        ),
    ]
    assert enrollment_refusal(registry, "chiyoda-resident", back, SHINJUKU, NOW) is None
    refusal = enrollment_refusal(registry, "shinjuku-resident", back, SHINJUKU, NOW)
    assert code(refusal) == "hub.not_resident_here"


async def test_the_directory_notes_where_a_move_out_went_and_forgets_it_on_return() -> None:
    directory = MemoryDirectory()
    await directory.enrolled("P", "chiyoda-resident", LONG_AGO)
    await directory.ended("P", ["chiyoda-resident"], NOW, SHINJUKU)
    await directory.ended("P", ["chiyoda-resident"], NOW + dt.timedelta(days=1), None)  # once
    [gone] = await directory.holders("P")
    assert (gone.until, gone.moved_to) == (NOW, SHINJUKU)
    assert not gone.open_at(NOW) and gone.open_at(NOW - dt.timedelta(seconds=1))
    back = NOW + dt.timedelta(days=400)
    await directory.enrolled("P", "chiyoda-resident", back)
    assert await directory.holders("P") == [Enrollment("chiyoda-resident", back)]
