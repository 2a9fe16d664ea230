"""The portal's office on the network: its ``Backend`` and the hub's ``Inbox`` for it.

``PortalOffice`` asks the hub under the portal's own identity and token, always for the
resident logged in: J-LIS names the card holder (``identify``), the hub discloses the
person's records (``disclosure``), each office answers ``self_information``, applications go
signed to the office that takes them. Alerts and notices the hub delivers feed the live pages.

It runs on the participant runtime (``hub.node``) and imports no other service: the names of
offices and items, and who signed an application, come through the three protocols below,
which the composition root fills (the registry, the legal table, ``pki``'s CMS parser).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import orjson
from pydantic import TypeAdapter

from hub.log import get_logger
from hub.node import OFFICE_TIMED_OUT, Answer, MemoryStore, NotIdentified, OfficeNode, OfficeStore
from hub.wire import HUB, AccessEvent, ForwardedNotice, RecordOutcome, WireError, open_sealed
from portal.exceptions import (
    PORTAL_BAD_SIGNATURE,
    PORTAL_SIGNER_MISMATCH,
    LoginRefused,
    Unavailable,
    UnreadableSignature,
)
from portal.model import (
    NEWEST,
    PENDING,
    PROGRESS,
    AccessEntry,
    ApplicationKind,
    ApplicationStatus,
    CheckedCertificate,
    HistoryPage,
    HistoryQuery,
    ItemData,
    NoticeEntry,
    OfficeData,
)
from portal.sending import Sending

__all__ = ["ItemTable", "OfficeRegistry", "PortalOffice", "SignerOf"]

log = get_logger("portal.office")
Feed = asyncio.Queue[AccessEntry | NoticeEntry]
_REF_MAX = 100  # a notice's ``ref``, longest kept
_KEPT = 100  # notices and application statuses kept per resident (newest)
_REASON_MAX = 300  # why it is still 審査中, longest kept
_WAITING = "提出先の応答を確認中です。自動的に再送信します (no answer yet: sent again by itself)"
_UNANSWERED = "提出先から応答がありません。提出済みの可能性があります (no answer: it may be filed)"
NOTICES, APPLICATIONS = "notices", "applications"  # the portal's store: per resident
_FEED_MAX = 100  # a resident's browser that stopped reading loses alerts, not the portal memory
SELF_INFORMATION = "self_information"  # the portal rules' affair (hub/routing/portal.py)
REGISTER_ITEM = "resident_record"  # 住民票関係情報: where the resident's name is
JST = dt.timezone(dt.timedelta(hours=9))


class OfficeEntry(Protocol):
    """An office as the registry names it."""

    @property
    def code(self) -> str: ...
    @property
    def name_ja(self) -> str: ...
    @property
    def provides(self) -> tuple[str, ...]: ...


class OfficeRegistry(Protocol):
    """The office registry (``hub.routing.Registry``)."""

    def __contains__(self, code: object) -> bool: ...
    def __iter__(self) -> Iterator[OfficeEntry]: ...
    def get(self, code: str) -> OfficeEntry: ...


class AffairEntry(Protocol):
    @property
    def ja(self) -> str: ...


class ItemEntry(Protocol):
    @property
    def ja(self) -> str: ...
    @property
    def source(self) -> str: ...  # "model" or "verified"
    @property
    def certificate(self) -> bool: ...  # printed from at the kiosk, not shown


class ItemTable(Protocol):
    """The legal table (``hub.routing.LegalTable``): affairs and items, for their Japanese
    names (whether an item's name is a model, whether it is a certificate's)."""

    @property
    def affairs(self) -> Mapping[str, AffairEntry]: ...
    @property
    def items(self) -> Mapping[str, ItemEntry]: ...


class SignerOf(Protocol):
    """Who signed an application (CMS, DER): the signer's certificate (DER), or
    ``UnreadableSignature``. Whether the signature verifies is the receiving office's check."""

    def __call__(self, signed: bytes) -> bytes: ...


