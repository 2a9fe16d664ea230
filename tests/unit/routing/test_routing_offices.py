"""The office registry: the shipped offices, municipal check digits, and malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.routing import legal, offices
from hub.routing.exceptions import MalformedRegistry, RoutingError, UnknownOffice

from .snippets import office, registry


def test_default_registry(registry: offices.Registry) -> None:
    codes = [o.code for o in registry]
    assert codes[0] == "jlis"
    assert {"chiyoda-resident", "chiyoda-tax", "chiyoda-child", "nenkin", "kenpo"} <= set(codes)
    assert len(registry) == 25  # 22 offices, the CA, the portal and the issuance centre
    # every row of the legal table has a registered requester and provider to exercise it
    table = legal.load_default()
    for row in table.rows():
        assert any(
            row.affair in o.affairs
            and offices.kind_asking(table, o, row.affair)[0] == row.requester
            for o in registry
        ), row.id
        for item in row.items:  # a municipality's items sit in different departments
            assert any(
                item in o.provides and offices.kind_providing(table, o, (item,))[0] == row.provider
                for o in registry
            ), row.id
    jlis = registry.get("jlis")
    assert (jlis.kind, jlis.affairs, jlis.provides, jlis.municipality) == ("jlis", (), (), None)
    tax = registry.get("chiyoda-tax")
    assert (tax.kind, tax.municipality) == ("municipality", "131016")
    assert tax.affairs == ("local_tax_assessment",)
    assert tax.provides == ("local_tax", "tax_certificate")
    assert registry.get("chiyoda-resident").provides == (
        "resident_record",
        "resident_certificate",
        "resident_certificate_number",
        "seal_certificate",
    )
    assert registry.get("chiyoda-child").affairs == ("child_allowance", "childcare_benefit")
    assert "chiyoda-tax" in registry
    assert "minato-tax" not in registry


def test_get_of_an_unknown_office_says_so(registry: offices.Registry) -> None:
    with pytest.raises(UnknownOffice) as caught:
        registry.get("minato-tax")
    assert isinstance(caught.value, RoutingError)
    assert caught.value.code == "routing.unknown_office"
    message = "office 'minato-tax' is not registered on the network (25 offices are)"
    assert str(caught.value) == message


def refused(text: str, table: legal.LegalTable) -> MalformedRegistry:
    with pytest.raises(MalformedRegistry) as caught:
        offices.parse_registry(text, table, "offices-test.toml")
    assert caught.value.code == "routing.malformed_registry"
    return caught.value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (registry(office(municipality='"131017"')),
         "offices.chiyoda-tax: municipality 131017 has a wrong check digit (expected 131016)"),
        (registry(office(municipality='"13101"')),
         "offices.chiyoda-tax.municipality: String should match pattern"),
        (registry(office(municipality=None)),
         "offices.chiyoda-tax: an office of kind municipality needs a municipality code"),
        (registry(office(kind="ward")),
         "offices.chiyoda-tax: unknown kind 'ward' (not a kind of the legal table)"),
        (registry(office(affairs='["pachinko"]')),
         "offices.chiyoda-tax: unknown affair 'pachinko' (not in the legal table)"),
        (registry(office(provides='["shoe_size"]')),
         "offices.chiyoda-tax: unknown item 'shoe_size' (not in the legal table)"),
        (registry(office(kind="jlis", municipality=None, affairs='["child_allowance"]',
                         provides="[]")),
         "offices.chiyoda-tax: performs child_allowance, but no row lets a jlis ask for it"),
        (registry(office(provides='["pension_benefit"]')),
         "offices.chiyoda-tax: provides pension_benefit, but no row asks a municipality for it"),
        (registry(office(affairs='["child_allowance", "child_allowance"]')),
         "offices.chiyoda-tax.affairs: a code is listed twice"),
        (registry(office(extra='accepts = ["pachinko_prize"]\n')),
         "offices.chiyoda-tax: takes unknown application 'pachinko_prize'"),
        (registry(office("Chiyoda_Tax")),
         "key 'Chiyoda_Tax' of offices: String should match pattern"),
        (registry(office(), office()), "not valid TOML: Cannot declare"),
        (registry(office(extra='phone = "03"\n')),
         "offices.chiyoda-tax.phone: Extra inputs are not permitted"),
        (registry(office(affairs='"child_allowance"')),
         "offices.chiyoda-tax.affairs: Input should be a valid tuple"),
        (registry(office()).replace('version = "test.1"', ""), "version: Field required"),
        (registry(office()).replace('name_ja = "テスト"\n', ""),
         "offices.chiyoda-tax.name_ja: Field required"),
    ],
    ids=[
        "check-digit", "five-digits", "municipality-missing", "unknown-kind", "unknown-affair",
        "unknown-item", "kind-cannot-ask", "kind-never-asked", "affair-twice", "unknown-application", "bad-code",
        "duplicate-code", "unknown-key", "wrong-type", "missing-version", "missing-name",
    ],
)  # fmt: skip
def test_defect_is_refused_with_a_precise_message(
    table: legal.LegalTable, text: str, message: str
) -> None:
    error = refused(text, table)
    assert any(message in problem for problem in error.problems), error.problems


def test_minimal_registry_is_valid(table: legal.LegalTable) -> None:
    parsed = offices.parse_registry(registry(), table)
    assert parsed.version == "test.1"
    assert parsed.offices()[0].code == "chiyoda-tax"


def test_offices_outside_a_municipality_need_no_code(table: legal.LegalTable) -> None:
    nenkin = office(
        "nenkin",
        kind="pension_service",
        municipality=None,
        affairs='["national_pension"]',
        provides='["pension_benefit"]',
    )
    text = registry(nenkin)
    assert offices.parse_registry(text, table).get("nenkin").municipality is None


def test_load_registry_reads_a_file(tmp_path: Path, table: legal.LegalTable) -> None:
    path = tmp_path / "offices.toml"
    path.write_text(registry(), encoding="utf-8")
    assert len(offices.load_registry(path, table)) == 1
    with pytest.raises(MalformedRegistry, match="cannot be read"):
        offices.load_registry(tmp_path / "missing.toml", table)
