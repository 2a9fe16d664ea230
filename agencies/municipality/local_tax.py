"""税務課: municipal (local) tax. Provides 地方税関係情報 for a fiscal year (年度), and to the
certificate issuance centre the 課税（所得）証明書 (``issuance.py``) of the fiscal year asked;
a year not assessed here (the resident lived elsewhere on its 1 January) is refused with
``municipality.tax_elsewhere``, the municipality of that day being the one to issue it.

Collection ``taxpayers``: local id → name and, per fiscal year, the previous year's total income
and the municipal income levy (市町村民税所得割額). Figures are yen. ``support_measure``
(支援措置, which the municipality's departments share) when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agencies.municipality import issuance
from hub.node import EVENTS, BadRequest, NoRecord, OfficeStore

__all__ = ["ITEM", "LocalTax", "figures"]

ITEM = "local_tax"


class LocalTax:
    def __init__(self, store: OfficeStore, printer: issuance.Printer | None = None) -> None:
        self.store = store
        self.printer = printer  # the signed PDF of a certificate (none: the data only)

    async def answer(
        self, person: str, items: tuple[str, ...], params: Mapping[str, str | int]
    ) -> Mapping[str, Any] | None:
        found = await self.store.by_token("taxpayers", person)
        if found is None and items == (issuance.TAX_CERTIFICATE,):
            raise issuance.tax_elsewhere(_year(params))  # held, never assessed here
        if found is None:
            return None
        if items == (issuance.TAX_CERTIFICATE,):
            return await self._certificate(person, found[1], params)
        # asked with local_tax (the portal's 自己情報), the certificate is no data of its own
        if ITEM not in items or set(items) - {ITEM, issuance.TAX_CERTIFICATE}:
            raise NoRecord(f"the tax office holds only {ITEM} (and its certificate)")
        return figures(found[1], _year(params))

    async def _certificate(
        self, person: str, taxpayer: Mapping[str, Any], params: Mapping[str, str | int]
    ) -> Mapping[str, Any]:
        events = [await self.store.get(EVENTS, k) or {} for k in await self.store.keys(EVENTS)]
        refused = issuance.refusal(taxpayer, issuance.moved_out(events, person))
        if refused is not None:
            raise refused
        year = _year(params)
        certificate = issuance.tax_certificate(taxpayer, year)
        if certificate is None:
            raise issuance.tax_elsewhere(year)
        return await issuance.certified(issuance.TAX_CERTIFICATE, certificate, self.printer)


def figures(taxpayer: Mapping[str, Any], year: int) -> dict[str, Any]:
    """地方税関係情報 of a taxpayer's record for a fiscal year; ``NoRecord`` when none."""
    record = taxpayer["years"].get(str(year))
    if record is None:
        held = ", ".join(sorted(taxpayer["years"])) or "none"
        raise NoRecord(f"no assessment for fiscal year {year} (held: {held})")
    return {ITEM: {"fiscal_year": year, **record}}


def _year(params: Mapping[str, str | int]) -> int:
    year = params.get("fiscal_year")
    if not isinstance(year, int):
        raise BadRequest("say which fiscal year: params.fiscal_year (an integer)")
    return year
