"""引越しワンストップ: the moving one-stop, as the new municipality's resident register does it.

The old municipality files the move out (a ``moved_out`` change with ``to_municipality``); the
hub delivers it to every holder and to this register, under its own token. When the resident
arrives and presents their number (with the address they came from), this register enrolls
them, finds the move-out notice under the same token, notes the new record to J-LIS, registers
them and reports ``moved_in`` — which reaches the pension service, the
insurer and every other holder — and the directory now names this municipality.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from agencies.exceptions import (
    MUNICIPALITY_MOVE_IN_BEFORE_MOVE_OUT,
    MUNICIPALITY_MOVE_IN_NOT_DELIVERED,
    MUNICIPALITY_NO_FOUR_FACTS,
    MUNICIPALITY_NO_MOVE_OUT,
    OFFICE_BAD_APPLICATION,
    OFFICE_MOVE_OUT_REFUSED,
    OFFICE_MOVE_OUT_UNSENT,
)
from hub.node import EVENTS, ApplicationRefused, OfficeError, OfficeNode, OfficeStore
from hub.wire import Delivered, Facts, Refused, outcome_reason

__all__ = ["MoveIn", "MovedOut", "move_in"]


@dataclass(frozen=True, slots=True)
class MoveIn:
    local_id: str
    token: str
    from_office: str


class MovedOut:
    """The old register's side: an accepted moving application (転出届, filed online through
    the portal) becomes the ``moved_out`` change, which the hub takes to every holder and to the
    register of the municipality moved to. Once it is delivered, the resident's record notes
    the move out (``move_out``: its date), so the register's own answers know of it (a kiosk
    refuses a certificate to a 転出予定者, ``issuance.py``)."""

    def __init__(self, node: OfficeNode, store: OfficeStore | None = None) -> None:
        self.node = node
        self.store = store

    async def __call__(self, person: str, kind: str, form: Mapping[str, Any]) -> None:
        if kind != "moving":
            return
        try:
            effective = dt.date.fromisoformat(str(form.get("moving_date", "")))
        except ValueError:
            raise ApplicationRefused(
                OFFICE_BAD_APPLICATION, "the moving application has no valid moving date"
            ) from None
        to = str(form.get("to_municipality", ""))
        outcome = await self.node.report_change(
            person, "moved_out", effective, {"to_municipality": to}
        )
        if isinstance(outcome, Refused):  # e.g. dated further ahead than a 転出届 may be
            raise ApplicationRefused(
                OFFICE_MOVE_OUT_REFUSED, f"the network refused the move out: {outcome.reason}"
            )
        if not isinstance(outcome, Delivered):
            reason = outcome_reason(outcome, outcome.status)
            raise OfficeError(OFFICE_MOVE_OUT_UNSENT, f"the move out was not sent: {reason}")
        if self.store is not None:
            await _note_move_out(self.store, person, effective)


async def _note_move_out(store: OfficeStore, person: str, effective: dt.date) -> None:
    found = await store.by_token("residents", person)
    if found is not None:
        local_id, resident = found
        noted = {**resident, "move_out": effective.isoformat()}
        await store.put_many("residents", [(local_id, person, noted)])


async def move_in(
    node: OfficeNode,
    store: OfficeStore,
    *,
    number: str,
    local_id: str,
    resident: Mapping[str, Any],
    previous_address: str,
    effective: dt.date,
    noted: Callable[[Facts], Awaitable[None]],
    event_id: uuid.UUID | None = None,
) -> MoveIn:
    """The 転入: the number enrolled with the four facts as they stood before the move (the
    転入届 gives the 従前の住所, 住基法 第22条: J-LIS's 本人確認情報 still bears it), which the
    hub allows only after a move out to this municipality; the move-out notice found; then
    the 記載 of ``resident`` notified to J-LIS (``noted``: 住基法 第30条の6; the composition
    root supplies the call), the record kept and the move in reported (under ``event_id``
    when the desk gives one: sent again, it is acted on once). Refused at any step before
    the 記載, nothing is noted and nothing kept."""
    try:
        facts = Facts.of(resident)
        before = facts.model_copy(update={"address": previous_address})
        Facts.model_validate(before.model_dump())
    except ValidationError:
        raise OfficeError(
            MUNICIPALITY_NO_FOUR_FACTS,
            "the move in's record needs the four facts (name, address, birth_date as"
            " YYYY-MM-DD, sex 1/2/9) that J-LIS's 本人確認情報 is noted with, and the"
            " previous address",
        ) from None
    token = await node.enroll(number, before)  # the hub allows it: the move out named us
    notice = await _move_out_notice(store, token)
    if notice is None:
        raise OfficeError(
            MUNICIPALITY_NO_MOVE_OUT,
            "no move-out notice reached this register for this person: the old municipality"
            " files the move out first",
        )
    if effective.isoformat() < str(notice.get("effective", "")):
        raise OfficeError(
            MUNICIPALITY_MOVE_IN_BEFORE_MOVE_OUT,
            f"the move in ({effective}) is dated before the move out ({notice['effective']})",
        )
    await noted(facts)
    await store.put_many("residents", [(local_id, token, dict(resident))])
    outcome = await node.report_change(
        token, "moved_in", effective, {"from_office": notice["origin"]}, event_id=event_id
    )
    if not isinstance(outcome, Delivered):
        reason = outcome_reason(outcome, outcome.status)
        raise OfficeError(MUNICIPALITY_MOVE_IN_NOT_DELIVERED, f"move-in not delivered: {reason}")
    return MoveIn(local_id, token, notice["origin"])


async def _move_out_notice(store: OfficeStore, token: str) -> Mapping[str, Any] | None:
    for key in await store.keys(EVENTS):
        event = await store.get(EVENTS, key)
        if event and event["person"] == token and event["change"] == "moved_out":
            return event
    return None
