"""住民記録: the municipality's resident register, with households. Provides 住民票関係情報,
and to the certificate issuance centre the 住民票の写し and the 印鑑登録証明書 (``issuance.py``).

Collections: ``residents`` (local id → name, birth date, sex, address, household, relationship,
and, when there is one, ``seal`` (印鑑登録: number, date), ``support_measure`` (支援措置) and
``move_out`` (a 転出届 filed: its date); findable by this office's token) and ``households``
(household id → head and members).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agencies.municipality import issuance
from hub.node import EVENTS, NoRecord, OfficeStore

__all__ = ["ITEM", "ResidentRegister"]

ITEM = "resident_record"
_MEMBER = ("name", "relationship", "birth_date", "sex", "number")  # the number: certificates only
CERTIFICATES = frozenset(
    {issuance.RESIDENT_CERTIFICATE, issuance.RESIDENT_CERTIFICATE_NUMBER, issuance.SEAL_CERTIFICATE}
)


class ResidentRegister:
    def __init__(self, store: OfficeStore, printer: issuance.Printer | None = None) -> None:
        self.store = store
        self.printer = printer  # the signed PDF of a certificate (none: the data only)

    async def answer(
        self, person: str, items: tuple[str, ...], params: Mapping[str, str | int]
    ) -> Mapping[str, Any] | None:
        found = await self.store.by_token("residents", person)
        if found is None:
            return None
        _, resident = found
        if len(items) == 1 and items[0] in CERTIFICATES:
            return await self._certificate(person, resident, items[0], params)
        # asked with the rest (the portal's 自己情報: everything the office provides), a
        # certificate is no data of its own: the record answers for it
        if ITEM not in items or set(items) - {ITEM} - CERTIFICATES:
            raise NoRecord(f"the resident register holds only {ITEM} (and its certificates)")
        return await self.record(resident)

    async def record(self, resident: Mapping[str, Any]) -> dict[str, Any]:
        """住民票関係情報 of a resident's record: the person and the household (never the
        number: it is on the 住民票 and its copies only)."""
        household = [
            {k: v for k, v in m.items() if k != "number"} for m in await self._household(resident)
        ]
        return {ITEM: {**self._person(resident), "household": household}}

    @staticmethod
    def _person(resident: Mapping[str, Any]) -> dict[str, Any]:
        keys = ("name", "birth_date", "sex", "address", "relationship")
        return {k: resident[k] for k in keys}

    async def _household(self, resident: Mapping[str, Any]) -> list[dict[str, Any]]:
        household = await self.store.get("households", resident["household"])
        members = []
        for local_id in (household or {}).get("members", []):
            member = await self.store.get("residents", local_id)
            if member is not None:
                members.append({k: member[k] for k in _MEMBER if k in member})
        return members

    async def _certificate(
        self, person: str, resident: Mapping[str, Any], item: str, params: Mapping[str, str | int]
    ) -> Mapping[str, Any]:
        events = [await self.store.get(EVENTS, k) or {} for k in await self.store.keys(EVENTS)]
        refused = issuance.refusal(resident, issuance.moved_out(events, person))
        if refused is not None:
            raise refused
        if item == issuance.SEAL_CERTIFICATE:
            seal = issuance.seal_certificate(resident)
            return await issuance.certified(item, seal, self.printer)
        household = await self._household(resident)
        with_number = item == issuance.RESIDENT_CERTIFICATE_NUMBER
        data = issuance.resident_certificate(resident, household, params, with_number=with_number)
        return await issuance.certified(item, data, self.printer)
