"""J-LIS: numbering (付番) and resolution of a number for enrollment (符号取得).

Collection ``residents``: resident-record code → the current generation of the person's number
and its history. J-LIS holds the numbering secret, so the number is derived from the code and
resolved back without a table of numbers; the table says only which generation is current, so
a number changed on leak stops resolving while the person's tokens stay the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from agencies.exceptions import OfficeError
from agencies.jlis.exceptions import NumberError
from agencies.jlis.numbers import NumberGenerator
from agencies.store import OfficeStore
from hub.wire import NotFound, Outcome, Refused, Resolved, seal

__all__ = ["Jlis"]


class Jlis:
    def __init__(
        self, store: OfficeStore, numbers: NumberGenerator, token_service: X25519PublicKey
    ) -> None:
        self.store = store
        self.numbers = numbers
        self.token_service = token_service

    async def register(self, rrcs: Iterable[str]) -> dict[str, str]:
        """Number new residents; returns resident-record code → individual number."""
        out = {rrc: self.numbers.number_for(rrc, 0) for rrc in rrcs}
        await self.store.put_many(
            "residents", ((rrc, None, {"generation": 0, "changes": []}) for rrc in out)
        )
        return out

    async def change_number(self, rrc: str, on: dt.date) -> str:
        """A new number for a leaked one; the resident-record code (and every token) stays."""
        doc = await self.store.get("residents", rrc)
        if doc is None:
            raise OfficeError("jlis.unknown_resident", "no resident with that resident-record code")
        generation = int(doc["generation"]) + 1
        changes = [*doc["changes"], on.isoformat()]
        await self.store.put_many(
            "residents", [(rrc, None, {"generation": generation, "changes": changes})]
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
                code="jlis.number_changed",
                reason=f"this number was replaced on {when}; present the current number",
            )
        return Resolved(rrc=seal(rrc.encode("ascii"), self.token_service))
