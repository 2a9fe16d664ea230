"""Season files: every shipped one loads; a bad one is refused naming the field at fault
(logins and applications too: their kind, form and whose residents); a season without some
kinds keeps its other streams' proportions."""

from __future__ import annotations

import tomllib

import pytest

from loadtest.exceptions import BadSeason, UnknownSeason
from loadtest.season import CARD_KINDS, SEASONS_DIR, list_seasons, load_season, parse_season

GOOD = (SEASONS_DIR / "june-child-allowance.toml").read_text(encoding="utf-8")


def test_every_shipped_season_loads_and_names_its_file() -> None:
    names = [name for name, _ in list_seasons()]
    assert {"june-child-allowance", "tax-filing", "spring-moves", "summer-notices"} <= set(names)
    for name in names:
        season = load_season(name)
        assert season.name == name
        assert season.offices()


def _replace(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (_replace("share = 0.25", "share = 0.5"), "traffic: the shares add up to"),
        (_replace("share = 0.25", "share = -1"), "traffic[0].share"),
        (_replace('shape = "batch"', 'shape = "nightly"'), "traffic[0].shape"),
        (_replace('kind = "query"', 'kind = "fax"'), "traffic[0].kind"),
        (_replace('affair = "child_allowance"\n', ""), "a query stream needs 'affair'"),
        (_replace("days = 14", "days = 0"), "calendar.days"),
        (_replace("days = 14", "days = 14\nday_weights = [1, 2]"), "day_weights has 2 values"),
        (_replace("residents = 20000", "residents = 5"), "population.residents"),
        (_replace('office = "chiyoda-child"', 'office = "Chiyoda Child"'), "traffic[0].office"),
        (_replace("daily_messages = 1000", "daily_messages = 1000\nmystery = 1"), "mystery"),
        (
            _replace("[shapes.counter]\nweekdays = [1.4,", "[shapes.counter]\nweekdays = [1.4, 9,"),
            "shapes.counter.weekdays",
        ),
        ("name = [", "not TOML"),
        (_replace('application = "child_allowance"', 'application = "passport"'), "application"),
        (
            _replace(
                'application = "child_allowance"\n',
                'application = "child_allowance"\nrevoked = true\n',
            ),
            "only a portal_login stream is of revoked cards",
        ),
        (_replace('application = "child_allowance"\n', ""), "needs 'application'"),
        (_replace('held_by = "chiyoda-child"\n', ""), "needs 'held_by'"),
        (_replace('held_by = "chiyoda-child"', 'held_by = "../jlis"'), "held_by"),
        (_replace("form = { child_name", "formx = { child_name"), "formx"),
        (_replace('child_name = "番号 一郎"', 'child_name = ""'), "form.child_name"),
        (
            _replace('child_name = "番号 一郎"', 'child_name = "' + "x" * 201 + '"'),
            "form.child_name",
        ),
        (_replace('child_name = "番号 一郎"', "child_name = 3"), "form.child_name"),
        (_replace('child_name = "番号 一郎"', 'Child = "x"'), "form.Child"),
        (
            _replace(
                'child_name = "番号 一郎"',
                ", ".join(f'f{i} = "x"' for i in range(21)),
            ),
            "form",
        ),
    ],
)
def test_a_bad_season_is_refused_naming_the_field(text: str, field: str) -> None:
    with pytest.raises(BadSeason) as caught:
        parse_season(text, "bad.toml")
    assert field in str(caught.value)
    assert str(caught.value).startswith("bad.toml: ")
    assert caught.value.code == "loadtest.bad_season"


def test_hours_must_be_24_and_not_all_zero() -> None:
    data = tomllib.loads(GOOD)
    hours = data["shapes"]["counter"]["hours"]
    with pytest.raises(BadSeason, match=r"shapes\.counter\.hours"):
        parse_season(GOOD.replace(str(hours).replace("'", ""), "[1, 2]"), "x")
    zero = "[" + ", ".join(["0"] * 24) + "]"
    lines = [ln for ln in GOOD.splitlines() if ln.startswith("hours = ")]
    with pytest.raises(BadSeason, match="weight above 0"):
        parse_season(GOOD.replace(lines[0], f"hours = {zero}", 1), "x")


def test_unknown_and_oversized_seasons(tmp_path) -> None:
    with pytest.raises(UnknownSeason, match="june-child-allowance"):
        load_season("no-such-season")
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 300_000)
    with pytest.raises(BadSeason, match="256 KiB"):
        load_season(str(big))


def test_logins_and_applications_are_in_the_june_season() -> None:
    season = load_season("june-child-allowance")
    kinds = {t.name: t for t in season.traffic if t.kind in CARD_KINDS}
    claims, logins = kinds["child_claims"], kinds["portal_logins"]
    assert (claims.application, claims.held_by, claims.collection) == (
        "child_allowance",
        "chiyoda-child",
        "applicants",
    )
    assert set(claims.form) == {"child_name", "child_birth_date", "bank_account"}
    assert logins.held_by == "chiyoda-resident" and logins.office == "myna-portal"


def test_a_season_without_some_kinds_keeps_the_others_proportions() -> None:
    season = load_season("june-child-allowance")
    rest = season.without(CARD_KINDS)
    assert all(t.kind not in CARD_KINDS for t in rest.traffic)
    assert abs(sum(t.share for t in rest.traffic) - 1) < 1e-9
    kept = sum(t.share for t in season.traffic if t.kind not in CARD_KINDS)
    before = {t.name: t.share for t in season.traffic}
    assert all(abs(t.share - before[t.name] / kept) < 1e-9 for t in rest.traffic)
    assert rest.daily_messages == round(season.daily_messages * kept)
    assert season.without(frozenset({"fax"})) is season
    every = frozenset(t.kind for t in season.traffic)
    with pytest.raises(BadSeason, match="nothing left"):
        season.without(every)
