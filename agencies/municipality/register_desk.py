"""住民異動 at the municipal desk (窓口): each register event, recorded once, told once.

A filing (:class:`Filing`) is one event of the resident register: 出生 (birth), 死亡 (death),
転出 (move out), 転入 (move in, after a move out filed online or at the old desk), 氏名の変更
(name), 転居 (a new address within the municipality), 世帯変更 (joining or leaving a
household, a new head: 住基法 第25条) and 個人番号の変更 (``number``: a leaked number replaced
on the resident's request or ex officio, 番号法 第7条第2項; ``renkei numbers change``).
:func:`parse` checks what the clerk typed (sizes, dates, codes); :func:`refusal` says why the
register may not apply it to the record it keeps (no such resident, already applied — a number
changed that day already too —, out of order: after a death, after a move out, a change to what the
record says already); :func:`applied` is the record after it. Pure, all three.

`RegisterDesk` does the I/O, in this order: the change event to the hub (the register's event
id is the message id, so a retry after a lost reply is acted on once: the holders keep each
event once by its id, and the hub answers the copy with what it recorded), then J-LIS's 本人確認情報
(住基法 第30条の6, over 住基ネット; once per event id, the :class:`JlisRegister` the
composition root supplies), then
the register's own record (carrying the id of its last event) and its event log
(``register_events``: event id → begun, applied or refused). Refused before the network was
told, an event is logged refused and changes nothing; unconfirmed (no reply, or J-LIS refused
after the holders were told), it stays begun and is retried under its id. A household change
touches none of the four facts, so J-LIS hears nothing of it (REGISTER-FACTS §1.2, §4). A birth
is numbered by J-LIS at the municipality's request (:meth:`JlisRegister.born`) before it is
enrolled and told, the number designated into the record; a number change asks J-LIS first
(:meth:`JlisRegister.change_number`: refused there, nothing is told), then tells the holders
(refused after J-LIS changed it, the event stays begun and is retried under its id: J-LIS gives
the same number again), then writes the record; both send the resident a 個人番号通知書
(``numbering.notice``, through the ``notify`` the composition root supplies); a move in is
:func:`moving.move_in` — which notes J-LIS only once the hub has let the new register enroll the
person (after a move out to it): refused before, it changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from pydantic import ValidationError

from agencies.exceptions import (
    MUNICIPALITY_MOVE_IN_NOT_DELIVERED,
    REGISTER_ALREADY_APPLIED,
    REGISTER_BAD_FILING,
    REGISTER_NOT_DELIVERED,
    REGISTER_NOT_ON_REGISTER,
    REGISTER_OUT_OF_ORDER,
    REGISTER_UNCONFIRMED,
)
from agencies.municipality import moving, numbering
from hub.node import OFFICE_TIMED_OUT, OfficeError, OfficeNode, OfficeStore
from hub.numbers import resident_record_code
from hub.wire import Change, Delivered, Facts, Refused, outcome_reason

__all__ = [
    "EVENTS_LOG",
    "KINDS",
    "Filing",
    "JlisRegister",
    "RegisterDesk",
    "applied",
    "parse",
    "refusal",
    "regrouped",
    "relationships",
]

KINDS: Final = (
    "birth", "entry", "death", "move_out", "move_in", "name", "address", "household", "number"
)  # fmt: skip
NUMBER: Final = "number"  # 個人番号の変更 (番号法 第7条第2項): `renkei numbers change`
EVENTS_LOG: Final = "register_events"
# the change event each kind is told as, and its 異動事由 for J-LIS (None: not 本人確認情報)
_CHANGE: Final[dict[str, Change]] = {
    "birth": "birth",
    "death": "death",
    "move_out": "moved_out",
    "move_in": "moved_in",
    "name": "name_changed",
    "address": "address_changed",
    "household": "household",
    "number": "number_changed",
    "entry": "moved_in",
}
_REASON: Final[dict[str, str | None]] = {
    "birth": "出生",
    "death": "死亡",
    "move_out": "転出",
    "move_in": "転入",
    "name": "氏名変更",
    "address": "転居",
    "household": None,
    "number": numbering.CHANGE,  # J-LIS's own act (change_number), not a note
    "entry": numbering.ENTRY,  # J-LIS numbers the new code (born), not a note
}
# what each kind needs (besides local_id and effective), and may have
_NEEDS: Final[dict[str, tuple[str, ...]]] = {
    "birth": ("name", "sex", "household"),
    "death": (),
    "move_out": ("to_municipality",),
    "move_in": ("number", "name", "birth_date", "sex", "address", "from_address", "household"),
    "name": ("name",),
    "address": ("address",),
    "household": ("household",),
    "number": ("by",),
    "entry": ("name", "birth_date", "sex", "address", "from_address", "household"),
}
_MAY: Final = frozenset({"relationship", "head", "relationships"})
HEAD: Final = "世帯主"
_LOCAL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HOUSEHOLD = _LOCAL_ID
_MUNICIPALITY = re.compile(r"[0-9]{6}")
_NUMBER = re.compile(r"[0-9]{12}")
_SIZES: Final = {
    "name": 200,
    "address": 400,
    "from_address": 400,
    "relationship": 20,
    "relationships": 2000,
}
_PAIR = re.compile(r"([A-Za-z0-9_-]{1,64})=([^,=\s]{1,20})")
_EARLIEST: Final = dt.date(1900, 1, 1)
# what may have reached the network although the desk heard nothing back: retried, not refused
_UNCONFIRMED: Final = frozenset(
    {REGISTER_UNCONFIRMED, OFFICE_TIMED_OUT, MUNICIPALITY_MOVE_IN_NOT_DELIVERED}
)


class JlisRegister(Protocol):
    """What the desk asks of J-LIS, over 住基ネット (``municipality.juki.JukiLink``; the
    ``municipality`` arguments are the desk's, J-LIS takes it from the register's broker user)."""

    async def noted(
        self,
        rrc: str,
        facts: Facts,
        *,
        municipality: str,
        reason: str = ...,
        effective: dt.date | None = ...,
        event: str | None = ...,
    ) -> None: ...

    async def born(
        self,
        rrc: str,
        facts: Facts,
        *,
        municipality: str,
        effective: dt.date,
        event: str,
        reason: str = ...,
    ) -> str: ...

    async def code_of(self, number: str) -> str: ...

    async def change_number(
        self, rrc: str, *, municipality: str, on: dt.date, event: str
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class Filing:
    kind: str
    local_id: str
    effective: dt.date
    event_id: uuid.UUID
    fields: Mapping[str, str] = field(default_factory=dict)


def _bad(reason: str) -> OfficeError:
    return OfficeError(REGISTER_BAD_FILING, reason)


def parse(
    kind: str,
    local_id: str,
    effective: str,
    fields: Mapping[str, str],
    event_id: str | None = None,
) -> Filing:
    """The clerk's filing, checked; ``OfficeError`` (``register.bad_filing``) says what is wrong."""
    if kind not in KINDS:
        raise _bad(f"no register event {kind!r}: one of {', '.join(KINDS)}")
    if not isinstance(local_id, str) or not _LOCAL_ID.fullmatch(local_id):
        raise _bad("the resident's local id is 1–64 letters, digits, '-' or '_'")
    try:
        on = dt.date.fromisoformat(effective)
    except (TypeError, ValueError):
        raise _bad(f"the effective date is YYYY-MM-DD, not {str(effective)[:20]!r}") from None
    if on < _EARLIEST:
        raise _bad(f"an effective date before {_EARLIEST} is no register event")
    try:
        eid = uuid.UUID(event_id) if event_id else uuid.uuid4()
    except ValueError:
        raise _bad("the event id is a UUID") from None
    given = {k: v for k, v in fields.items() if v not in (None, "")}
    missing = [k for k in _NEEDS[kind] if k not in given]
    if missing:
        raise _bad(f"a {kind} needs {', '.join(missing)}")
    extra = sorted(set(given) - set(_NEEDS[kind]) - _MAY)
    if extra:
        raise _bad(f"a {kind} takes no {', '.join(extra)}")
    for key, value in given.items():
        if not isinstance(value, str) or not value.strip():
            raise _bad(f"{key} is text")
        if len(value) > _SIZES.get(key, 64):
            raise _bad(f"{key} is at most {_SIZES.get(key, 64)} characters")
    _check_values(kind, given, on)
    return Filing(kind, local_id, on, eid, given)


