"""The kiosk's till, pure: what it takes, what is paid, the change, what goes back; 部数 and
the year as a form sends them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.exceptions import FormRefused
from kiosk.flow import copies_of, nendo
from kiosk.payment import CASH, EMONEY, Payment, pay, refund

TAKEN = [str(c) for c in CASH] + [EMONEY]


def test_coins_until_the_fee_is_paid_then_the_change() -> None:
    p = Payment(600)
    p = pay(p, "500")
    assert (p.paid, p.rest, p.complete, p.change) == (500, 100, False, 0)
    p = pay(p, "1000")
    assert (p.paid, p.rest, p.complete, p.change) == (1500, 0, True, 900)
    with pytest.raises(FormRefused):  # complete: the slot takes nothing more
        pay(p, "10")


def test_e_money_pays_what_is_still_due_exactly() -> None:
    p = pay(pay(Payment(900), "100"), EMONEY)
    assert (p.cash, p.emoney, p.change, p.complete) == (100, 800, 0, True)


@pytest.mark.parametrize(
    "what", ["", "0", "1", "5", "-500", "2000", "5000", "10000", "１００", " 100", "100.0", "e"]
)
def test_what_the_till_does_not_take_is_refused(what: str) -> None:
    with pytest.raises(FormRefused):
        pay(Payment(200), what)


@given(st.integers(1, 10_000), st.lists(st.sampled_from(TAKEN), max_size=40))
def test_a_payment_never_takes_more_than_it_must_nor_forgets_a_coin(
    due: int, inserted: list[str]
) -> None:
    p, put = Payment(due), 0
    for what in inserted:
        if p.complete:
            with pytest.raises(FormRefused):
                pay(p, what)
            continue
        before = p.paid
        p = pay(p, what)
        put += p.paid - before
        assert p.paid > before
    assert p.paid == put
    assert p.change == max(0, p.paid - due) and p.change < 1000  # one note too many at most
    assert p.emoney <= due
    assert refund(p, 0) == p.paid  # 中止: everything back
    if p.complete:
        assert refund(p, due) == p.change  # printed: only the change


def test_a_print_that_failed_keeps_only_the_fee_of_what_was_printed() -> None:
    p = pay(Payment(600), "1000")  # 3 copies of 200 円
    assert refund(p, 200) == 800  # one printed: two copies' fee and the change back
    assert refund(p, 0) == 1000
    assert refund(p, 10_000) == 0  # never more than was paid


@pytest.mark.parametrize(("value", "copies"), [("1", 1), ("10", 10), ("007", 7)])
def test_copies_from_a_form(value: str, copies: int) -> None:
    assert copies_of(value, 10) == copies


@pytest.mark.parametrize(
    "value", ["0", "-1", "11", "1000", "99999999999999999999", "", "１", "2.0", "+2", " 2", "二"]
)
def test_copies_out_of_range_or_not_a_number(value: str) -> None:
    with pytest.raises(FormRefused):
        copies_of(value, 10)


def test_the_fiscal_year_as_the_certificate_names_it() -> None:
    assert nendo(2026) == "令和8年度"
    assert nendo(2019) == "令和元年度"
    assert nendo(2018) == "2018年度"