class PortalOffice:
    def __init__(
        self, node: OfficeNode, registry: OfficeRegistry, table: ItemTable, signer_of: SignerOf
    ) -> None:
        self._node = node
        self.registry = registry
        self.table = table
        self.signer_of = signer_of
        # お知らせ and application statuses: in the portal's own store (PostgreSQL schema, or
        # memory), one document per resident under the portal's token, the newest _KEPT each
        self.store: OfficeStore = node.store if node.store is not None else MemoryStore()
        self._feeds: dict[str, set[Feed]] = {}
        self.sending = Sending(node, self.store, self._settle)  # a first send timed out
        self._statuses = asyncio.Lock()  # one change at a time to a resident's statuses

    @property
    def node(self) -> OfficeNode:
        return self._node

    @node.setter
    def node(self, node: OfficeNode) -> None:  # e.g. a replay's, noting what it asks
        self._node = node
        self.sending.node = node

    def _name(self, code: str) -> str:
        if code == HUB:
            return "情報提供ネットワークシステム"
        return self.registry.get(code).name_ja if code in self.registry else code

    def _entry(
        self,
        *,
        record_id: uuid.UUID,
        at: dt.datetime,
        requester: str,
        provider: str,
        affair: str,
        items: tuple[str, ...],
        outcome: RecordOutcome,
        record_hash: str,
    ) -> AccessEntry:
        """A record, named: offices by the registry, affair and items by the legal table."""
        affairs, table = self.table.affairs, self.table.items
        return AccessEntry(
            record_id=record_id,
            at=at,
            requester=requester,
            requester_name=self._name(requester),
            provider=provider,
            provider_name=self._name(provider) if provider else "",
            affair=affair,
            items=items,
            outcome=outcome,
            record_hash=record_hash,
            affair_name=affairs[affair].ja if affair in affairs else "",
            item_names=tuple(table[i].ja if i in table else "" for i in items),
            own=requester == self.node.code,
        )

    # ---- login and records ----------------------------------------------------------------

    async def identify(self, certificate: CheckedCertificate) -> str:
        try:
            return await self.node.identify(certificate.der)
        except NotIdentified as exc:
            if exc.code == OFFICE_TIMED_OUT:
                raise Unavailable("J-LIS (the certification service) did not answer") from None
            raise LoginRefused(f"{exc.code}: {exc}") from None

    async def _disclosure(
        self, person: str, item: str, params: Mapping[str, str | int] | None = None
    ) -> Any:
        return (await self._answer(person, item, params))[item]

    async def _answer(
        self, person: str, item: str, params: Mapping[str, str | int] | None = None
    ) -> Mapping[str, Any]:
        answer = await self.node.ask("disclosure", HUB, (item,), person, params)
        if answer.status != "ok" or answer.data is None:
            raise Unavailable(f"the hub's access records: {answer.status} {answer.reason}".strip())
        return answer.data

    async def history(self, person: str, want: HistoryQuery = NEWEST) -> HistoryPage:
        params: dict[str, str | int] = {}
        if want.office:
            params["office"] = want.office
        if want.start:
            params["since"] = want.start.isoformat()
        if want.end:
            params["until"] = want.end.isoformat()
        if want.before:
            params["before"] = want.before
        answer = await self._answer(person, "access_records", params)
        rows, older = answer["access_records"], answer.get("older")
        entries = [
            self._entry(
                record_id=uuid.UUID(r["record_id"]),
                at=dt.datetime.fromisoformat(r["at"]),
                requester=r["requester"],
                provider=r["provider"],
                affair=r["affair"],
                items=tuple(r["items"]),
                outcome=r["outcome"],
                record_hash=r["hash"],
            )
            for r in rows
        ]
        return HistoryPage(entries, older if isinstance(older, int) else None)

    async def verify_record(self, person: str, record_id: uuid.UUID) -> bool | None:
        check = await self._disclosure(person, "record_check", {"record_id": str(record_id)})
        return bool(check["valid"]) if check["found"] else None

    # ---- わたしの情報 ----------------------------------------------------------------------

    async def my_info(self, person: str) -> list[OfficeData]:
        """What each office holding the resident keeps about them (only those: asking every
        office would record a refusal at each, and give offices a reason to ask who). An office
        that holds them but provides no item has nothing the portal may ask it for: it is
        listed as such (``no_rule``), not asked."""
        holders = set(await self._disclosure(person, "holders"))
        held = [o for o in self.registry if o.code in holders and o.code != self.node.code]
        shows = {o.code: self._information(o) for o in held}
        asked = [o for o in held if shows[o.code]]
        params = {"fiscal_year": _fiscal_year(dt.datetime.now(dt.UTC))}  # for a tax office
        answers = await asyncio.gather(
            *(self.node.ask(SELF_INFORMATION, o.code, shows[o.code], person, params) for o in asked)
        )
        by_code = {o.code: a for o, a in zip(asked, answers, strict=True)}
        shown = []
        for office in held:
            answer = by_code.get(office.code)
            if answer is None:
                shown.append(OfficeData(office.code, self._name(office.code), no_rule=True))
            elif answer.status == "not_found":  # it holds the resident, but nothing to show
                shown.append(OfficeData(office.code, self._name(office.code)))
            else:
                shown.append(self._office_data(office, answer))
        if asked and all(a.status in ("timed_out", "error") for a in answers):
            raise Unavailable("the hub or every office did not answer")
        return shown

    def _information(self, office: OfficeEntry) -> tuple[str, ...]:
        """The items of an office's that are information to show: not those a certificate is
        printed from (a resident without a registered seal has no 印鑑登録証明事項)."""
        items = self.table.items
        return tuple(i for i in office.provides if not (i in items and items[i].certificate))

    async def resident_name(self, person: str) -> str:
        """The name on the resident register of the municipality holding the resident."""
        try:
            holders = set(await self._disclosure(person, "holders"))
        except Unavailable:
            return ""
        registers = [
            o.code for o in self.registry if o.code in holders and REGISTER_ITEM in o.provides
        ]
        for code in registers:
            answer = await self.node.ask(SELF_INFORMATION, code, (REGISTER_ITEM,), person)
            record = (answer.data or {}).get(REGISTER_ITEM) if answer.status == "ok" else None
            if isinstance(record, Mapping) and isinstance(record.get("name"), str):
                return str(record["name"])[:100]
        return ""

    def _office_data(self, office: OfficeEntry, answer: Answer) -> OfficeData:
        """Its answer: only the items it was asked for (an office cannot add others)."""
        code, name = office.code, self._name(office.code)
        if answer.status != "ok" or answer.data is None:
            why = f"{answer.status}: {answer.reason}" if answer.reason else answer.status
            return OfficeData(code, name, unavailable=why)
        items = []
        for item, value in answer.data.items():
            if item not in office.provides:
                continue
            entry = self.table.items.get(item)
            values = value if isinstance(value, Mapping) else {"value": value}
            items.append(
                ItemData(
                    item,
                    entry.ja if entry else item,
                    entry is None or entry.source == "model",
                    dict(values),
                )
            )
        return OfficeData(code, name, tuple(items))

    # ---- お知らせ and live alerts ----------------------------------------------------------

    async def received(self, msg: AccessEvent | ForwardedNotice) -> None:
        if isinstance(msg, AccessEvent):
            entry: AccessEntry | NoticeEntry = self._entry(
                record_id=msg.record_id,
                at=msg.at,
                requester=msg.requester,
                provider=msg.provider,
                affair=msg.envelope.affair,
                items=msg.items,
                outcome=msg.outcome,
                record_hash="",
            )
        else:
            body = self._open_body(msg)
            if body is None:
                return
            await self._progress(msg.person, msg.origin, body)
            notice = self._notice(msg, body) if "title" in body else None
            if notice is None:  # (a report of an application's progress only: no お知らせ)
                return
            mine = await self.notices(msg.person)
            if any(n.notice_id == notice.notice_id for n in mine):
                return  # redelivered
            await self._save_notices(msg.person, [notice, *mine])
            entry = notice
        for feed in self._feeds.get(msg.person, ()):
            if feed.qsize() < _FEED_MAX:
                feed.put_nowait(entry)

    def _open_body(self, msg: ForwardedNotice) -> dict[str, Any] | None:
        try:
            body = orjson.loads(open_sealed(msg.body, self.node.keys.sealing))
        except (WireError, orjson.JSONDecodeError) as exc:
            log.warning("notice.unreadable", origin=msg.origin, error=type(exc).__name__)
            return None
        if not isinstance(body, dict):
            log.warning("notice.unreadable", origin=msg.origin, error="not an object")
            return None
        return body

    async def _progress(self, person: str, origin: str, body: Mapping[str, Any]) -> None:
        """An office's word on an application it accepted (``ref``: the application's id;
        ``state``: 審査中 with its ``reason``, 認定, 却下): only the office it was filed at, for
        the resident who filed it; a decision is not undone by a late 審査中."""
        state, ref = body.get("state"), body.get("ref")
        if state not in PROGRESS or not isinstance(ref, str) or not 0 < len(ref) <= _REF_MAX:
            return
        reason = body.get("reason") if state == PENDING else ""
        reason = reason[:_REASON_MAX] if isinstance(reason, str) else ""
        async with self._statuses:
            kept = await self.applications(person)
            for i, status in enumerate(kept):
                if (status.ref, status.office, status.status) != (ref, origin, "accepted"):
                    continue
                if status.progress in PROGRESS and status.progress != PENDING:
                    return  # decided: stays so
                kept[i] = dataclasses.replace(status, progress=state, reason=reason)
                await self._save_statuses(person, kept)
                return

    def _notice(self, msg: ForwardedNotice, body: Mapping[str, Any]) -> NoticeEntry | None:
        try:
            title, text = str(body["title"])[:200], str(body["body"])[:4000]
            ref = body.get("ref")
        except KeyError as exc:
            log.warning("notice.unreadable", origin=msg.origin, error=type(exc).__name__)
            return None
        # a notice about one thing of the office's (``ref``, e.g. a claim's decision) is kept
        # once, whichever send of it arrives: its id is the office's and the ref's
        notice_id = msg.envelope.correlation_id
        if isinstance(ref, str) and 0 < len(ref) <= _REF_MAX:
            notice_id = uuid.uuid5(uuid.NAMESPACE_URL, f"renkei:notice/{msg.origin}/{ref}")
        return NoticeEntry(
            notice_id=notice_id,
            at=msg.envelope.issued_at,
            office=msg.origin,
            office_name=self._name(msg.origin),
            title=title,
            body=text,
        )

    async def notices(self, person: str) -> list[NoticeEntry]:
        doc = await self.store.get(NOTICES, person)
        kept = _NOTICES.validate_python(doc["notices"]) if doc else []
        return sorted(kept, key=lambda n: n.at, reverse=True)

    async def mark_read(self, person: str, notice_id: uuid.UUID) -> bool:
        mine = await self.notices(person)
        notice = next((n for n in mine if n.notice_id == notice_id), None)
        if notice is None:
            return False
        notice.read = True
        await self._save_notices(person, mine)
        return True

    async def _save_notices(self, person: str, notices: list[NoticeEntry]) -> None:
        newest = sorted(notices, key=lambda n: n.at, reverse=True)[:_KEPT]
        doc = {"notices": _NOTICES.dump_python(newest, mode="json")}
        await self.store.put_many(NOTICES, [(person, None, doc)])

    def subscribe(self, person: str) -> Feed:
        feed: Feed = asyncio.Queue()
        self._feeds.setdefault(person, set()).add(feed)
        return feed

    def unsubscribe(self, person: str, queue: Feed) -> None:
        feeds = self._feeds.get(person)
        if feeds is not None:
            feeds.discard(queue)
            if not feeds:
                del self._feeds[person]

    # ---- applications ----------------------------------------------------------------------

    async def submit(
        self, person: str, kind: ApplicationKind, form: dict[str, str], signed: bytes
    ) -> ApplicationStatus:
        now = dt.datetime.now(dt.UTC)
        signer, why = await self._signer(signed)
        if signer != person:  # J-LIS names who signed: it must be the resident logged in
            why = why or f"{PORTAL_SIGNER_MISMATCH}: signed with another person's card"
            status = ApplicationStatus(uuid.uuid4(), kind, now, "", "refused", why)
            await self._keep(person, status)
            return status
        where = await self.node.ask("application", HUB, (kind,), person)
        if where.status != "ok" or where.data is None:
            _unavailable(where, "the hub")
            why = f"{where.code}: {where.reason}" if where.code else where.reason
            status = ApplicationStatus(where.query_id, kind, now, "", "refused", why)
            await self._keep(person, status)
            return status
        office = str(where.data["office"])
        answer = await self.node.ask("application", office, (kind,), person, document=signed)
        if answer.status == "timed_out":  # not known yet: sent again until it is (``sending``)
            status = ApplicationStatus(
                answer.query_id, kind, now, office, "pending", _WAITING, self._name(office)
            )
            await self._keep(person, status)
            await self.sending.begin(person, status, answer, signed)
            return status
        _unavailable(answer, self._name(office))
        sent = ApplicationStatus(answer.query_id, kind, now, office, "pending", "")
        status = self._status(sent, answer)
        await self._keep(person, status)
        return status

    async def send_again(self, person: str, status_id: uuid.UUID) -> ApplicationStatus | None:
        """Send again, at the resident's asking, an application of theirs that was sent and
        never answered (応答なし): the same signed document under the same status, 確認中
        again until the office's receipt or refusal (the office files a document once). None:
        no such application of this resident's that was given up."""
        async with self._statuses:
            kept = await self.applications(person)
            found = next((s for s in kept if s.application_id == status_id), None)
            if found is None or found.status != "unavailable":
                return None
            if not await self.sending.given_up(person, status_id):
                return None
            pending = dataclasses.replace(found, status="pending", detail=_WAITING)
            await self._save_statuses(person, [pending if s is found else s for s in kept])
        await self.sending.again(person, status_id)
        return pending

    async def settled(self, person: str, status: ApplicationStatus) -> ApplicationStatus:
        """An application's status once known: a ``pending`` one waited for (being sent
        again), the others as they are."""
        if status.status != "pending":
            return status
        await self.sending.settled(status.application_id)
        mine = await self.applications(person)
        return next((s for s in mine if s.application_id == status.application_id), status)

    def _status(self, sent: ApplicationStatus, answer: Answer) -> ApplicationStatus:
        """What the office's ``answer`` makes of an application ``sent`` (its id, kind, time
        and office): accepted (the receipt), refused (why), or — sent again, and the office's
        word never came — unavailable."""
        named = dataclasses.replace(sent, office_name=self._name(sent.office))
        if answer.status == "ok" and answer.data is not None:
            receipt, ref = str(answer.data["receipt"]), str(answer.data.get("application_id", ""))
            return dataclasses.replace(named, status="accepted", detail=receipt, ref=ref[:_REF_MAX])
        detail = f"{answer.code}: {answer.reason}" if answer.code else answer.reason
        if answer.unknown:
            sends = len(answer.earlier) + 1
            detail = f"{_UNANSWERED} (sent {sends} times; last: {detail or answer.status})"
            return dataclasses.replace(named, status="unavailable", detail=detail)
        return dataclasses.replace(named, status="refused", detail=detail)

    async def _settle(
        self, person: str, pending: ApplicationStatus, answer: Answer
    ) -> ApplicationStatus:
        """The outcome of an application sent again, in place of its 確認中 status."""
        status = self._status(pending, answer)
        status_id = status.application_id
        async with self._statuses:
            kept = await self.applications(person)
            kept = [status if s.application_id == status_id else s for s in kept]
            if status not in kept:  # pushed out by newer ones meanwhile: kept as the newest
                kept = [status, *kept][:_KEPT]
            await self._save_statuses(person, kept)
        return status

    async def _signer(self, signed: bytes) -> tuple[str, str]:
        """(this portal's token for whoever signed — J-LIS names them, or "" and why not)."""
        try:
            certificate = self.signer_of(signed)
        except UnreadableSignature as exc:
            return "", f"{PORTAL_BAD_SIGNATURE}: {exc}"
        try:
            return await self.node.identify(certificate), ""
        except NotIdentified as exc:
            if exc.code == OFFICE_TIMED_OUT:
                raise Unavailable("J-LIS (the certification service) did not answer") from None
            return "", f"{exc.code}: {exc}"

    async def _keep(self, person: str, status: ApplicationStatus) -> None:
        async with self._statuses:
            await self._save_statuses(person, [status, *await self.applications(person)][:_KEPT])

    async def _save_statuses(self, person: str, kept: list[ApplicationStatus]) -> None:
        doc = {"applications": _STATUSES.dump_python(kept, mode="json")}
        await self.store.put_many(APPLICATIONS, [(person, None, doc)])

    async def applications(self, person: str) -> list[ApplicationStatus]:
        doc = await self.store.get(APPLICATIONS, person)
        kept = _STATUSES.validate_python(doc["applications"]) if doc else []
        # statuses kept before offices were named carry only the code: named now
        return [
            dataclasses.replace(s, office_name=self._name(s.office))
            if s.office and not s.office_name
            else s
            for s in kept
        ]


# what the portal keeps in its store, as JSON documents
_NOTICES = TypeAdapter(list[NoticeEntry])
_STATUSES = TypeAdapter(list[ApplicationStatus])


def _unavailable(answer: Answer, who: str) -> None:
    """A time-out or the hub's failure: the office may not have it; the resident keeps the
    signed form and retries (a refusal is an answer, shown as such; an application that timed
    out is sent again by the portal itself: ``portal.sending``)."""
    if answer.status == "timed_out" or (
        answer.status == "error" and answer.code.startswith(("hub.", "office."))
    ):
        raise Unavailable(f"{who}: {answer.reason or answer.status}")


def _fiscal_year(now: dt.datetime) -> int:
    """The fiscal year (年度, April to March, Japan time) ``now`` is in."""
    day = now.astimezone(JST).date()
    return day.year if day.month >= 4 else day.year - 1
