"""住民記録: the municipality's resident register, with households. Provides 住民票関係情報.

Collections: ``residents`` (local id → name, birth date, sex, address, household, relationship;
findable by this office's token) and ``households`` (household id → head and members).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.node import NoRecord, OfficeStore

__all__ = ["ITEM", "ResidentRegister"]

ITEM = "resident_record"


class ResidentRegister:
    def __init__(self, store: OfficeStore) -> None:
        self.store = store

    async def answer(
        self, person: str, items: tuple[str, ...], params: Mapping[str, str | int]
    ) -> Mapping[str, Any] | None:
        found = await self.store.by_token("residents", person)
        if found is None:
            return None
        _, resident = found
        if set(items) - {ITEM}:
            raise NoRecord(f"the resident register holds only {ITEM}")
        household = await self.store.get("households", resident["household"])
        members = []
        for local_id in (household or {}).get("members", []):
            member = await self.store.get("residents", local_id)
            if member is not None:
                members.append(
                    {k: member[k] for k in ("name", "relationship", "birth_date", "sex")}
                )
        return {
            ITEM: {
                "name": resident["name"],
                "birth_date": resident["birth_date"],
                "sex": resident["sex"],
                "address": resident["address"],
                "relationship": resident["relationship"],
                "household": members,
            }
        }
