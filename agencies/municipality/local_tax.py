"""税務課: municipal (local) tax. Provides 地方税関係情報 for a fiscal year (年度).

Collection ``taxpayers``: local id → name and, per fiscal year, the previous year's total income
and the municipal income levy (市町村民税所得割額). Figures are yen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.node import BadRequest, NoRecord, OfficeStore

__all__ = ["ITEM", "LocalTax"]

ITEM = "local_tax"


class LocalTax:
    def __init__(self, store: OfficeStore) -> None:
        self.store = store

    async def answer(
        self, person: str, items: tuple[str, ...], params: Mapping[str, str | int]
    ) -> Mapping[str, Any] | None:
        found = await self.store.by_token("taxpayers", person)
        if found is None:
            return None
        if set(items) - {ITEM}:
            raise NoRecord(f"the tax office holds only {ITEM}")
        year = params.get("fiscal_year")
        if not isinstance(year, int):
            raise BadRequest("say which fiscal year: params.fiscal_year (an integer)")
        record = found[1]["years"].get(str(year))
        if record is None:
            held = ", ".join(sorted(found[1]["years"])) or "none"
            raise NoRecord(f"no assessment for fiscal year {year} (held: {held})")
        return {ITEM: {"fiscal_year": year, **record}}
