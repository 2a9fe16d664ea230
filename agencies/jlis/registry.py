"""J-LIS: numbering (付番), 本人確認情報, and resolution of a number for enrollment (符号取得).

Collection ``residents``: resident-record code → the current generation of the person's number,
its history, the municipality whose 市町村長 asked for the number (番号法 第8条第1項: the
住所地 of the person's 本人確認情報 then), and the four facts (``facts``: 氏名, 住所, 生年月日,
性別) the municipality notified (住基法 第30条の6/7), updated by :meth:`Jlis.noted`. J-LIS holds
the numbering secret, so the number is derived from the code and resolved back without a table
of numbers; the table says only which generation is current, so a number changed on leak stops
resolving while the person's tokens stay the same. An enrollment presents the number and the
four facts the office holds (``Presented``, 番号法 第16条); the answer names the municipality to
the hub, which checks the enrolling office against it (``hub/routing/README.md``, "Who holds
whom"), and the facts that do not match J-LIS's, for which the hub refuses the enrollment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from pydantic import ValidationError

from agencies.jlis.exceptions import (
    JLIS_MALFORMED_ENROLLMENT,
    JLIS_NO_FACTS,
    JLIS_NUMBER_CHANGED,
    JLIS_UNKNOWN_RESIDENT,
    NumberError,
)
from agencies.jlis.numbers import NumberGenerator
from hub.identity import mismatched
from hub.node import OfficeError, OfficeStore
from hub.wire import Facts, NotFound, Outcome, Presented, Refused, Resolved, seal

__all__ = ["Jlis"]


class Jlis:
    def __init__(
        self, store: OfficeStore, numbers: NumberGenerator, token_service: X25519PublicKey
    ) -> None:
        self.store = store
        self.numbers = numbers
        self.token_service = token_service

    async def register(self, people: Mapping[str, Facts], *, municipality: str) -> dict[str, str]:
        """Number new residents of ``municipality`` (its 6-digit code), at its 市町村長's
        request, keeping the four facts it notified; returns resident-record code → number."""
        out = {rrc: self.numbers.number_for(rrc, 0) for rrc in people}
        docs = ((rrc, None, _doc(0, [], municipality, facts)) for rrc, facts in people.items())
        await self.store.put_many("residents", docs)
        return out

    async def noted(self, rrc: str, facts: Facts, *, municipality: str) -> None:
        """A municipality's 記載 or 記載の修正 of a resident's four facts (a move in, a change of
        name or address; 住基法 第30条の6): J-LIS's 本人確認情報 follows it."""
        doc = await self.store.get("residents", rrc)
        if doc is None:
            raise OfficeError(JLIS_UNKNOWN_RESIDENT, "no resident with that resident-record code")
        updated = _doc(int(doc["generation"]), list(doc["changes"]), municipality, facts)
        await self.store.put_many("residents", [(rrc, None, updated)])

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
        """An enrollment: ``number`` is the office's ``Presented`` (JSON), the number and the
        four facts it holds."""
        try:
            presented = Presented.model_validate_json(number)
        except ValidationError:
            return Refused(
                code=JLIS_MALFORMED_ENROLLMENT,
                reason="an enrollment presents the number and the four facts the office holds"
                " (氏名, 住所, 生年月日, 性別: 番号法 第16条), as JSON",
            )
        try:
            rrc, generation = self.numbers.resolve(presented.number)
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
        kept = doc.get("facts")
        if not isinstance(kept, dict):
            return Refused(
                code=JLIS_NO_FACTS,
                reason="J-LIS keeps no 本人確認情報 for this number to check it against",
            )
        return Resolved(
            rrc=seal(rrc.encode("ascii"), self.token_service),
            municipality=doc.get("municipality"),  # None: numbered before J-LIS kept it
            mismatched=mismatched(presented.facts, kept),
        )


def _doc(generation: int, changes: list[str], municipality: str, facts: Facts) -> dict[str, Any]:
    return {
        "generation": generation,
        "changes": changes,
        "municipality": municipality,
        "facts": facts.model_dump(),
    }