def _check_values(kind: str, given: Mapping[str, str], on: dt.date) -> None:
    if "household" in given and not _HOUSEHOLD.fullmatch(given["household"]):
        raise _bad("the household id is 1–64 letters, digits, '-' or '_'")
    if "to_municipality" in given and not _MUNICIPALITY.fullmatch(given["to_municipality"]):
        raise _bad("the municipality moved to is its 6-digit code (e.g. 131041)")
    if "number" in given and not _NUMBER.fullmatch(given["number"]):
        raise _bad("the individual number is 12 digits")
    if "by" in given and given["by"] not in numbering.BY:
        raise _bad(
            "a number change is by the resident's request or ex officio (request, ex_officio)"
        )
    if given.get("head", "0") not in ("0", "1"):
        raise _bad("head is 1 (the new head of the household) or 0")
    if kind == "household" and given.get("head") != "1" and "relationship" not in given:
        raise _bad("a household change says the relationship to the head (続柄), or head")
    if "relationships" in given:
        if kind != "household":
            raise _bad("only a household change gives the other members' 続柄 (relationships)")
        relationships(given["relationships"])  # well formed, or _bad
    facts = {"name": "x", "address": "x", "birth_date": on.isoformat(), "sex": "1", **given}
    try:
        Facts.of(facts)
    except ValidationError:
        raise _bad("sex is 1, 2 or 9 and a birth date YYYY-MM-DD") from None
    if kind in ("move_in", "entry") and dt.date.fromisoformat(given["birth_date"]) > on:
        raise _bad("a resident moving in was born before the move")


