"""The store's payment step, pure: what the kiosk's till takes, what is paid, the change, and
what goes back. A MODEL of the multifunction machine's cash and e-money unit (no source read
names what the real machines take): coins of 10, 50, 100 and 500 円 and 1,000-円 notes, put in
one at a time, or the e-money card touched once for what is still due.

The certificate is printed only once the payment is complete; until then 中止 gives back
everything put in (and the e-money charge is cancelled), and nothing is printed. A print that
fails after payment gives back the fee of every copy not printed, with the change (``refund``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kiosk.exceptions import FormRefused

__all__ = ["CASH", "EMONEY", "Payment", "pay", "refund"]

CASH = (10, 50, 100, 500, 1000)  # 円: the coins and the one note the till takes (a MODEL)
EMONEY = "emoney"  # the e-money card: pays what is still due at one touch


@dataclass(frozen=True, slots=True)
class Payment:
    due: int  # the fee of the order, as the centre charged it
    cash: int = 0  # put in so far
    emoney: int = 0  # charged to the e-money card

    @property
    def paid(self) -> int:
        return self.cash + self.emoney

    @property
    def rest(self) -> int:
        return max(0, self.due - self.paid)

    @property
    def complete(self) -> bool:
        return self.paid >= self.due

    @property
    def change(self) -> int:
        return max(0, self.paid - self.due)


def pay(payment: Payment, what: str) -> Payment:
    """``payment`` after one coin or note (its value in 円, as a form sends it) or the e-money
    card (``EMONEY``); refused once it is complete and for anything the till does not take."""
    if payment.complete:
        raise FormRefused("お支払いは済んでいます (the payment is complete)")
    if what == EMONEY:
        return dataclasses.replace(payment, emoney=payment.emoney + payment.rest)
    if what not in {str(c) for c in CASH}:
        raise FormRefused("この硬貨・紙幣は使えません (not a coin or note the till takes)")
    return dataclasses.replace(payment, cash=payment.cash + int(what))


def refund(payment: Payment, kept: int) -> int:
    """What goes back when ``kept`` 円 (the fee of what was printed) is all the store keeps:
    everything else put in or charged (the change included)."""
    return payment.paid - min(kept, payment.paid)
