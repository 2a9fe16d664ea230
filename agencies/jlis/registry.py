"""J-LIS: numbering (付番), 本人確認情報, and resolution of a number for enrollment (符号取得).

Collection ``residents``: resident-record code → the current generation of the person's number,
its history, the municipality whose 市町村長 asked for the number (番号法 第8条第1項: the
住所地 of the person's 本人確認情報 then), and the four facts (``facts``: 氏名, 住所, 生年月日,
性別) the municipality notified (住基法 第30条の6/7), updated by :meth:`Jlis.noted`, with the
history of the 異動等情報 it was noted with (``history``: the register's event id, 異動事由,
異動年月日, 記録年月日 — each event kept once, by its id) and, after a death, ``deceased``. A
birth is numbered by :meth:`Jlis.born` (番号法 第8条: the municipality asks, J-LIS generates;
a code already on record is refused, so no number is made twice); a leaked number is replaced
by :meth:`Jlis.change_number` (第7条第2項: at the request of the municipality of record, the
next generation, once per request id, never for the dead, at most nine times). No two residents
share a number and none is ever given again (第8条第2項第1号): the number is a permutation of
(generation, 住民票コード), a code is numbered once, and generations only go up. J-LIS holds
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
    JLIS_ALREADY_NUMBERED,
    JLIS_CODE_IN_USE,
    JLIS_DECEASED,
    JLIS_MALFORMED_ENROLLMENT,
    JLIS_NO_FACTS,
    JLIS_NOT_THE_MUNICIPALITY,
    JLIS_NUMBER_CHANGED,
    JLIS_NUMBERS_EXHAUSTED,
    JLIS_UNKNOWN_RESIDENT,
    NumberError,
)
from agencies.jlis.numbers import MAX_GENERATION, NumberGenerator
from hub.identity import mismatched, person_key
from hub.node import OfficeError, OfficeStore
from hub.wire import Facts, NotFound, Outcome, Presented, Refused, Resolved, seal

__all__ = ["MOVE_IN", "NUMBER_CHANGE", "Jlis"]

MOVE_IN = "転入"  # the one 異動事由 by which another municipality takes up a resident


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

    async def noted(
        self,
        rrc: str,
        facts: Facts,
        *,
        municipality: str,
        reason: str = MOVE_IN,
        effective: dt.date | None = None,
        event: str | None = None,
    ) -> None:
        """A municipality's 記載, 消除 or 記載の修正 of a resident's four facts (a move in or out,
        a change of name or address, a death; 住基法 第30条の6): J-LIS's 本人確認情報 follows
        it, and its history keeps the event (once: an ``event`` id noted before changes
        nothing). Only the municipality that keeps the record may note it — but a 転入, by which
        another one takes it up; nothing is noted after a death."""
        doc = await self.store.get("residents", rrc)
        if doc is None:
            raise OfficeError(JLIS_UNKNOWN_RESIDENT, "no resident with that resident-record code")
        history = list(doc.get("history", []))
        if event is not None and any(h.get("event") == event for h in history):
            return
        if doc.get("deceased"):
            raise OfficeError(
                JLIS_DECEASED, f"this resident died on {doc['deceased']}: nothing more is noted"
            )
        if reason != MOVE_IN and doc.get("municipality") not in (None, municipality):
            raise OfficeError(
                JLIS_NOT_THE_MUNICIPALITY,
                f"{municipality} does not keep this resident's record: only its municipality"
                " notifies changes to it (住基法 第30条の6)",
            )
        updated = _doc(int(doc["generation"]), list(doc["changes"]), municipality, facts)
        if effective is not None:
            history.append(_entry(event, reason, effective))
        updated["history"] = history
        if reason == DEATH:
            updated["deceased"] = (effective or dt.date.today()).isoformat()
        await self.store.put_many("residents", [(rrc, None, updated)])

    async def born(
        self,
        rrc: str,
        facts: Facts,
        *,
        municipality: str,
        effective: dt.date,
        event: str,
        reason: str = "出生",
    ) -> str:
        """Number a resident whose 住民票コード a municipality first wrote (番号法 第7条第1項・
        第8条: 出生, or a first entry from abroad, ``reason``) at its request: the code must be
        new; asked again for the same event, the same number."""
        doc = await self.store.get("residents", rrc)
        if doc is not None:
            if any(h.get("event") == event for h in doc.get("history", [])):
                return self.numbers.number_for(rrc, int(doc["generation"]))
            raise OfficeError(JLIS_CODE_IN_USE, "this resident-record code is on record already")
        if reason == ENTRY:
            await self._not_numbered(facts)
        number = self.numbers.number_for(rrc, 0)
        born = {**_doc(0, [], municipality, facts), "history": [_entry(event, reason, effective)]}
        await self.store.put_many("residents", [(rrc, None, born)])
        return number

    async def _not_numbered(self, facts: Facts) -> None:
        """A first entry from abroad is of a person never numbered: one J-LIS keeps already
        (the same name, birth date and sex — a resident returning, or registered again) keeps
        their 住民票コード and number (住基法 第22条: the 転入届 gives the former code); a second
        number is refused, for the desk to file the return with the number they have."""
        key = person_key(facts.name, facts.birth_date, facts.sex)
        if await self.store.find("residents", "who", key):
            raise OfficeError(
                JLIS_ALREADY_NUMBERED,
                "J-LIS keeps a person with this name, birth date and sex already: a resident"
                " returning keeps their 住民票コード and number (file it with the number)",
            )

    def code_of(self, number: str) -> str:
        """The resident-record code behind a (current or former) number: the 転入届 gives the
        code the record had before (住基法 第22条), which J-LIS knows from the card's number.
        ``OfficeError`` with the number's own code (check digit …) when it is none."""
        try:
            return self.numbers.resolve(number)[0]
        except NumberError as exc:
            raise OfficeError(exc.code, str(exc)) from None

    async def change_number(self, rrc: str, *, municipality: str, on: dt.date, event: str) -> str:
        """A new number in place of a leaked one (番号法 第7条第2項), at the request of the
        municipality that keeps the record: the next generation of the same 住民票コード, so the
        number differs from every number ever given and every token stays. Asked again under
        the same ``event`` id, the same new number (changed once)."""
        doc = await self.store.get("residents", rrc)
        if doc is None:
            raise OfficeError(JLIS_UNKNOWN_RESIDENT, "no resident with that resident-record code")
        history = list(doc.get("history", []))
        if any(h.get("event") == event and h.get("reason") == NUMBER_CHANGE for h in history):
            return self.numbers.number_for(rrc, int(doc["generation"]))
        if doc.get("deceased"):
            raise OfficeError(
                JLIS_DECEASED, f"this resident died on {doc['deceased']}: no new number"
            )
        if doc.get("municipality") not in (None, municipality):
            raise OfficeError(
                JLIS_NOT_THE_MUNICIPALITY,
                f"{municipality} does not keep this resident's record: only its 市町村長 asks"
                " for a new number (番号法 第7条第2項)",
            )
        generation = int(doc["generation"]) + 1
        if generation > MAX_GENERATION:
            raise OfficeError(
                JLIS_NUMBERS_EXHAUSTED,
                f"this number was changed {MAX_GENERATION} times already: no further number",
            )
        changed = {
            **doc,
            "generation": generation,
            "changes": [*doc["changes"], on.isoformat()],
            "history": [*history, _entry(event, NUMBER_CHANGE, on)],
        }
        await self.store.put_many("residents", [(rrc, None, changed)])
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
        stale = _stale(doc, generation)
        if stale is not None:
            return stale
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


