"""authorize: the full pure check the router runs, and the reason for every refusal."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.routing import legal, offices

from .snippets import office, registry

ON = date(2025, 6, 1)


@pytest.fixture(scope="module")
def wide(table: legal.LegalTable) -> offices.Registry:
    """Offices of several kinds, for refusals the default registry cannot show."""
    return offices.parse_registry(
        registry(
            office("tokyo-welfare", kind="prefecture", municipality='"130001"',
                   affairs='["public_assistance"]', provides='["public_assistance"]'),
            office("chiyoda-tax", affairs='["local_tax_assessment"]',
                   provides='["local_tax", "resident_record"]'),
            office("nenkin", kind="pension_service", municipality=None,
                   affairs='["national_pension"]', provides='["pension_benefit"]'),
        ),
        table,
    )  # fmt: skip


def test_child_allowance_may_ask_tax_and_resident_records(
    table: legal.LegalTable, registry: offices.Registry
) -> None:
    tax = offices.authorize(
        table, registry, "chiyoda-child", "child_allowance", "shinjuku-tax", ["local_tax"], ON
    )
    assert (tax.allowed, tax.rows, tax.code) == (True, ("r01",), "allowed")
    resident = offices.authorize(
        table, registry, "chiyoda-child", "child_allowance", "shinjuku-resident",
        ["resident_record"], ON,
    )  # fmt: skip
    assert resident.rows == ("r02",)


@pytest.mark.parametrize(
    ("requester", "provider"),
    [("chiyoda-child", "chiyoda-tax"), ("chiyoda-child", "chiyoda-resident"),
     ("chiyoda-welfare", "chiyoda-tax"), ("shinjuku-tax", "shinjuku-resident")],
)  # fmt: skip
def test_two_offices_of_one_municipality_are_in_house_not_the_network(
    table: legal.LegalTable, registry: offices.Registry, requester: str, provider: str
) -> None:
    """庁内連携 (番号法 第9条第2項): refused before the law's rows are looked at, even for a row
    that would allow the kinds, and the reason names the municipality and the in-house link."""
    office = registry.get(requester)
    affair = office.affairs[0] if office.affairs else "local_tax_assessment"
    item = registry.get(provider).provides[0]
    d = offices.authorize(table, registry, requester, affair, provider, [item], ON)
    assert (d.allowed, d.code, d.rows) == (False, "in_house", ())
    assert f"{requester} and {provider} are offices of one municipality" in d.reason
    assert "庁内連携" in d.reason and "番号法 第9条第2項" in d.reason


def test_offices_of_no_municipality_or_of_two_are_not_in_house(
    registry: offices.Registry,
) -> None:
    get = registry.get
    assert offices.in_house(get("chiyoda-child"), get("shinjuku-tax")) is None
    assert offices.in_house(get("nenkin"), get("kenpo")) is None  # neither names one
    assert offices.in_house(get("chiyoda-child"), get("nenkin")) is None


def test_several_items_from_one_provider(table: legal.LegalTable, wide: offices.Registry) -> None:
    decision = offices.authorize(
        table, wide, "tokyo-welfare", "public_assistance", "chiyoda-tax",
        ["local_tax", "resident_record"], ON,
    )  # fmt: skip
    assert decision.allowed
    assert decision.rows == ("r08",)


@pytest.mark.parametrize(
    ("requester", "affair", "provider", "items", "on", "code", "reason"),
    [
        ("minato-child", "child_allowance", "shinjuku-tax", ["local_tax"], ON,
         "unknown_requester", "requester 'minato-child' is not an office of the network"),
        ("chiyoda-child", "child_allowance", "minato-tax", ["local_tax"], ON,
         "unknown_provider", "provider 'minato-tax' is not an office of the network"),
        ("chiyoda-child", "pachinko", "shinjuku-tax", ["local_tax"], ON,
         "unknown_affair", "unknown affair 'pachinko'"),
        ("chiyoda-child", "child_allowance", "shinjuku-tax", ["shoe_size"], ON,
         "unknown_item", "unknown information item 'shoe_size'"),
        ("chiyoda-child", "child_allowance", "shinjuku-tax", [], ON,
         "no_items", "no information items were requested"),
        ("chiyoda-tax", "child_allowance", "shinjuku-resident", ["resident_record"], ON,
         "affair_not_performed",
         "chiyoda-tax does not perform child_allowance (it performs: local_tax_assessment)"),
        ("chiyoda-resident", "child_allowance", "shinjuku-tax", ["local_tax"], ON,
         "affair_not_performed",
         "chiyoda-resident does not perform child_allowance (it performs: no affair)"),
        ("chiyoda-child", "child_allowance", "jlis", ["local_tax"], ON, "no_row",
         "chiyoda-child is a municipality, jlis is a jlis: no row lets municipality ask jlis "
         "for local_tax for child_allowance; for child_allowance, municipality may ask: "
         "municipality for local_tax (r01), municipality for resident_record (r02)"),
        ("chiyoda-child", "child_allowance", "shinjuku-tax", ["local_tax"], date(2017, 1, 1),
         "not_yet_in_force", "row r01 (lets municipality ask municipality for local_tax for "
         "child_allowance) is not yet in force: it applies from 2017-11-13"),
        ("chiyoda-child", "child_allowance", "shinjuku-resident", ["local_tax"], ON,
         "item_not_held",
         "shinjuku-resident does not hold local_tax (it provides: resident_record, resident_certificate, resident_certificate_number, seal_certificate)"),
        ("shinjuku-tax", "local_tax_assessment", "chiyoda-child", ["local_tax"], ON,
         "item_not_held", "chiyoda-child does not hold local_tax (it provides: nothing)"),
    ],
    ids=[
        "unknown-requester", "unknown-provider", "unknown-affair", "unknown-item", "no-items",
        "affair-not-performed", "performs-nothing", "no-row", "not-yet-in-force",
        "item-not-held", "holds-nothing",
    ],
)  # fmt: skip
def test_refusal_reasons(
    table: legal.LegalTable,
    registry: offices.Registry,
    requester: str,
    affair: str,
    provider: str,
    items: list[str],
    on: date,
    code: str,
    reason: str,
) -> None:
    decision = offices.authorize(table, registry, requester, affair, provider, items, on)
    assert (decision.allowed, decision.rows, decision.code) == (False, (), code)
    if code in {"no_row", "not_yet_in_force", "expired"}:  # prefixed with who is what
        assert decision.reason.startswith(f"{requester} is a ")
        assert decision.reason.endswith(reason)
    else:
        assert decision.reason == reason


def test_table_refusal_names_both_offices(table: legal.LegalTable, wide: offices.Registry) -> None:
    decision = offices.authorize(
        table, wide, "nenkin", "national_pension", "tokyo-welfare", ["public_assistance"], ON
    )
    assert decision.code == "no_row"
    assert decision.reason.startswith(
        "nenkin is a pension_service, tokyo-welfare is a prefecture: no row lets "
        "pension_service ask prefecture for public_assistance for national_pension"
    )


def test_the_legal_table_is_checked_before_what_the_provider_holds(
    table: legal.LegalTable, wide: offices.Registry
) -> None:
    # nenkin does not hold local_tax either; the law's refusal is the one reported.
    decision = offices.authorize(
        table, wide, "tokyo-welfare", "public_assistance", "nenkin", ["local_tax"], ON
    )
    assert decision.code == "no_row"


DEFAULT_TABLE = legal.load_default()
DEFAULT_REGISTRY = offices.load_default(DEFAULT_TABLE)
codes = st.one_of(st.text(max_size=80), st.sampled_from([o.code for o in DEFAULT_REGISTRY]))
names = st.one_of(st.text(max_size=80), st.sampled_from([*DEFAULT_TABLE.affairs, "local_tax"]))


@given(requester=codes, affair=names, provider=codes, items=st.lists(names, max_size=4),
       on=st.dates())  # fmt: skip
def test_authorize_never_raises(
    requester: str, affair: str, provider: str, items: list[str], on: date
) -> None:
    decision = offices.authorize(
        DEFAULT_TABLE, DEFAULT_REGISTRY, requester, affair, provider, items, on
    )
    assert decision.allowed == (decision.code == "allowed")
    assert decision.reason
