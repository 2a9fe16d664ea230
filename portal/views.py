"""The resident's pages: home, やりとり履歴 (with the chain check), わたしの情報, お知らせ.

When the backend cannot answer, a page still renders and says what is unavailable: 200 when
the page is about several offices (わたしの情報), 503 when its one main content is missing.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from hub.log import get_logger
from portal.exceptions import Unavailable
from portal.forms import parse_date
from portal.model import AccessEntry, HistoryQuery
from portal.present import access_row, item_fields, notice_row
from portal.state import portal_of, render, see_other, session_of, uuid_or_404

__all__ = ["history", "home", "mark_read", "my_info", "notices", "verify_record"]

log = get_logger("portal.views")
_OFFICE = re.compile(r"^(?=.{1,40}$)[a-z0-9]+(-[a-z0-9]+)*$")  # an office code (``hub.wire``)
_SEQ = re.compile(r"^[1-9][0-9]{0,17}$")  # a record's place in the chain: a page's ``older``


async def home(request: web.Request) -> web.StreamResponse:
    portal, session = portal_of(request), session_of(request)
    unavailable = ""
    unread: int | None = None
    try:
        unread = sum(not n.read for n in await portal.backend.notices(session.person))
    except Unavailable as exc:
        unavailable = str(exc)
    return render(request, "home.html", unread=unread, unavailable=unavailable)


class _Filters:
    def __init__(self, query: web.Request) -> None:
        q = query.query
        self.office = q.get("office", "").strip()
        self.start_text = q.get("from", "").strip()
        self.end_text = q.get("to", "").strip()
        before = q.get("before", "").strip()
        self.error = ""
        self.start: dt.date | None = None
        self.end: dt.date | None = None
        self.before = int(before) if _SEQ.match(before) else None
        if self.office and not _OFFICE.match(self.office):
            self.error = "機関を一覧から選んでください (office: choose one from the list)"
        if before and self.before is None:
            self.error = "ページの指定が正しくありません (before: not a page of this list)"
        try:
            self.start = parse_date(self.start_text) if self.start_text else None
            self.end = parse_date(self.end_text) if self.end_text else None
        except ValueError:
            self.error = "日付は YYYY-MM-DD で入力してください (from/to: a date as YYYY-MM-DD)"
        if self.start and self.end and self.start > self.end:
            self.error = "開始日が終了日より後です (from is after to)"

    @property
    def active(self) -> bool:
        return bool(self.office or self.start or self.end or self.before)

    @property
    def asked(self) -> HistoryQuery:
        return HistoryQuery(self.office, self.start, self.end, self.before)

    def page(self, before: int | None = None) -> str:
        """The link to the page back from ``before`` (None: the newest), with these filters."""
        kept = {"office": self.office, "from": self.start_text, "to": self.end_text}
        query = {k: v for k, v in kept.items() if v} | ({"before": before} if before else {})
        return "/history" + ("?" + urlencode(query) if query else "")


async def _history_page(
    request: web.Request, verified: dict[str, bool] | None = None
) -> web.Response:
    portal, session = portal_of(request), session_of(request)
    filters = _Filters(request)
    context: dict[str, Any] = {
        "filters": filters,
        "verified": verified or {},
        "rows": [],
        "own_rows": [],
        "offices": {},
        "older": "",
        "unavailable": "",
    }
    if filters.error:
        return render(request, "history.html", status=400, **context)
    try:
        shown = await portal.backend.history(session.person, filters.asked)
    except Unavailable as exc:
        context["unavailable"] = str(exc)
        return render(request, "history.html", status=503, **context)
    kept = [access_row(e) for e in shown.entries]
    # offices' accesses first; the portal's own look-ups (the resident's logins and clicks)
    # apart, below: they are the resident's doing, not an office looking
    context["rows"] = [r for r in kept if not r["own"]]
    context["own_rows"] = [r for r in kept if r["own"]]
    context["offices"] = _offices(shown.entries, filters.office)
    context["older"] = "" if shown.older is None else filters.page(shown.older)
    return render(request, "history.html", **context)


def _offices(entries: list[AccessEntry], chosen: str) -> dict[str, str]:
    """The offices in the records shown and the one chosen, code → name, by name: the
    filter's choices."""
    named: dict[str, str] = {}
    for e in entries:
        named.setdefault(e.requester, e.requester_name or e.requester)
        if e.provider:
            named.setdefault(e.provider, e.provider_name or e.provider)
    if chosen:
        named.setdefault(chosen, chosen)
    return dict(sorted(named.items(), key=lambda kv: kv[1]))


async def history(request: web.Request) -> web.StreamResponse:
    return await _history_page(request)


async def verify_record(request: web.Request) -> web.StreamResponse:
    """The chain check of one of the resident's own records; anyone else's id is a 404."""
    portal, session = portal_of(request), session_of(request)
    record_id = uuid_or_404(request.match_info["record_id"])
    ok = await portal.backend.verify_record(session.person, record_id)
    if ok is None:  # not one of theirs (the hub looks among the person's records only)
        raise web.HTTPNotFound
    log.info("record verified", ok=ok)
    return await _history_page(request, {str(record_id): ok})


async def my_info(request: web.Request) -> web.StreamResponse:
    portal, session = portal_of(request), session_of(request)
    try:
        offices = await portal.backend.my_info(session.person)
    except Unavailable as exc:
        return render(request, "me.html", offices=[], unavailable=str(exc))
    return render(request, "me.html", offices=offices, fields=item_fields, unavailable="")


async def notices(request: web.Request) -> web.StreamResponse:
    portal, session = portal_of(request), session_of(request)
    try:
        entries = await portal.backend.notices(session.person)
    except Unavailable as exc:
        return render(
            request, "notices.html", status=503, rows=[], unread=None, unavailable=str(exc)
        )
    rows = [(notice_row(n), n.read) for n in entries]
    unread = sum(not n.read for n in entries)
    return render(request, "notices.html", rows=rows, unread=unread, unavailable="")


async def mark_read(request: web.Request) -> web.StreamResponse:
    portal, session = portal_of(request), session_of(request)
    notice_id = uuid_or_404(request.match_info["notice_id"])
    if not await portal.backend.mark_read(session.person, notice_id):
        raise web.HTTPNotFound
    return see_other("/notices")
