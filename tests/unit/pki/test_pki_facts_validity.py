"""The four facts in and out of a certificate, era-coded birth dates, and validity periods."""

from __future__ import annotations

import datetime as dt

import pytest
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from hypothesis import given
from hypothesis import strategies as st
from pki_helpers import HIERARCHY, TARO, ec_key

from pki import (
    CaName,
    CertKind,
    Malformed,
    PolicyRefused,
    ResidentFacts,
    Sex,
    facts_from_certificate,
)
from pki.ca.validity import JST, validity
from pki.facts import FACT_OIDS, era_date, facts_to_other_names, parse_era_date

EAST = dt.timezone(dt.timedelta(hours=9))


@pytest.mark.parametrize(
    ("day", "code"),
    [
        (dt.date(1868, 10, 23), "118681023"),
        (dt.date(1912, 7, 29), "119120729"),
        (dt.date(1912, 7, 30), "219120730"),
        (dt.date(1926, 12, 25), "319261225"),
        (dt.date(1989, 1, 7), "319890107"),
        (dt.date(1989, 1, 8), "419890108"),
        (dt.date(2019, 4, 30), "420190430"),
        (dt.date(2019, 5, 1), "520190501"),
    ],
)
def test_era_codes_change_on_the_first_day_of_each_era(day: dt.date, code: str) -> None:
    assert era_date(day) == code
    assert parse_era_date(code) == day


@pytest.mark.parametrize(
    "text", ["", "19750401", "6197504010", "319750231", "519750401", "3x9750401"]
)
def test_bad_era_dates_are_refused(text: str) -> None:
    with pytest.raises(Malformed):
        parse_era_date(text)


names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60).filter(
    str.strip
)


@given(
    name=names,
    address=names,
    birth=st.dates(dt.date(1868, 10, 23), dt.date(2100, 1, 1)),
    sex=st.sampled_from(list(Sex)),
    alt=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20),
)
def test_facts_round_trip_through_a_certificate(
    name: str, address: str, birth: dt.date, sex: Sex, alt: str
) -> None:
    facts = ResidentFacts(name, address, birth, sex, name_alt=alt, address_alt=alt)
    cert = _cert_with(facts_to_other_names(facts))
    assert facts_from_certificate(cert) == facts


@pytest.mark.parametrize(
    "name",
    ["髙橋 一郎", "山\ufa11 花子", "\ufa19田 太郎", "\u845b\U000e0100西 次郎"],
    ids=["taka", "saki", "kami-compat", "ivs"],
)
def test_a_variant_character_is_certified_as_written(name: str) -> None:
    facts = ResidentFacts(name, "東京都千代田区", dt.date(1975, 4, 1), Sex.MALE)
    certified = facts_from_certificate(_cert_with(facts_to_other_names(facts)))
    assert certified is not None and certified.name == name


def _cert_with(names: list[x509.GeneralName]) -> x509.Certificate:
    ca = HIERARCHY.cas[CaName.SIGNATURE]
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca.cert.subject)
        .public_key(ec_key().public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=True)
        .sign(ca.key, hashes.SHA256())
    )


