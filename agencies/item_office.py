"""An office that answers the items it holds from one document per person.

Most providers are this simple: a pension service holds 年金給付関係情報, an insurer
医療保険給付関係情報, a welfare office 生活保護関係情報 — one record per person under the
office's own local id and token, with one entry per item. Offices whose answers depend on the
question (the tax office's fiscal year, the resident register's household) have their own class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.node import NoRecord, OfficeStore

__all__ = ["COLLECTION", "ItemOffice"]

COLLECTION = "people"


class ItemOffice:
    def __init__(self, store: OfficeStore, provides: frozenset[str]) -> None:
        self.store = store
        self.provides = provides

    async def answer(
        self, person: str, items: tuple[str, ...], params: Mapping[str, str | int]
    ) -> Mapping[str, Any] | None:
        found = await self.store.by_token(COLLECTION, person)
        if found is None:
            return None
        held: Mapping[str, Any] = found[1].get("items", {})
        missing = [i for i in items if i not in held]
        if missing:
            raise NoRecord(f"nothing on record for this person under {', '.join(missing)}")
        return {i: held[i] for i in items}