def refusal(
    filing: Filing, resident: Mapping[str, Any] | None, logged: Mapping[str, Any] | None
) -> OfficeError | None:
    """Why the register may not apply ``filing`` to the record it keeps (``resident``, None:
    none under the local id), given its log entry for the event id; None when it may — also
    when the record carries this event already (begun, recorded, the log left to finish)."""
    if logged is not None:
        used = _used(filing, logged)
        if used is not None:
            return used
    if resident is not None and resident.get("event") == str(filing.event_id):
        return None
    if filing.kind in ("birth", "move_in", "entry"):
        if resident is None:
            return None
        return OfficeError(
            REGISTER_ALREADY_APPLIED, f"{filing.local_id} is on the register already"
        )
    if resident is None:
        return OfficeError(
            REGISTER_NOT_ON_REGISTER, f"no resident {filing.local_id!r} on this register"
        )
    return _out_of_order(filing, resident) or _changed_today(filing, resident)


def _changed_today(filing: Filing, resident: Mapping[str, Any]) -> OfficeError | None:
    """A second request for a new number on the day of the last change is the same request."""
    if filing.kind == NUMBER and resident.get("number_changed") == filing.effective.isoformat():
        return OfficeError(
            REGISTER_ALREADY_APPLIED,
            f"the number of {filing.local_id} was changed on {filing.effective} already: a second"
            " request is a duplicate (a new number the same day is not asked twice)",
        )
    return None


def _used(filing: Filing, logged: Mapping[str, Any]) -> OfficeError | None:
    """An event id is applied once or refused once; begun, it may be retried as itself."""
    eid = filing.event_id
    if logged.get("state") == "applied":
        why = f"event {eid} was applied on {logged.get('applied')}: it is applied once"
    elif logged.get("state") == "refused":
        why = f"event {eid} was refused ({logged.get('reason')}): file it anew, with a new id"
    elif (logged.get("kind"), logged.get("local_id")) != (filing.kind, filing.local_id):
        why = f"event {eid} is another event's id"
    else:
        return None
    return OfficeError(REGISTER_ALREADY_APPLIED, why)


def _out_of_order(filing: Filing, resident: Mapping[str, Any]) -> OfficeError | None:
    def late(why: str) -> OfficeError:
        return OfficeError(REGISTER_OUT_OF_ORDER, why)

    if resident.get("died"):
        what = "no new number for the dead" if filing.kind == NUMBER else "nothing follows a death"
        return late(f"{filing.local_id} died on {resident['died']}: {what}")
    if resident.get("move_out") and filing.kind != "death":
        return late(
            f"{filing.local_id} filed a move out ({resident['move_out']}): their record is"
            " the new municipality's to change"
        )
    if filing.effective < dt.date.fromisoformat(str(resident["birth_date"])):
        return late(f"the {filing.kind} is dated before {filing.local_id} was born")
    same = {"name": "name", "address": "address", "household": "household"}.get(filing.kind)
    if (
        same is not None
        and resident.get(same) == filing.fields[same]
        and not (filing.kind == "household" and filing.fields.get("head") == "1")
    ):
        return late(f"the record says {same} {filing.fields[same]!r} already: nothing changes")
    return None