DEATH = "死亡"
ENTRY = "国外からの転入"  # a first entry from abroad: numbered like a birth (numbering.ENTRY)
NUMBER_CHANGE = "個人番号の変更"  # 番号法 第7条第2項, in J-LIS's history of the record


def _stale(doc: Mapping[str, Any], generation: int) -> Refused | None:
    """Why a number presented for ``doc`` is no longer good: replaced, or its holder died."""
    if generation != doc["generation"]:
        when = doc["changes"][generation] if generation < len(doc["changes"]) else "?"
        return Refused(
            code=JLIS_NUMBER_CHANGED,
            reason=f"this number was replaced on {when}; present the current number",
        )
    if doc.get("deceased"):
        return Refused(
            code=JLIS_DECEASED, reason=f"the holder of this number died on {doc['deceased']}"
        )
    return None


def _entry(event: str | None, reason: str, effective: dt.date) -> dict[str, str | None]:
    recorded = dt.datetime.now(dt.UTC).date().isoformat()
    return {
        "event": event,
        "reason": reason,
        "effective": effective.isoformat(),
        "recorded": recorded,
    }


def _doc(generation: int, changes: list[str], municipality: str, facts: Facts) -> dict[str, Any]:
    return {
        "generation": generation,
        "changes": changes,
        "municipality": municipality,
        "facts": facts.model_dump(),
        "who": person_key(facts.name, facts.birth_date, facts.sex),  # found again at an entry
    }
