"""How entries look to the resident: the same fields for the page's rows and the live feed."""

from __future__ import annotations

from portal.model import AccessEntry, ApplicationStatus, NoticeEntry
from portal.state import jst

__all__ = ["AFFAIRS", "ITEMS", "OUTCOMES", "STATUSES", "access_row", "notice_row", "status_row"]

OUTCOMES = {
    "ok": "提供 (provided)",
    "refused": "不許可 (refused)",
    "not_found": "該当なし (not found)",
    "error": "エラー (error)",
    "timed_out": "時間切れ (timed out)",
}
# what the portal's own requests were, in the resident's words (the rest are 別表 affairs,
# shown by their code)
AFFAIRS = {
    "portal_login": "ログイン・本人確認 (who holds this card)",
    "disclosure": "やりとり履歴の開示 (your records)",
    "self_information": "わたしの情報 (your information)",
    "application": "電子申請 (application)",
    "enrollment": "符号取得 (an office enrolled you by your number)",
    "change_notice": "異動の通知 (your municipality told the offices of a change)",
}
# the items of the hub's own records: the number presented, the change reported
ITEMS = {
    "individual_number": "個人番号 (your number)",
    "moved_out": "転出 (move out)",
    "moved_in": "転入 (move in)",
    "birth": "出生 (birth)",
    "death": "死亡 (death)",
    "household": "世帯の変更 (household)",
    "number_changed": "個人番号の変更 (number changed)",
}
# an ok outcome in the resident's words, where "provided" would mislead
_OK = {
    "application": "受理 (accepted)",
    "enrollment": "登録 (enrolled)",
    "change_notice": "通知 (delivered)",
}
STATUSES = {
    "accepted": "受付済み (accepted)",
    "refused": "不受理 (refused)",
    "unavailable": "未送達 (office unavailable)",
}


def access_row(e: AccessEntry) -> dict[str, str]:
    return {
        "record_id": str(e.record_id),
        "at": jst(e.at),
        "requester": e.requester,
        "requester_name": e.requester_name,
        "provider": e.provider,
        "provider_name": e.provider_name or "—",
        "affair": AFFAIRS.get(e.affair, e.affair),
        "items": "、".join(ITEMS.get(i, i) for i in e.items),
        "outcome": e.outcome,
        "outcome_label": (
            _OK.get(e.affair, OUTCOMES["ok"])
            if e.outcome == "ok"
            else OUTCOMES.get(e.outcome, e.outcome)
        ),
    }


def notice_row(n: NoticeEntry) -> dict[str, str]:
    return {
        "notice_id": str(n.notice_id),
        "at": jst(n.at),
        "office": n.office,
        "office_name": n.office_name,
        "title": n.title,
        "body": n.body,
    }


def status_row(s: ApplicationStatus) -> dict[str, str]:
    return {
        "application_id": str(s.application_id),
        "kind": s.kind,
        "at": jst(s.at),
        "office": s.office,
        "status": s.status,
        "status_label": STATUSES.get(s.status, s.status),
        "detail": s.detail,
    }
