"""庁内連携: one municipality's offices using what the municipality holds, without the network.

Inside one 地方公共団体 the offices use the specific personal information it already holds
for the affairs its 条例 lists (番号法 第9条第2項; the 番号利用条例's 庁内連携 clause), through
its own in-house systems (団体内統合宛名システム: REGISTER-FACTS §7); the information-provision
network is for asking another 団体 or a national office. So the hub refuses a query between two
offices of one municipality (``routing.in_house``, ``hub.routing.offices.in_house``) and the
municipality's offices read each other's holdings here.

The model: the municipality's in-house person key (統合宛名番号) is the register's record id
(every resident has one); the other offices' records of a resident name it as ``atena``. The
link reads the register's and the tax office's stores directly (one 団体's 基幹系: in a
deployment, the schemas of the same database) and answers with the same data the offices give
the network (``ResidentRegister.record``, ``local_tax.figures``). An in-house use makes no
access record of the network (there is no network exchange); it is logged (``in_house.used``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agencies.applications import signed_by
from agencies.municipality import local_tax
from agencies.municipality.resident_register import ResidentRegister
from hub.log import get_logger
from hub.node import NoRecord, OfficeStore

__all__ = ["ATENA", "Ambiguous", "InHouse"]

log = get_logger(__name__)

ATENA = "atena"  # the field naming the municipality's in-house person key in an office's record


@dataclass(frozen=True, slots=True)
class InHouse:
    """One municipality's in-house link: its register's and its tax office's holdings."""

    municipality: str
    register: OfficeStore
    tax: OfficeStore

    async def resident_record(self, atena: str, *, by: str) -> dict[str, Any] | None:
        """住民票関係情報 of the resident ``atena`` (None: not on this register)."""
        resident = await self.register.get("residents", atena)
        log.info("in_house.used", municipality=self.municipality, by=by, item="resident_record")
        return None if resident is None else await ResidentRegister(self.register).record(resident)

    async def local_tax(self, atena: str, fiscal_year: int, *, by: str) -> dict[str, Any] | None:
        """地方税関係情報 of the resident ``atena`` for the fiscal year (None: not taxed here
        for it, e.g. moved in after 1 January)."""
        found = await self.tax.find("taxpayers", ATENA, atena)
        log.info("in_house.used", municipality=self.municipality, by=by, item="local_tax")
        if len(found) != 1:
            return None
        try:
            return local_tax.figures(found[0][1], fiscal_year)
        except NoRecord:
            return None

    async def atena_of(self, name: str, birth_date: str) -> str | None:
        """The register's record of a signer (name and birth date from the signature
        certificate); None when no resident is theirs, ``Ambiguous`` when several are (not
        guessed: the desk tells them apart)."""
        found = [
            key
            for key, resident in await self.register.find("residents", "birth_date", birth_date)
            if signed_by(resident, name, birth_date)
        ]
        if len(found) > 1:
            raise Ambiguous(f"{len(found)} residents have the signer's name and birth date")
        return found[0] if found else None


class Ambiguous(LookupError):
    """More than one resident answers to what identifies a signer."""
