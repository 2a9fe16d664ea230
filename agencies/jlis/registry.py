"""J-LIS: numbering (付番) and resolution of a number for enrollment (符号取得).

Collection ``residents``: resident-record code → the current generation of the person's number,
its history, and the municipality whose 市町村長 asked for the number (番号法 第8条第1項: the
住所地 of the person's 本人確認情報 then). J-LIS holds the numbering secret, so the number is
derived from the code and resolved back without a table of numbers; the table says only which
generation is current, so a number changed on leak stops resolving while the person's tokens
stay the same. An enrollment's answer names that municipality to the hub, which checks the
enrolling office against it (``hub/routing/README.md``, "Who holds whom").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from agencies.jlis.exceptions import JLIS_NUMBER_CHANGED, JLIS_UNKNOWN_RESIDENT, NumberError
from agencies.jlis.numbers import NumberGenerator
from hub.node import OfficeError, OfficeStore
from hub.wire import NotFound, Outcome, Refused, Resolved, seal

__all__ = ["Jlis"]


class Jlis:
    def __init__(
        self, store: OfficeStore, numbers: NumberGenerator, token_service: X25519PublicKey
    ) -> None:
        self.store = store
        self.numbers = numbers
        self.token_service = token_service

    async def register(self, rrcs: Iterable[str], *, municipality: str) -> dict[str, str]:
        """Number new residents of ``municipality`` (its 6-digit code), at its 市町村長's
        request; returns resident-record code → individual number."""
        out = {rrc: self.numbers.number_for(rrc, 0) for rrc in rrcs}
        doc = {"generation": 0, "changes": [], "municipality": municipality}
        await self.store.put_many("residents", ((rrc, None, doc) for rrc in out))
        return out

    async def change_number(self, rrc: str, on: dt.date) -> str:
        """A new number for a leaked one; the resident-record code (and every token) stays."""
        doc = await self.store.get("residents", rrc)
        if doc is None:
            raise OfficeError(JLIS_UNKNOWN_RESIDENT, "no resident with that resident-record code")
        generation = int(doc["generation"]) + 1
        changes = [*doc["changes"], on.isoformat()]
        await self.store.put_many(
            "residents", [(rrc, None, {**doc, "generation": generation, "changes": changes})]
        )
        return self.numbers.number_for(rrc, generation)

    async def resolve(self, number: bytes) -> Outcome:
        try:
            rrc, generation = self.numbers.resolve(number.decode("ascii", errors="replace"))
        except NumberError as exc:
            return Refused(code=exc.code, reason=str(exc))
        doc = await self.store.get("residents", rrc)
        if doc is None:
            return NotFound(reason="no resident holds this number")
        if generation != doc["generation"]:
            when = doc["changes"][generation] if generation < len(doc["changes"]) else "?"
            return Refused(
                code=JLIS_NUMBER_CHANGED,
                reason=f"this number was replaced on {when}; present the current number",
            )
        return Resolved(
            rrc=seal(rrc.encode("ascii"), self.token_service),
            municipality=doc.get("municipality"),  # None: numbered before J-LIS kept it
        )
