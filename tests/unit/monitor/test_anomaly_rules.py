"""The anomaly engine, rule by rule: each rule has a case that raises it and one that does
not; malformed input is counted, never raised; no finding carries a person."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path

import pytest

from monitor.anomaly import JST, Access, Engine, Finding, load_rules, pseudonym
from monitor.exceptions import RulesError

RULES = load_rules()
KINDS = {"chiyoda-child": "municipality", "myna-portal": "portal", "chiyoda-tax": "municipality"}
# a Wednesday, 10:00 in Japan, out of every claim season
WED = dt.datetime(2026, 10, 14, 10, 0, tzinfo=JST)
KEY = b"k" * 32


def only(rule: str) -> Engine:
    """An engine with every rule but ``rule`` switched off."""
    r = RULES.rules
    off = {
        name: getattr(r, name).model_copy(update={"enabled": name == rule})
        for name in RULES.names()
    }
    return Engine(RULES.model_copy(update={"rules": r.model_copy(update=off)}), kinds=KINDS)


def access(
    at: dt.datetime,
    *,
    office: str = "chiyoda-child",
    outcome: str = "ok",
    person: str = "",
    affair: str = "public_assistance",
) -> Access:
    return Access(
        str(uuid.uuid4()), 1, at, office, "chiyoda-tax", affair, outcome, pseudonym(KEY, person)
    )


def fired(engine: Engine, accesses: list[Access], now: dt.datetime | None = None) -> list[Finding]:
    return engine.observe(accesses, now or accesses[-1].at)


def rules_of(found: list[Finding]) -> set[str]:
    return {f.rule for f in found}


# rate spike: the office's own baseline


def hours(engine: Engine, per_hour: list[int], start: dt.datetime) -> list[Finding]:
    found: list[Finding] = []
    for h, n in enumerate(per_hour):
        t = start + dt.timedelta(hours=h)
        found += fired(engine, [access(t + dt.timedelta(seconds=i)) for i in range(n)])
    return found


def test_rate_spike_against_the_offices_own_baseline() -> None:
    found = hours(only("rate_spike"), [100, 110, 90, 105, 95, 100, 400], WED)
    assert rules_of(found) == {"rate_spike"}
    (f,) = found
    assert f.subject == "chiyoda-child" and f.facts["count"] == 201  # fires once, as it passes
    assert f.facts["baseline"] == 100.0


def test_no_rate_spike_for_a_steady_office_nor_a_busy_one_that_always_is() -> None:
    assert hours(only("rate_spike"), [100, 110, 90, 105, 95, 100, 150], WED) == []
    # over the floor from its first hour: the floor alone speaks until six hours of history
    # make its baseline, which then lifts the limit
    busy = hours(only("rate_spike"), [300, 310, 290, 305, 295, 300, 320, 310, 330], WED)
    assert len(busy) == 6
    assert {f.facts["window_start"] for f in busy} == {
        f"2026-10-14T{10 + h}:00+09:00" for h in range(6)
    }


def test_rate_spike_without_history_needs_the_floor() -> None:
    assert hours(only("rate_spike"), [150], WED) == []
    assert rules_of(hours(only("rate_spike"), [201], WED)) == {"rate_spike"}


# refusals


def test_refusal_spike() -> None:
    batch = [access(WED + dt.timedelta(seconds=i), outcome="refused") for i in range(10)]
    found = fired(only("refusal_spike"), batch)
    assert rules_of(found) == {"refusal_spike"} and found[0].facts["count"] == 10


def test_a_few_refusals_among_many_answers_are_no_spike() -> None:
    batch = [access(WED + dt.timedelta(seconds=i)) for i in range(100)]
    batch += [access(WED + dt.timedelta(seconds=100 + i), outcome="refused") for i in range(12)]
    assert fired(only("refusal_spike"), batch) == []


# opening hours


def test_off_hours_at_night_and_at_the_weekend() -> None:
    night = WED.replace(hour=23)
    sunday = WED + dt.timedelta(days=4)
    found = fired(only("off_hours"), [access(night), access(sunday)])
    assert [f.rule for f in found] == ["off_hours", "off_hours"]
    assert found[0].facts["local_time"] == "2026-10-14T23:00+09:00"


def test_office_hours_and_the_portal_at_night_are_fine() -> None:
    open_ = [access(WED.replace(hour=8, minute=30)), access(WED.replace(hour=17, minute=14))]
    portal = access(WED.replace(hour=3), office="myna-portal")
    assert fired(only("off_hours"), [*open_, portal]) == []
    closing = access(WED.replace(hour=17, minute=15))  # closes at 17:15
    assert rules_of(fired(only("off_hours"), [closing])) == {"off_hours"}


@pytest.mark.parametrize(
    ("day", "why"),
    [
        (dt.date(2026, 11, 23), "public holiday (勤労感謝の日)"),  # a Monday
        (dt.date(2026, 9, 22), "public holiday (国民の休日)"),  # between two holidays
        (dt.date(2025, 5, 6), "public holiday (振替休日)"),  # Children's Day fell on a Sunday
        (dt.date(2027, 1, 1), "public holiday (元日)"),
        (dt.date(2026, 12, 29), "closure (年末年始)"),  # a Tuesday: the government is closed
        (dt.date(2027, 1, 4), None),  # a Monday: open again
        (dt.date(2026, 12, 28), None),  # the last working day of the year
    ],
)
def test_japans_public_holidays_and_the_year_end_are_closed(day: dt.date, why: str | None) -> None:
    at = dt.datetime.combine(day, dt.time(10, 0), JST)
    assert at.weekday() < 5  # a weekday in office hours: only the calendar closes it
    found = fired(only("off_hours"), [access(at)])
    if why is None:
        assert found == []
    else:
        (finding,) = found
        assert why in finding.summary and finding.facts["local_time"].startswith(str(day))
    portal = access(at, office="myna-portal")  # マイナポータル: every day of the year
    assert fired(only("off_hours"), [portal]) == []


def test_without_a_holiday_calendar_a_holiday_is_a_working_day() -> None:
    engine = only("off_hours")
    rule = engine.rules.rules.off_hours
    calendar_off = rule.model_copy(update={"public_holidays": "", "closed": ()})
    plain = RULES.rules.model_copy(update={"off_hours": calendar_off})
    off = {
        n: getattr(plain, n).model_copy(update={"enabled": n == "off_hours"}) for n in RULES.names()
    }
    bare = Engine(RULES.model_copy(update={"rules": plain.model_copy(update=off)}), kinds=KINDS)
    holiday = dt.datetime(2026, 11, 23, 10, 0, tzinfo=JST)
    year_end = dt.datetime(2026, 12, 30, 10, 0, tzinfo=JST)
    assert fired(bare, [access(holiday), access(year_end)]) == []
    assert len(fired(engine, [access(holiday), access(year_end)])) == 2


def test_hours_are_japans_whatever_the_zone_of_the_time() -> None:
    utc_night = dt.datetime(2026, 10, 14, 1, 0, tzinfo=dt.UTC)  # 10:00 in Japan
    assert fired(only("off_hours"), [access(utc_night)]) == []


# people the provider holds no record for


def test_not_held_per_requesting_office() -> None:
    batch = [access(WED + dt.timedelta(seconds=i), outcome="not_found") for i in range(10)]
    found = fired(only("not_held"), batch)
    assert rules_of(found) == {"not_held"} and found[0].subject == "chiyoda-child"


def test_not_held_below_the_count_or_the_share_is_quiet() -> None:
    few = [access(WED + dt.timedelta(seconds=i), outcome="not_found") for i in range(9)]
    assert fired(only("not_held"), few) == []
    many_ok = [access(WED + dt.timedelta(seconds=i)) for i in range(100)]
    many_ok += [access(WED + dt.timedelta(seconds=200 + i), outcome="not_found") for i in range(12)]
    assert fired(only("not_held"), many_ok) == []
    # ten offices with one not_found each: none of them fishing
    spread = [access(WED, office=f"office-{i}", outcome="not_found") for i in range(20)]
    assert fired(only("not_held"), spread) == []


# many residents out of season


def residents(day: dt.datetime, n: int, affair: str = "public_assistance") -> list[Access]:
    return [access(day + dt.timedelta(seconds=i), person=f"P{i}", affair=affair) for i in range(n)]


def test_off_season_reads() -> None:
    found = fired(only("off_season_reads"), residents(WED, 501))
    assert rules_of(found) == {"off_season_reads"}
    assert found[0].facts["residents"] == 501 and found[0].facts["day"] == "2026-10-14"


def test_in_season_the_same_reads_are_expected() -> None:
    june = WED.replace(month=6, day=10)
    assert fired(only("off_season_reads"), residents(june, 600, "child_allowance")) == []
    moving = WED.replace(month=3, day=25)  # "*": every affair
    assert fired(only("off_season_reads"), residents(moving, 600)) == []
    # the same person read 600 times is not 600 residents (that is repeated_lookups)
    same = [access(WED + dt.timedelta(seconds=i), person="P") for i in range(600)]
    assert fired(only("off_season_reads"), same) == []


def test_off_season_against_its_own_days() -> None:
    engine = only("off_season_reads")
    quiet: list[Finding] = []
    for d in range(7):  # a busy office: 900 a day, every day: over the floor, its baseline
        fired(engine, residents(WED + dt.timedelta(days=d), 900 + d))  # made meanwhile
    for d in range(7, 10):
        quiet += fired(engine, residents(WED + dt.timedelta(days=d), 900 + d))
    assert quiet == []
    assert rules_of(fired(engine, residents(WED + dt.timedelta(days=10), 2000))) == {
        "off_season_reads"
    }


def test_season_calendar_wraps_the_year() -> None:
    season = RULES.seasons[0].model_copy(update={"starts": (12, 1), "ends": (1, 31)})
    assert season.covers("x", dt.date(2026, 12, 24)) and season.covers("x", dt.date(2027, 1, 2))
    assert not season.covers("x", dt.date(2026, 11, 30))


# one person looked up again and again


def test_repeated_lookups_name_record_ids_not_the_person() -> None:
    batch = [access(WED + dt.timedelta(minutes=i), person="TOKEN-A") for i in range(5)]
    found = fired(only("repeated_lookups"), batch)
    assert rules_of(found) == {"repeated_lookups"}
    assert set(found[0].facts["record_ids"]) == {a.record_id for a in batch}  # type: ignore[arg-type]


def test_lookups_of_different_people_or_spread_out_are_fine() -> None:
    engine = only("repeated_lookups")
    people = [access(WED + dt.timedelta(minutes=i), person=f"P{i}") for i in range(20)]
    assert fired(engine, people) == []
    days = [access(WED + dt.timedelta(days=i), person="TOKEN-B") for i in range(6)]
    assert fired(engine, days) == []
    unknown = [access(WED + dt.timedelta(minutes=i)) for i in range(10)]  # no person known
    assert fired(engine, unknown) == []


# the record chain


@dataclasses.dataclass
class View:
    broken_at: int | None
    problem: str | None = None
    detail: str = "the chain is intact"


def test_chain_break() -> None:
    (f,) = only("chain_break").chain(View(7, "hash_mismatch", "record seq 7 was changed"), WED)
    assert (f.rule, f.subject, f.severity, f.facts["seq"]) == (
        "chain_break",
        "records",
        "critical",
        7,
    )


def test_an_intact_chain_raises_nothing() -> None:
    assert only("chain_break").chain(View(None), WED) == []


# bad input and privacy


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "an access",
        {"requester": "x"},
        Access("id", 1, dt.datetime(2026, 10, 14, 10), "o", "p", "a", "ok"),  # naive
        Access("id", 1, WED, "", "p", "a", "ok"),  # no requester
        Access(None, 1, WED, "o", "p", "a", "ok"),  # type: ignore[arg-type]
        Access("id", "1", WED, "o", "p", "a", "ok"),  # type: ignore[arg-type]
        Access("id", 1, "2026-10-14", "o", "p", "a", "ok"),  # type: ignore[arg-type]
        Access("id", 1, WED, "o", "p", "a", "ok", b"bytes"),  # type: ignore[arg-type]
    ],
)
def test_malformed_accesses_are_counted_never_raised(bad: object) -> None:
    engine = Engine(RULES, kinds=KINDS)
    assert engine.observe([bad, access(WED.replace(hour=3))], WED) != []  # the good one still seen
    assert (engine.dropped, engine.seen) == (1, 1)


def test_no_finding_carries_a_token_or_its_pseudonym() -> None:
    token = "TOKEN-" + "Z" * 40
    engine = Engine(RULES, kinds=KINDS)
    night = WED.replace(hour=2)
    batch = [access(night + dt.timedelta(seconds=i), person=token, outcome=o)
             for i, o in enumerate(["not_found"] * 12 + ["refused"] * 12 + ["ok"] * 300)]  # fmt: skip
    found = engine.observe(batch, batch[-1].at)
    assert {"off_hours", "not_held", "refusal_spike", "repeated_lookups", "rate_spike"} <= rules_of(
        found
    )
    text = repr(found)
    assert token not in text and pseudonym(KEY, token) not in text


def test_a_malformed_rules_file_is_refused_with_what_is_wrong(tmp_path: Path) -> None:
    good = (Path(__file__).resolve().parents[3] / "monitor/anomaly/rules.toml").read_text()
    cases = {
        "not toml": "[rules",
        "rate_spike.k": good.replace("k = 3.0\nfloor = 200", "k = -1.0\nfloor = 200"),
        "rules.bogus": good + "\n[rules.bogus]\nseverity = 'notice'\n",
        "seasons.0.from": good.replace('from = "03-15"', 'from = "02-30"'),
        "off_hours.opens": good.replace('opens = "08:30"', "opens = 830"),
        "off_hours.public_holidays": good.replace(
            'public_holidays = "JP"', 'public_holidays = "XX"'
        ),
        "off_hours.closed.0.from": good.replace('from = "12-29"', 'from = "12-32"'),
        "severity": good.replace('severity = "critical"', 'severity = "panic"'),
    }
    for what, text in cases.items():
        path = tmp_path / "rules.toml"
        path.write_text(text)
        with pytest.raises(RulesError) as err:
            load_rules(path)
        assert what.split(".")[-1] in str(err.value) or what == "not toml", (what, err.value)
        assert err.value.code == "monitor.bad_rules"
