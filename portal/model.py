"""What the portal shows and the two things it needs from outside: a backend and a checker.

The web layer (``portal.web``) renders pages from these values only. The composition root
(``renkei``) supplies the real ``Backend`` (the portal's office on the network, which asks the
hub under the portal's own identity) and the real ``CertificateChecker`` (chain and OCSP by
``pki``); unit tests supply fakes. The portal never sees a number: a resident is the portal's
own token for them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from uuid import UUID

from hub.wire import RecordOutcome

__all__ = [
    "APPLICATIONS",
    "NEWEST",
    "PENDING",
    "PROGRESS",
    "AccessEntry",
    "ApplicationKind",
    "ApplicationStatus",
    "Backend",
    "CertificateChecker",
    "CheckedCertificate",
    "HistoryPage",
    "HistoryQuery",
    "ItemData",
    "NoticeEntry",
    "OfficeData",
]

ApplicationKind = Literal["moving", "child_allowance", "tax_return"]
APPLICATIONS: dict[ApplicationKind, str] = {
    "moving": "引越しワンストップ (moving one-stop)",
    "child_allowance": "児童手当 認定請求 (child-allowance application)",
    "tax_return": "確定申告 e-Tax (income-tax return)",
}


@dataclass(frozen=True, slots=True)
class CheckedCertificate:
    """An authentication certificate that verified: chain to the JPKI CA, validity, OCSP good."""

    der: bytes
    serial: int
    not_after: dt.datetime


class CertificateChecker(Protocol):
    async def check(self, der: bytes, at: dt.datetime) -> CheckedCertificate:
        """Raise ``LoginRefused`` (revoked, expired, wrong CA, not an auth certificate, ...)."""
        ...


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One access record about the resident (情報提供等記録), as the hub disclosed it."""

    record_id: UUID
    at: dt.datetime
    requester: str  # office code
    requester_name: str
    provider: str  # office code, "" when the query never reached one
    provider_name: str
    affair: str
    items: tuple[str, ...]
    outcome: RecordOutcome
    record_hash: str  # hex: the chain hash, checkable with ``Backend.verify_record``
    affair_name: str = ""  # the legal table's Japanese name; "" for the hub's own affairs
    item_names: tuple[str, ...] = ()  # the same, per item ("" where the table has none)
    own: bool = False  # the portal itself asked, on the resident's own click or login


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Which of the resident's records a やりとり履歴 page shows: an office on either side,
    the days (in Japan, both included), and the page back from ``before`` (a page's
    ``older``)."""

    office: str = ""
    start: dt.date | None = None
    end: dt.date | None = None
    before: int | None = None


NEWEST = HistoryQuery()  # the newest page, nothing filtered


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One answer of the hub's: as many records as one message holds, newest first, and where
    the next page back starts (None: none is left)."""

    entries: list[AccessEntry]
    older: int | None = None


@dataclass(slots=True)
class NoticeEntry:
    """お知らせ: a notice an office sent to the resident."""

    notice_id: UUID
    at: dt.datetime
    office: str
    office_name: str
    title: str
    body: str
    read: bool = False


@dataclass(frozen=True, slots=True)
class ItemData:
    """One item an office answered: its legal-table name, and its values as the office sent
    them (keys are the office's document fields; ``portal.present`` labels them)."""

    item: str  # the item's code
    name: str  # the legal table's Japanese name (the code where the table has none)
    model: bool  # the table marks the item as a model, not the text of the law
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OfficeData:
    """わたしの情報 at one office: the items it answered, or why there is nothing to show."""

    office: str
    office_name: str
    items: tuple[ItemData, ...] = ()
    unavailable: str = ""  # "" when answered; else what went wrong, for the page
    no_rule: bool = False  # it holds the resident, but no rule lets the portal ask it


PENDING = "審査中"  # an accepted application under examination (then 認定 or 却下)
PROGRESS = frozenset({PENDING, "認定", "却下"})  # what an office may say of an application


@dataclass(frozen=True, slots=True)
class ApplicationStatus:
    application_id: UUID
    kind: ApplicationKind
    at: dt.datetime
    office: str
    # pending: its first send timed out, sent again until known (``portal.sending``);
    # unavailable: sent again, and the office never answered (it may hold it)
    status: Literal["accepted", "refused", "pending", "unavailable"]
    detail: str  # the office's receipt number or its reason
    office_name: str = ""  # the registry's name of ``office``
    # what the office tells of it after the receipt (its notices with ``ref``, the id of the
    # application it signed): 審査中 (with ``reason`` while it waits), 認定 or 却下
    ref: str = ""
    progress: str = ""
    reason: str = ""


class Backend(Protocol):
    """The portal's office on the network. ``person`` is always the portal's own token."""

    async def identify(self, certificate: CheckedCertificate) -> str:
        """The portal's token for the card holder (J-LIS resolves it through the hub)."""
        ...

    async def resident_name(self, person: str) -> str:
        """The resident's name as their municipality's register holds it ("" when none
        answers): the portal names whoever logged in."""
        ...

    async def history(self, person: str, want: HistoryQuery = NEWEST) -> HistoryPage:
        """Disclosed access records, newest first (the not-to-disclose ones are withheld), as
        ``want`` filters them: one page."""
        ...

    async def verify_record(self, person: str, record_id: UUID) -> bool | None:
        """Whether the record is in the hub's chain unchanged; None when it is not one of the
        person's records."""
        ...

    async def my_info(self, person: str) -> list[OfficeData]: ...

    async def notices(self, person: str) -> list[NoticeEntry]:
        """Newest first."""
        ...

    async def mark_read(self, person: str, notice_id: UUID) -> bool:
        """False when the notice is not this person's."""
        ...

    async def submit(
        self, person: str, kind: ApplicationKind, form: dict[str, str], signed: bytes
    ) -> ApplicationStatus:
        """Deliver a signed application (CMS, DER) to its office through the hub: accepted or
        refused; ``pending`` when its first send timed out (the office may hold it: sent again
        by the portal until its answer replaces the status, ``portal.sending``)."""
        ...

    async def applications(self, person: str) -> list[ApplicationStatus]: ...

    async def send_again(self, person: str, status_id: UUID) -> ApplicationStatus | None:
        """Send again an application of ``person``'s that was sent and never answered
        (``unavailable``): its status, 確認中 again; None if they have no such application."""
        ...

    def subscribe(self, person: str) -> asyncio.Queue[AccessEntry | NoticeEntry]:
        """Live feed for a logged-in resident: new access records and notices."""
        ...

    def unsubscribe(self, person: str, queue: asyncio.Queue[AccessEntry | NoticeEntry]) -> None: ...
