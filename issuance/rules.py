"""コンビニ交付's rules, pure: which certificates, their options and fees, and the hours.

Hours 6:30–23:00 Japan time, closed 12/29–1/3 (REGISTER-FACTS 5.1 [V]; a municipality may set
narrower hours within them). Fees are a MODEL within the published examples (200–800 円 a
copy, REGISTER-FACTS 5.1: no one municipality's list). Copies: at most ``MAX_COPIES`` an order,
a MODEL (no source read gives the real kiosks' limit). A 住民票 of the whole household when
asked (``household``). The individual number only when the resident chooses it (``number``,
default without: a copy omits it unless specially asked, 住基法 第12条の4第4項 [S]): then the
order's item is ``resident_certificate_number``, a legal-table row of its own (``c04``), so the
access record says the number was provided; the number itself is only in the municipality's
sealed answer.

The 課税（所得）証明書's fiscal years (``fiscal_years``): the latest assessed and the
``TAX_YEARS - 1`` before it. A MODEL within the practice: REGISTER-FACTS 5.1 says "usually
現年度分 only" [V]; 鹿児島市 issues 直近4年度分 at the kiosk, 旭川市 the latest only [S] (their
pages on コンビニ交付 of 税証明). The new fiscal year's certificate comes after the June
assessment (旭川市 switched to 令和6年度 on 2024-06-10 [S]): here from ``NEW_TAX_YEAR`` (1 June,
a MODEL). Which municipality answers is the one holding the resident now: a year assessed by
another (the resident lived elsewhere on 1 January, 賦課期日) is that municipality's to issue,
and the tax office refuses it (``municipality.tax_elsewhere``, 鹿児島市's rule [S]).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from issuance.exceptions import (
    ISSUANCE_BAD_OPTIONS,
    ISSUANCE_CLOSED,
    ISSUANCE_UNKNOWN_KIND,
    IssuanceRefused,
)

__all__ = [
    "AFFAIR",
    "JST",
    "KINDS",
    "MAX_COPIES",
    "WITH_NUMBER",
    "Kind",
    "Order",
    "check_open",
    "fiscal_years",
    "is_open",
    "order",
]

AFFAIR = "convenience_issuance"
JST = dt.timezone(dt.timedelta(hours=9), "JST")
OPENS, CLOSES = dt.time(6, 30), dt.time(23, 0)
MAX_COPIES = 10  # an order's copies: a MODEL (module docstring)
TAX_YEARS = 4  # the fiscal years a kiosk offers, the latest first: a MODEL (鹿児島市's 4 [S])
NEW_TAX_YEAR = (6, 1)  # (month, day) a fiscal year's certificate is first issued: a MODEL
WITH_NUMBER = "resident_certificate_number"  # 住民票の写し with the 個人番号 (row c04)


@dataclass(frozen=True, slots=True)
class Kind:
    item: str  # the legal table's item the municipality answers
    ja: str
    en: str
    fee: int  # 円 a copy: a MODEL (the module docstring)
    options: frozenset[str]


KINDS: Mapping[str, Kind] = {
    "resident_certificate": Kind(
        "resident_certificate", "住民票の写し", "copy of the resident record", 200,
        frozenset({"household", "number"}),
    ),
    "seal_certificate": Kind(
        "seal_certificate", "印鑑登録証明書", "seal-registration certificate", 200, frozenset()
    ),
    "tax_certificate": Kind(
        "tax_certificate", "課税（所得）証明書", "tax (income) certificate", 300,
        frozenset({"fiscal_year"}),
    ),
}  # fmt: skip


def is_open(at: dt.datetime) -> bool:
    """Whether the service runs at ``at`` (aware): 6:30–23:00 JST, not 12/29–1/3."""
    local = at.astimezone(JST)
    if (local.month, local.day) >= (12, 29) or (local.month, local.day) <= (1, 3):
        return False
    return OPENS <= local.time() < CLOSES


def fiscal_years(at: dt.datetime) -> tuple[int, ...]:
    """The fiscal years (年度) of the tax certificate a kiosk offers at ``at``, the latest
    first: the latest is this calendar year's from ``NEW_TAX_YEAR`` on, else last year's."""
    local = at.astimezone(JST).date()
    latest = local.year if (local.month, local.day) >= NEW_TAX_YEAR else local.year - 1
    return tuple(range(latest, latest - TAX_YEARS, -1))


def check_open(at: dt.datetime) -> None:
    if not is_open(at):
        raise IssuanceRefused(
            ISSUANCE_CLOSED,
            "ただいまの時間はご利用いただけません。ご利用時間は 6:30〜23:00 です"
            "（12月29日〜1月3日を除く） (outside the service hours, 6:30–23:00 JST)",
        )


@dataclass(frozen=True, slots=True)
class Order:
    """A certificate asked for: its kind, the parameters the municipality gets, the fee."""

    kind: Kind
    params: Mapping[str, str | int]
    copies: int
    item: str  # what the municipality is asked for: the kind's, or WITH_NUMBER

    @property
    def fee(self) -> int:
        return self.kind.fee * self.copies

    @property
    def title(self) -> str:
        """What the kiosk shows: the certificate, and that it bears the number when it does."""
        return f"{self.kind.ja}（個人番号あり）" if self.item == WITH_NUMBER else self.kind.ja


def order(kind: str, options: Mapping[str, str], at: dt.datetime, copies: int = 1) -> Order:
    """The order for ``kind`` with ``options`` (form values), or ``IssuanceRefused`` saying
    which is wrong. The tax certificate's fiscal year: one of ``fiscal_years(at)``, by default
    the latest."""
    found = KINDS.get(kind)
    if found is None:
        raise IssuanceRefused(ISSUANCE_UNKNOWN_KIND, f"交付できない証明書です ({kind[:40]!r})")
    unknown = sorted(set(options) - found.options)
    if unknown:
        raise IssuanceRefused(
            ISSUANCE_BAD_OPTIONS, f"{found.ja} にない指定です ({', '.join(unknown)[:80]})"
        )
    if not 1 <= copies <= MAX_COPIES:
        raise IssuanceRefused(ISSUANCE_BAD_OPTIONS, f"部数は 1〜{MAX_COPIES} です")
    params: dict[str, str | int] = {}
    flags = {}
    for flag in sorted({"household", "number"} & found.options):
        value = options.get(flag, "0")
        if value not in ("0", "1"):
            raise IssuanceRefused(ISSUANCE_BAD_OPTIONS, f"{flag} は 0 か 1 です")
        flags[flag] = value == "1"
    if "household" in flags:
        params["household"] = int(flags["household"])
    item = WITH_NUMBER if flags.get("number") else found.item
    if "fiscal_year" in found.options:
        years = fiscal_years(at)
        year = options.get("fiscal_year", str(years[0]))
        if year not in {str(y) for y in years}:
            raise IssuanceRefused(
                ISSUANCE_BAD_OPTIONS,
                f"年度は {years[-1]}〜{years[0]} です (fiscal year {year[:8]!r})",
            )
        params["fiscal_year"] = int(year)
    return Order(found, params, copies, item)
