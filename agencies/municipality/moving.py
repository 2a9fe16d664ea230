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
from typing import Any, Protocol

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
from hub.wire import Delivered, Facts, outcome_reason

__all__ = ["Desk", "MoveIn", "MovedOut", "event_for", "move_in"]


@dataclass(frozen=True, slots=True)
class MoveIn:
    local_id: str
    token: str
    from_office: str


class MovedOut:
    """The old register's side: an accepted moving application (転出届, filed online through
    the portal) is filed as the desk's ``move_out`` event (``RegisterDesk.file``): the same
    checks, the ``moved_out`` change to every holder and to the register of the municipality
    moved to, J-LIS's 本人確認情報 (転出) and the record's ``move_out`` — a 転出 reaches J-LIS
    the one way, whether filed online or at the desk. Without J-LIS in its process (no desk),
    the register takes no moving application: the move out is not filed by halves. The event
    id is drawn from the application's (``event_for``): an application received again (the
    office stopped before its receipt was kept) files the same event, which the desk finishes
    or finds done — never a second 転出 under another id."""

    def __init__(self, node: OfficeNode, desk: Desk | None) -> None:
        self.node = node
        self.desk = desk

    async def __call__(
        self, application_id: str, person: str, kind: str, form: Mapping[str, Any]
    ) -> None:
        if kind != "moving":
            return
        try:
            effective = dt.date.fromisoformat(str(form.get("moving_date", "")))
        except ValueError:
            raise ApplicationRefused(
                OFFICE_BAD_APPLICATION, "the moving application has no valid moving date"
            ) from None
        if self.desk is None:
            raise OfficeError(
                OFFICE_MOVE_OUT_UNSENT,
                f"{self.node.code} reaches no J-LIS from this process: file the move out at the"
                " desk (renkei register move-out), or run the register with J-LIS",
            )
        to = str(form.get("to_municipality", ""))
        try:
            await self.desk.move_out(
                person, effective, to, event_for(self.node.code, application_id)
            )
        except OfficeError as exc:
            if exc.code in self.desk.unconfirmed:  # may have reached the network: not refused
                raise OfficeError(OFFICE_MOVE_OUT_UNSENT, f"the move out: {exc}") from None
            raise ApplicationRefused(OFFICE_MOVE_OUT_REFUSED, f"the move out: {exc}") from None


class Desk(Protocol):
    """What ``MovedOut`` files through: ``register_desk.RegisterDesk`` (which imports this
    module, hence a protocol)."""

    @property
    def unconfirmed(self) -> frozenset[str]:
        """The codes of an event that may have reached the network (retried, not refused)."""
        ...

    async def move_out(
        self, person: str, effective: dt.date, to_municipality: str, event_id: uuid.UUID
    ) -> None:
        """File the move out of the resident with this token under ``event_id`` (done already
        under it: nothing more); ``OfficeError`` says why not."""
        ...


def event_for(office: str, application_id: str) -> uuid.UUID:
    """The register's event id of the move out an application files: the same for every copy
    of the application, another for every other (a name-based UUID of both ids)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"renkei:{office}:moving:{application_id}")


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