def applied(filing: Filing, resident: Mapping[str, Any] | None) -> dict[str, Any]:
    """The resident's record after the event (a birth, a first entry: the new record)."""
    f, on = filing.fields, filing.effective.isoformat()
    if filing.kind == "entry":
        return {
            "name": f["name"],
            "birth_date": f["birth_date"],
            "sex": f["sex"],
            "address": f["address"],
            "from_address": f["from_address"],  # 従前の住所 (住基法 第7条第8号)
            "household": f["household"],
            "relationship": f.get("relationship", "世帯主"),
        }
    if filing.kind == "birth":
        assert resident is not None  # the desk passes the household's head
        return {
            "name": f["name"],
            "birth_date": on,
            "sex": f["sex"],
            "address": resident["address"],
            "household": f["household"],
            "relationship": f.get("relationship", "子"),
        }
    assert resident is not None  # refusal() let only a held resident through
    record = dict(resident)
    if filing.kind == "death":
        record["died"] = on
    elif filing.kind == "move_out":
        record["move_out"] = on
    elif filing.kind in ("name", "address"):
        record[filing.kind] = f[filing.kind]
    elif filing.kind == NUMBER:
        record["number_changed"] = on  # the new number is J-LIS's: the desk adds it
    elif filing.kind == "household":
        record["household"] = f["household"]
        record["relationship"] = "世帯主" if f.get("head") == "1" else f.get("relationship", "")
    return record


def relationships(text: str) -> dict[str, str]:
    """Pure: ``R2=妻,R3=子`` (local id = 続柄, comma-separated) as a mapping; ``_bad`` when it
    is not that, or names a resident twice."""
    pairs = [_PAIR.fullmatch(p.strip()) for p in text.split(",")]
    if not pairs or any(p is None for p in pairs):
        raise _bad("relationships is local-id=続柄 pairs, comma-separated (R2=妻,R3=子)")
    found = [(p[1], p[2]) for p in pairs if p is not None]
    if len({k for k, _ in found}) != len(found):
        raise _bad("relationships names a resident twice")
    return dict(found)