def test_facts_in_a_forged_certificate_are_checked() -> None:
    good = facts_to_other_names(TARO)
    printable = x509.OtherName(FACT_OIDS["name"], core.PrintableString("Taro").dump())
    with pytest.raises(Malformed, match="not a UTF8String"):
        facts_from_certificate(_cert_with([printable, *good[1:]]))
    with pytest.raises(Malformed, match="appears twice"):
        facts_from_certificate(_cert_with([*good, good[0]]))
    with pytest.raises(Malformed, match="lacks address"):
        facts_from_certificate(_cert_with([g for g in good if g.type_id != FACT_OIDS["address"]]))
    bad_sex = x509.OtherName(FACT_OIDS["sex"], core.UTF8String("M").dump())
    with pytest.raises(Malformed, match="sex"):
        facts_from_certificate(_cert_with([*good[:2], bad_sex, *good[3:]]))
    garbage = x509.OtherName(FACT_OIDS["name"], b"\x04\x02ab")  # an OCTET STRING
    with pytest.raises(Malformed):
        facts_from_certificate(_cert_with([garbage, *good[1:]]))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": ""},
        {"name": " "},
        {"name": "a\x00b"},
        {"address": "x" * 201},
        {"birth_date": dt.date(1800, 1, 1)},
        {"sex": "1"},
        {"name_alt": "\n"},
    ],
)
def test_facts_are_validated(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {
        "name": "a",
        "address": "b",
        "birth_date": dt.date(2000, 1, 1),
        "sex": Sex.MALE,
    }
    with pytest.raises(Malformed):
        ResidentFacts(**(base | kwargs))  # type: ignore[arg-type]


def test_facts_never_show_in_repr() -> None:
    assert "太郎" not in repr(TARO) and "永田町" not in repr(TARO)
    assert "1975" not in repr(TARO)


def at_jst(y: int, m: int, d: int, h: int = 12) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=EAST)


def test_signature_certificate_ends_on_the_fifth_birthday_after_issue() -> None:
    start, end = validity(CertKind.SIGNATURE, at_jst(2026, 11, 27), dt.date(1975, 4, 1))
    assert start == at_jst(2026, 11, 27).astimezone(dt.UTC)
    assert end.astimezone(JST) == dt.datetime(2031, 4, 1, 23, 59, 59, tzinfo=JST)
    # issued on the birthday itself: that birthday does not count
    _, end = validity(CertKind.SIGNATURE, at_jst(2026, 4, 1), dt.date(1975, 4, 1))
    assert end.astimezone(JST).date() == dt.date(2031, 4, 1)
    _, end = validity(CertKind.SIGNATURE, at_jst(2026, 3, 31), dt.date(1975, 4, 1))
    assert end.astimezone(JST).date() == dt.date(2030, 4, 1)


def test_leap_day_birthdays_fall_on_28_february_in_common_years() -> None:
    _, end = validity(CertKind.SIGNATURE, at_jst(2026, 1, 10), dt.date(1992, 2, 29))
    assert end.astimezone(JST).date() == dt.date(2030, 2, 28)
    _, end = validity(CertKind.SIGNATURE, at_jst(2027, 3, 1), dt.date(1992, 2, 29))
    assert end.astimezone(JST).date() == dt.date(2032, 2, 29)


def test_the_day_of_issue_is_the_japanese_day() -> None:
    # 2026-03-31 20:00 UTC is already 1 April in Japan: the 1 April birthday does not count
    issued = dt.datetime(2026, 3, 31, 20, tzinfo=dt.UTC)
    _, end = validity(CertKind.SIGNATURE, issued, dt.date(1975, 4, 1))
    assert end.astimezone(JST).date() == dt.date(2031, 4, 1)


def test_authentication_certificate_lasts_five_years_and_hides_the_birthday() -> None:
    _, end = validity(CertKind.AUTHENTICATION, at_jst(2026, 11, 27), None)
    assert end.astimezone(JST) == dt.datetime(2031, 11, 27, 23, 59, 59, tzinfo=JST)
    _, end = validity(CertKind.AUTHENTICATION, at_jst(2028, 2, 29), None)
    assert end.astimezone(JST).date() == dt.date(2033, 2, 28)


def test_no_signature_certificate_under_fifteen() -> None:
    with pytest.raises(PolicyRefused, match="under 15"):
        validity(CertKind.SIGNATURE, at_jst(2026, 11, 27), dt.date(2011, 11, 28))
    validity(CertKind.SIGNATURE, at_jst(2026, 11, 27), dt.date(2011, 11, 27))
    with pytest.raises(PolicyRefused, match="future"):
        validity(CertKind.SIGNATURE, at_jst(2026, 11, 27), dt.date(2027, 1, 1))
    with pytest.raises(ValueError, match="timezone"):
        validity(CertKind.AUTHENTICATION, dt.datetime(2026, 1, 1), None)
