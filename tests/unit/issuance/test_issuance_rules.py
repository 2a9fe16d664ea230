"""コンビニ交付's pure rules: the hours, the orders and their fees, the municipality's refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agencies.exceptions import ISSUANCE_TAX_ELSEWHERE
from agencies.municipality import issuance as municipal
from hub.node import BadRequest, QueryRefused
from issuance import IssuanceRefused, is_open, order
from issuance.exceptions import ISSUANCE_BAD_OPTIONS, ISSUANCE_CLOSED, ISSUANCE_UNKNOWN_KIND
from issuance.rules import JST, check_open, fiscal_years


def jst(y: int, m: int, d: int, hh: int, mm: int) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=JST)


@pytest.mark.parametrize(
    ("at", "open_"),
    [
        (jst(2026, 6, 10, 6, 29), False),
        (jst(2026, 6, 10, 6, 30), True),
        (jst(2026, 6, 10, 22, 59), True),
        (jst(2026, 6, 10, 23, 0), False),
        (jst(2026, 12, 28, 12, 0), True),
        (jst(2026, 12, 29, 12, 0), False),
        (jst(2027, 1, 3, 12, 0), False),
        (jst(2027, 1, 4, 6, 30), True),
        (dt.datetime(2026, 6, 9, 21, 30, tzinfo=dt.UTC), True),  # 6:30 JST the next day
    ],
)
def test_hours(at: dt.datetime, open_: bool) -> None:
    assert is_open(at) is open_


def test_closed_says_the_hours() -> None:
    with pytest.raises(IssuanceRefused) as closed:
        check_open(jst(2026, 6, 10, 3, 0))
    assert closed.value.code == ISSUANCE_CLOSED
    assert "6:30〜23:00" in str(closed.value)


def test_orders_and_fees() -> None:
    at = jst(2026, 6, 10, 12, 0)
    whole = order("resident_certificate", {"household": "1"}, at, copies=2)
    assert (whole.params, whole.fee, whole.item) == ({"household": 1}, 400, "resident_certificate")
    assert order("seal_certificate", {}, at).fee == 200
    tax = order("tax_certificate", {}, at)
    assert (tax.params, tax.fee) == ({"fiscal_year": 2026}, 300)
    january = order("tax_certificate", {}, jst(2027, 2, 1, 12, 0))
    assert january.params == {"fiscal_year": 2026}  # 年度 starts in April


@pytest.mark.parametrize(
    ("kind", "options", "copies", "code"),
    [
        ("family_register", {}, 1, ISSUANCE_UNKNOWN_KIND),
        ("resident_certificate", {"with_number": "1"}, 1, ISSUANCE_BAD_OPTIONS),
        ("resident_certificate", {"number": "yes"}, 1, ISSUANCE_BAD_OPTIONS),
        ("tax_certificate", {"number": "1"}, 1, ISSUANCE_BAD_OPTIONS),
        ("resident_certificate", {"household": "yes"}, 1, ISSUANCE_BAD_OPTIONS),
        ("seal_certificate", {"household": "1"}, 1, ISSUANCE_BAD_OPTIONS),
        ("tax_certificate", {"fiscal_year": "2019"}, 1, ISSUANCE_BAD_OPTIONS),
        ("seal_certificate", {}, 0, ISSUANCE_BAD_OPTIONS),
        ("seal_certificate", {}, 11, ISSUANCE_BAD_OPTIONS),
    ],
)
def test_bad_orders_say_why(kind: str, options: dict[str, str], copies: int, code: str) -> None:
    with pytest.raises(IssuanceRefused) as refused:
        order(kind, options, jst(2026, 6, 10, 12, 0), copies)
    assert refused.value.code == code


@given(st.text(max_size=200), st.dictionaries(st.text(max_size=50), st.text(max_size=50)))
def test_any_order_is_an_order_or_a_refusal(kind: str, options: dict[str, str]) -> None:
    refused: IssuanceRefused | None = None
    try:
        made = order(kind, options, jst(2026, 6, 10, 12, 0))
    except IssuanceRefused as exc:
        refused = exc
    if refused is None:
        assert made.fee > 0
    else:
        assert refused.code.startswith("issuance.")
        assert len(str(refused)) < 300


RESIDENT = {
    "name": "番号 花子",
    "birth_date": "1980-05-05",
    "sex": "2",
    "relationship": "世帯主",
    "address": "東京都千代田区麹町一丁目1番1号",
}


def test_the_municipalitys_refusals() -> None:
    assert municipal.refusal(RESIDENT, None) is None
    dv = municipal.refusal({**RESIDENT, "support_measure": True}, None)
    assert isinstance(dv, QueryRefused)
    assert dv.code == "municipality.support_measure"
    pending = municipal.refusal(RESIDENT, "2026-07-01")
    assert pending is not None
    assert pending.code == "municipality.move_out_pending"
    assert "2026-07-01" in str(pending)
    noted = municipal.refusal({**RESIDENT, "move_out": "2026-07-02"}, None)
    assert noted is not None
    assert noted.code == "municipality.move_out_pending"


def test_move_out_from_the_events() -> None:
    events = [
        {"person": "a", "change": "moved_in", "effective": "2020-01-01"},
        {"person": "b", "change": "moved_out", "effective": "2026-07-01"},
    ]
    assert municipal.moved_out(events, "a") is None
    assert municipal.moved_out(events, "b") == "2026-07-01"


def test_resident_certificate_with_and_without_the_household() -> None:
    spouse = {"name": "番号 太郎", "relationship": "夫", "birth_date": "1979-01-01", "sex": "1"}
    house = [dict(RESIDENT), spouse]
    alone = municipal.resident_certificate(RESIDENT, house, {})
    assert [m["name"] for m in alone["members"]] == ["番号 花子"]
    whole = municipal.resident_certificate(RESIDENT, house, {"household": 1})
    assert [m["name"] for m in whole["members"]] == ["番号 花子", "番号 太郎"]
    with pytest.raises(BadRequest):
        municipal.resident_certificate(RESIDENT, house, {"household": "all"})


def test_resident_certificate_with_the_number_only_when_chosen() -> None:
    spouse = {"name": "番号 太郎", "relationship": "夫", "birth_date": "1979-01-01", "sex": "1"}
    me = {**RESIDENT, "number": "123456789018"}
    house = [me, {**spouse, "number": "234567890126"}]
    without = municipal.resident_certificate(me, house, {"household": 1})
    assert all("number" not in m for m in without["members"])  # the default: no number
    alone = municipal.resident_certificate(me, house, {}, with_number=True)
    assert [m["number"] for m in alone["members"]] == ["123456789018"]
    whole = municipal.resident_certificate(me, house, {"household": 1}, with_number=True)
    assert [m["number"] for m in whole["members"]] == ["123456789018", "234567890126"]
    with pytest.raises(QueryRefused) as none:  # a member the register bears no number for
        municipal.resident_certificate(me, [me, spouse], {"household": 1}, with_number=True)
    assert none.value.code == "municipality.no_number"
    assert order("resident_certificate", {}, jst(2026, 6, 10, 12, 0)).item == (
        "resident_certificate"
    )
    chosen = order("resident_certificate", {"number": "1"}, jst(2026, 6, 10, 12, 0))
    assert (chosen.item, chosen.params, chosen.fee) == (
        "resident_certificate_number", {"household": 0}, 200
    )  # fmt: skip


def test_seal_certificate_needs_a_registered_seal() -> None:
    with pytest.raises(QueryRefused) as none:
        municipal.seal_certificate(RESIDENT)
    assert none.value.code == "municipality.no_seal"
    seal = {"number": "印R1", "registered": "2000-01-01"}
    made = municipal.seal_certificate({**RESIDENT, "seal": seal})
    assert (made["seal_number"], made["registered"]) == ("印R1", "2000-01-01")


def test_seal_registration_of_the_population() -> None:
    on = dt.date(2024, 6, 1)
    assert municipal.seal_registration("R1", "2010-01-01", dt.date(2012, 1, 1), on) == {}
    made = municipal.seal_registration("R1", "2008-02-29", dt.date(2010, 1, 1), on)
    assert made == {"number": "印R1", "registered": "2023-02-28"}
    adult = municipal.seal_registration("R2", "1980-05-05", dt.date(2010, 4, 1), on)
    assert adult == {"number": "印R2", "registered": "2010-04-01"}


def test_tax_certificate_of_a_year_assessed_or_none() -> None:
    payer = {
        "name": "番号 花子",
        "years": {"2026": {"total_income": 1, "municipal_income_levy": 0}},
    }
    assert municipal.tax_certificate(payer, 2025) is None
    made = municipal.tax_certificate(payer, 2026)
    assert made is not None
    assert made["fiscal_year"] == 2026


async def test_the_portals_self_information_gets_the_record_not_a_certificate() -> None:
    """The portal asks an office for everything it provides: the certificate items ride along
    and are answered by the record (a certificate is no data of its own)."""
    from agencies.municipality.local_tax import LocalTax
    from agencies.municipality.resident_register import ResidentRegister
    from hub.node import MemoryStore, NoRecord

    store = MemoryStore()
    house = {"head": "r1", "members": ["r1"]}
    kept = {**RESIDENT, "household": "h1", "number": "123456789018"}
    await store.put_many("residents", [("r1", "tok", kept)])
    await store.put_many("households", [("h1", None, house)])
    register = ResidentRegister(store)
    every = (
        "resident_record", "resident_certificate", "resident_certificate_number", "seal_certificate"
    )  # fmt: skip
    answer = await register.answer("tok", every, {})
    assert answer is not None
    assert set(answer) == {"resident_record"}
    assert "123456789018" not in str(answer)  # the record's number is no 住民票関係情報
    with pytest.raises(NoRecord):
        await register.answer("tok", ("resident_certificate", "seal_certificate"), {})
    taxes = MemoryStore()
    years = {"2026": {"total_income": 1, "municipal_income_levy": 0}}
    await taxes.put_many("taxpayers", [("t1", "tt", {"name": "x", "years": years})])
    tax = await LocalTax(taxes).answer(
        "tt", ("local_tax", "tax_certificate"), {"fiscal_year": 2026}
    )
    assert tax is not None
    assert set(tax) == {"local_tax"}


@pytest.mark.parametrize(
    ("at", "years"),
    [
        (jst(2026, 5, 31, 23, 59), (2025, 2024, 2023, 2022)),  # before the June assessment
        (jst(2026, 6, 1, 0, 0), (2026, 2025, 2024, 2023)),
        (jst(2027, 2, 1, 12, 0), (2026, 2025, 2024, 2023)),
        (dt.datetime(2026, 5, 31, 15, 0, tzinfo=dt.UTC), (2026, 2025, 2024, 2023)),  # 0:00 JST
    ],
)
def test_the_fiscal_years_a_kiosk_offers(at: dt.datetime, years: tuple[int, ...]) -> None:
    assert fiscal_years(at) == years
    assert order("tax_certificate", {}, at).params == {"fiscal_year": years[0]}
    for year in years:
        assert order("tax_certificate", {"fiscal_year": str(year)}, at).params == {
            "fiscal_year": year
        }
    for outside in (years[-1] - 1, years[0] + 1):
        with pytest.raises(IssuanceRefused) as refused:
            order("tax_certificate", {"fiscal_year": str(outside)}, at)
        assert refused.value.code == ISSUANCE_BAD_OPTIONS


async def test_a_year_assessed_elsewhere_is_the_tax_offices_clear_refusal() -> None:
    """The resident moved in after 1 January of the year asked: this tax office never assessed
    it, the municipality of that day did — a refusal that says so, not an error."""
    from agencies.municipality.local_tax import LocalTax
    from hub.node import MemoryStore

    taxes = MemoryStore()
    years = {"2026": {"total_income": 1, "municipal_income_levy": 0}}
    await taxes.put_many("taxpayers", [("t1", "tt", {"name": "x", "years": years})])
    office = LocalTax(taxes)
    made = await office.answer("tt", ("tax_certificate",), {"fiscal_year": 2026})
    assert made is not None and made["tax_certificate"]["fiscal_year"] == 2026
    for person, year in (("tt", 2025), ("moved-in-this-year", 2026)):
        with pytest.raises(QueryRefused) as refused:
            await office.answer(person, ("tax_certificate",), {"fiscal_year": year})
        assert refused.value.code == ISSUANCE_TAX_ELSEWHERE
        assert f"{year}年1月1日にお住まいだった市区町村" in str(refused.value)
    with pytest.raises(BadRequest):  # the centre always says which year
        await office.answer("tt", ("tax_certificate",), {})


def test_the_number_notice_is_a_pdf_with_the_number_grouped() -> None:
    from issuance.notice import grouped, render_notice

    assert grouped("123456789018") == "1234 5678 9018"
    notice = {
        "local_id": "R1", "name": "高橋 花", "birth_date": "2026-12-01",
        "address": "東京都千代田区九段南一丁目2番1号", "number": "123456789018",
        "designated": "2026-12-01", "reason": "出生", "by": "", "event_id": "e",
    }  # fmt: skip
    pdf = render_notice(notice, "千代田区長")
    assert pdf.startswith(b"%PDF") and len(pdf) < 20_000
    assert render_notice(notice, "千代田区長") == pdf  # invariant: the same notice, the same bytes