def regrouped(
    filing: Filing,
    resident: Mapping[str, Any],
    homes: Mapping[str, Mapping[str, Any] | None],
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Pure: a household change (``filing``, of ``resident``) applied to the households it
    touches (``homes``: before and after, None where there is none): those households as they
    are afterwards, and the new 続柄 of every other member whose head changed (住基法 第7条第4号:
    the relationship is to the head, so a new head changes it). Those come from the filing's
    ``relationships``, which must name each of them and no one else; a head who leaves others
    behind names the one who heads them now (世帯主). ``OfficeError`` says what is missing."""
    me, before, after = filing.local_id, str(resident["household"]), filing.fields["household"]
    heads = filing.fields.get("head") == "1"
    if homes.get(after) is None and not heads:
        raise OfficeError(
            REGISTER_NOT_ON_REGISTER,
            f"no household {after!r} here: a new one needs its head (head)",
        )
    moved = rehoused(homes, me, before, after)
    given = (
        relationships(filing.fields["relationships"]) if "relationships" in filing.fields else {}
    )
    needed: set[str] = set()
    if heads and (homes.get(after) or {}).get("head") != me:
        moved[after]["head"] = me
        needed |= {m for m in moved[after]["members"] if m != me}
        if any(given.get(m) == HEAD for m in needed):
            raise _bad(f"{me} heads {after}: no other member of it is {HEAD}")
    old = homes.get(before) or {}
    if before != after and old.get("head") == me and moved[before]["members"]:
        left = set(moved[before]["members"])
        needed |= left
        named = [m for m in moved[before]["members"] if given.get(m) == HEAD]
        if len(named) != 1:
            raise _bad(
                f"{me} leaves {before}, which they head: name its new head among"
                f" {', '.join(sorted(left))} ({HEAD}) in relationships"
            )
        moved[before]["head"] = named[0]
    missing, extra = sorted(needed - set(given)), sorted(set(given) - needed)
    if missing:
        raise _bad(
            f"the head changes for {', '.join(missing)}: give each their 続柄 in relationships"
            f" (e.g. {missing[0]}=妻)"
        )
    if extra:
        raise _bad(f"relationships names {', '.join(extra)}, whose head does not change")
    return moved, given


def rehoused(
    households: Mapping[str, Mapping[str, Any] | None], local_id: str, before: str, after: str
) -> dict[str, dict[str, Any]]:
    """The households touched when ``local_id`` goes from ``before`` to ``after`` (the same:
    a new head), as they are afterwards. A household left empty keeps no head."""
    out: dict[str, dict[str, Any]] = {}
    old = dict(households.get(before) or {"head": None, "members": []})
    if before != after:
        members = [m for m in old.get("members", []) if m != local_id]
        head = old.get("head") if old.get("head") != local_id else (members or [None])[0]
        out[before] = {**old, "members": members, "head": head}
    new = dict(out.get(after) or households.get(after) or {"head": local_id, "members": []})
    if local_id not in new.get("members", []):
        new["members"] = [*new.get("members", []), local_id]
    out[after] = new
    return out


class RegisterDesk:
    """The municipal desk of one resident register (its office's node and store), J-LIS, and
    the municipality's 6-digit code."""

    def __init__(
        self,
        node: OfficeNode,
        store: OfficeStore,
        jlis: JlisRegister,
        municipality: str,
        notify: numbering.Notifier | None = None,
    ) -> None:
        self.node = node
        self.store = store
        self.jlis = jlis
        self.municipality = municipality
        self.notify = notify  # the 個人番号通知書 of a number designated (none: not sent)

    async def file(self, filing: Filing) -> dict[str, Any]:
        """Apply ``filing``; returns the record as it is now. ``OfficeError`` says why not: a
        refusal is logged under the event id (it stays refused), a lost reply is not (retry
        it with the same id)."""
        eid = str(filing.event_id)
        logged = await self.store.get(EVENTS_LOG, eid)
        resident = await self.store.get("residents", filing.local_id)
        refused = refusal(filing, resident, logged)
        if refused is not None:
            raise refused
        if resident is not None and resident.get("event") == eid:  # recorded, not logged
            await self._log(filing, "applied")
            return dict(resident)
        await self._log(filing, "begun")
        try:
            if filing.kind == "birth":
                record = await self._birth(filing, eid)
            elif filing.kind == "move_in":
                record = await self._move_in(filing, eid)
            elif filing.kind == "entry":
                record = await self._entry(filing, eid)
            elif filing.kind == NUMBER:
                assert resident is not None  # refusal() saw to it
                record = await self._number(filing, eid, resident)
            else:
                assert resident is not None  # refusal() saw to it
                record = await self._change(filing, eid, resident)
        except OfficeError as exc:
            if exc.code not in _UNCONFIRMED:
                await self._log(filing, "refused", reason=f"{exc.code}: {exc}"[:300])
            raise
        await self._log(filing, "applied")
        return record

    @property
    def unconfirmed(self) -> frozenset[str]:
        return _UNCONFIRMED

    async def move_out(
        self, person: str, effective: dt.date, to_municipality: str, event_id: uuid.UUID
    ) -> None:
        """A 転出届 filed online (``moving.MovedOut``, the resident known by this register's
        token): filed as the desk files one, under the event id the application gives — once
        applied under it, filing it again does nothing (the application received again)."""
        found = await self.store.by_token("residents", person)
        if found is None:
            raise OfficeError(REGISTER_NOT_ON_REGISTER, "no resident with that token here")
        logged = await self.store.get(EVENTS_LOG, str(event_id))
        done = ("applied", "move_out", found[0])
        if (
            logged is not None
            and (logged.get("state"), logged.get("kind"), logged.get("local_id")) == done
        ):
            return
        fields = {"to_municipality": to_municipality}
        filing = parse("move_out", found[0], effective.isoformat(), fields, str(event_id))
        await self.file(filing)

    async def _log(self, filing: Filing, state: str, **more: str) -> None:
        today = dt.datetime.now(dt.UTC).date().isoformat()
        entry = {"kind": filing.kind, "local_id": filing.local_id, "state": state, state: today}
        await self.store.put_many(EVENTS_LOG, [(str(filing.event_id), None, {**entry, **more})])

    async def _token(self, local_id: str) -> str:
        token = await self.store.token_of(local_id)
        if token is None:
            raise OfficeError(
                REGISTER_NOT_ON_REGISTER,
                f"{local_id} is on the register but not enrolled on the network",
            )
        return token

    async def _tell(self, token: str, filing: Filing, detail: Mapping[str, str]) -> None:
        outcome = await self.node.report_change(
            token, _CHANGE[filing.kind], filing.effective, detail, event_id=filing.event_id
        )
        if isinstance(outcome, Delivered):
            return
        if isinstance(outcome, Refused):
            raise OfficeError(
                REGISTER_NOT_DELIVERED, f"the network refused the {filing.kind}: {outcome.reason}"
            )
        reason = outcome_reason(outcome, outcome.status)
        raise OfficeError(
            REGISTER_UNCONFIRMED,
            f"the {filing.kind} is unconfirmed ({reason}): retry it with --event-id"
            f" {filing.event_id}",
        )

    def _code(self, filing: Filing, record: Mapping[str, Any]) -> str | None:
        """The 住民票コード J-LIS is noted under (None: a household change, not noted); checked
        before anything is told."""
        if _REASON[filing.kind] is None:
            return None
        rrc = record.get("rrc")
        if not isinstance(rrc, str):
            raise OfficeError(
                REGISTER_BAD_FILING,
                f"the record of {filing.local_id} has no 住民票コード to notify J-LIS under",
            )
        return rrc

    async def _note(self, filing: Filing, record: Mapping[str, Any], rrc: str | None) -> None:
        """J-LIS's 本人確認情報, after the network was told: refused there, the event is not
        complete — it stays begun (retried under its id), never logged refused."""
        reason = _REASON[filing.kind]
        if rrc is None or reason is None:
            return
        try:
            await self.jlis.noted(
                rrc,
                Facts.of(record),
                municipality=self.municipality,
                reason=reason,
                effective=filing.effective,
                event=str(filing.event_id),
            )
        except OfficeError as exc:
            raise OfficeError(
                REGISTER_UNCONFIRMED,
                f"the network was told, but J-LIS refused the note ({exc.code}: {exc}); retry"
                f" with --event-id {filing.event_id} once that is settled",
            ) from None

    async def _change(
        self, filing: Filing, eid: str, resident: Mapping[str, Any]
    ) -> dict[str, Any]:
        token = await self._token(filing.local_id)
        record = {**applied(filing, resident), "event": eid}
        rrc = self._code(filing, record)
        detail = {}
        if filing.kind == "move_out":
            detail["to_municipality"] = filing.fields["to_municipality"]
        moved: dict[str, dict[str, Any]] = {}
        related: dict[str, str] = {}
        if filing.kind == "household":  # checked before anything is told
            homes = {h: await self.store.get("households", h) for h in _both(resident, record)}
            moved, related = regrouped(filing, resident, homes)
        await self._tell(token, filing, detail)
        await self._note(filing, record, rrc)
        if moved:
            await self.store.put_many("households", [(h, None, d) for h, d in moved.items()])
        if related:  # the other members' 続柄 to their new head (no event of their own)
            await self._relate(related)
        await self.store.put_many("residents", [(filing.local_id, token, record)])
        return record

    async def _relate(self, related: Mapping[str, str]) -> None:
        rows = []
        for local_id, relationship in related.items():
            member = await self.store.get("residents", local_id)
            if member is not None:
                token = await self.store.token("residents", local_id)
                rows.append((local_id, token, {**member, "relationship": relationship}))
        await self.store.put_many("residents", rows)

    async def _birth(self, filing: Filing, eid: str) -> dict[str, Any]:
        home = await self.store.get("households", filing.fields["household"])
        head = await self.store.get("residents", str((home or {}).get("head", "")))
        if home is None or head is None:
            raise OfficeError(
                REGISTER_NOT_ON_REGISTER,
                f"no household {filing.fields['household']!r} with a head on this register",
            )
        return await self._designated(filing, eid, applied(filing, head), home)

    async def _entry(self, filing: Filing, eid: str) -> dict[str, Any]:
        """A first entry from abroad (国外からの転入 of a person never numbered: 住基法 第22条,
        第30条の3第2項): a new 住民票コード, numbered as at a birth; the household may be new,
        with the resident its head."""
        f = filing.fields
        home = await self.store.get("households", f["household"])
        if home is None and f.get("relationship", "世帯主") != "世帯主":
            raise OfficeError(
                REGISTER_NOT_ON_REGISTER,
                f"no household {f['household']!r} here: a new one has the resident as its head",
            )
        return await self._designated(filing, eid, applied(filing, None), home)

    async def _designated(
        self, filing: Filing, eid: str, record: dict[str, Any], home: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """番号法 第7条第1項・第8条: the new 住民票コード to J-LIS, which generates the number;
        the 住民票 bears it (指定), the register enrolls and tells, the resident is notified."""
        rrc = _code_for(eid)
        number = await self.jlis.born(
            rrc,
            Facts.of(record),
            municipality=self.municipality,
            effective=filing.effective,
            event=eid,
            reason=str(_REASON[filing.kind]),
        )
        record |= {"rrc": rrc, "number": number, "event": eid}  # designated (指定)
        token = await self.node.enroll(number, Facts.of(record))
        await self._tell(token, filing, {})
        hh = filing.fields["household"]
        moved = rehoused({hh: home}, filing.local_id, hh, hh)
        await self.store.put_many("households", [(h, None, d) for h, d in moved.items()])
        await self.store.put_many("residents", [(filing.local_id, token, record)])
        await self._notice(filing, record)
        return record

    async def _number(
        self, filing: Filing, eid: str, resident: Mapping[str, Any]
    ) -> dict[str, Any]:
        """番号法 第7条第2項: J-LIS generates the next number (refused there — dead, another
        municipality's resident, no generation left — nothing is told), the holders hear that
        the number changed (never the number: they hold the person by their tokens, which stay),
        the 住民票 bears the new number, and the resident gets its notice."""
        token = await self._token(filing.local_id)
        rrc = self._code(filing, resident)
        assert rrc is not None  # a number change has its 異動事由
        number = await self.jlis.change_number(
            rrc, municipality=self.municipality, on=filing.effective, event=eid
        )
        record = {**applied(filing, resident), "number": number, "event": eid}
        try:
            await self._tell(token, filing, {})
        except OfficeError as exc:  # J-LIS has changed it: the event is begun, not refused
            raise OfficeError(
                REGISTER_UNCONFIRMED,
                f"J-LIS changed the number, but the holders were not told ({exc.code}: {exc});"
                f" retry with --event-id {filing.event_id}",
            ) from None
        await self.store.put_many("residents", [(filing.local_id, token, record)])
        await self._notice(filing, record)
        return record

    async def _notice(self, filing: Filing, record: Mapping[str, Any]) -> None:
        if self.notify is not None:
            by = filing.fields.get("by", "")
            eid = str(filing.event_id)
            reason = str(_REASON[filing.kind])
            notice = numbering.notice(
                filing.local_id, record, filing.effective, eid, reason=reason, by=by
            )
            await self.notify(notice)

    async def _move_in(self, filing: Filing, eid: str) -> dict[str, Any]:
        f = filing.fields
        rrc = await self.jlis.code_of(f["number"])  # OfficeError: not a number J-LIS gave
        record: dict[str, Any] = {
            "name": f["name"],
            "birth_date": f["birth_date"],
            "sex": f["sex"],
            "address": f["address"],
            "household": f["household"],
            "relationship": f.get("relationship", "世帯主"),
            "rrc": rrc,
            "number": f["number"],  # J-LIS refuses a replaced number at the enrollment
            "event": eid,
        }

        async def noted(facts: Facts) -> None:
            await self.jlis.noted(
                rrc,
                facts,
                municipality=self.municipality,
                reason="転入",
                effective=filing.effective,
                event=eid,
            )

        await moving.move_in(
            self.node,
            self.store,
            number=f["number"],
            local_id=filing.local_id,
            resident=record,
            previous_address=f["from_address"],
            effective=filing.effective,
            noted=noted,
            event_id=filing.event_id,
        )
        home = await self.store.get("households", f["household"])
        moved = rehoused({f["household"]: home}, filing.local_id, f["household"], f["household"])
        await self.store.put_many("households", [(h, None, d) for h, d in moved.items()])
        return record


def _both(resident: Mapping[str, Any], record: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys([str(resident["household"]), str(record["household"])]))


def _code_for(event_id: str) -> str:
    """A newborn's 住民票コード, drawn at random (seeded by the event id, so a retry of the
    same birth draws the same code and J-LIS numbers it once)."""
    rng = random.Random(uuid.UUID(event_id).int)  # noqa: S311 - not a secret: J-LIS de-dups
    return resident_record_code(f"{rng.randrange(10**10):010d}")
