"""How entries look to the resident: the same fields for the page's rows and the live feed.

Every code is shown in Japanese words from the data that defines it: affairs and items by the
legal table's names (filled in by the portal's office), offices by the registry's names, the
hub's own affairs and items (login, disclosure, enrollment, change notices) and the outcomes
by the tables below, and the fields of わたしの情報 by ``FIELDS`` (labels, units, codes such as
the register's sex). A code no table names is shown as 「不明な…」 with the code, never bare.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Literal

from portal.model import (
    APPLICATIONS,
    PENDING,
    AccessEntry,
    ApplicationStatus,
    ItemData,
    NoticeEntry,
)
from portal.state import figure, jst

__all__ = [
    "AFFAIRS",
    "FIELDS",
    "ITEMS",
    "OUTCOMES",
    "SEX",
    "STATUSES",
    "access_row",
    "affair_label",
    "figure",
    "item_fields",
    "item_label",
    "notice_row",
    "status_row",
]

OUTCOMES = {
    "ok": "提供 (provided)",
    "refused": "不許可 (refused)",
    "not_found": "該当なし (not found)",
    "error": "エラー (error)",
    "timed_out": "時間切れ (timed out)",
}
# the hub's own affairs (the portal rules, enrollment, change notices: hub/routing), in the
# resident's words; the 別表 affairs are named by the legal table
AFFAIRS = {
    "portal_login": "ログイン・本人確認 (who holds this card)",
    "disclosure": "やりとり履歴の開示 (your records)",
    "self_information": "わたしの情報 (your information)",
    "application": "電子申請 (application)",
    "enrollment": "符号取得 (an office enrolled you by your number)",
    "change_notice": "異動の通知 (your municipality told the offices of a change)",
}
# the items of the hub's own records: the number presented, the card holder asked for, the
# records disclosed, the change reported (the legal table's items are named by it)
ITEMS: dict[str, str] = {
    "individual_number": "個人番号 (your number)",
    "card_holder": "カードの持ち主 (card holder)",
    "access_records": "やりとり履歴 (access records)",
    "record_check": "記録の検証 (chain check)",
    "holders": "情報を保有する機関 (offices holding you)",
    "moved_out": "転出 (move out)",
    "moved_in": "転入 (move in)",
    "birth": "出生 (birth)",
    "death": "死亡 (death)",
    "household": "世帯の変更 (household)",
    "number_changed": "個人番号の変更 (number changed)",
    "name_changed": "氏名の変更 (name changed)",
    "address_changed": "転居 (new address)",
}
# the application affair's item is the kind of application
ITEMS.update({str(kind): title for kind, title in APPLICATIONS.items()})
# an ok outcome in the resident's words, where "provided" would mislead
_OK = {
    "application": "受理 (accepted)",
    "enrollment": "登録 (enrolled)",
    "change_notice": "通知 (delivered)",
}
PROGRESS_LABELS = {  # an accepted application, as its office tells of it
    "": "受付済み (accepted)",
    PENDING: "審査中 (under examination)",
    "認定": "認定 (granted)",
    "却下": "却下 (rejected)",
}
STATUSES = {
    "accepted": "受付済み (accepted)",
    "refused": "不受理 (refused)",
    "pending": "確認中 (waiting for the office to answer)",
    "unavailable": "応答なし (the office never answered)",
}
# 性別 as the resident register codes it (JIS X 0303; agencies/population: 1 male, 2 female)
SEX = {"0": "不明", "1": "男性", "2": "女性", "9": "適用不能"}

Format = Literal["text", "yen", "date", "sex", "yes_no", "people", "days", "year", "members"]
# every field an office answers for わたしの情報 (the document formats of agencies/), its
# Japanese label and how its value reads
FIELDS: dict[str, tuple[str, Format]] = {
    # 住民票関係情報 (agencies/municipality/resident_register.py)
    "name": ("氏名", "text"),
    "birth_date": ("生年月日", "date"),
    "sex": ("性別", "sex"),
    "address": ("住所", "text"),
    "postal_code": ("郵便番号", "text"),
    "relationship": ("世帯主との続柄", "text"),
    "resident_since": ("住民となった日", "date"),
    "household": ("世帯員", "members"),
    # 地方税関係情報 (agencies/municipality/local_tax.py)
    "fiscal_year": ("年度", "year"),
    "total_income": ("総所得金額等", "yen"),
    "municipal_income_levy": ("市町村民税 所得割額", "yen"),
    # 医療保険給付関係情報
    "insurer": ("保険者", "text"),
    "symbol": ("被保険者証の記号", "text"),
    "number": ("被保険者証の番号", "text"),
    "branch": ("枝番", "text"),
    "insured": ("本人・家族の別", "text"),
    "qualified": ("資格取得日", "date"),
    "copayment": ("一部負担金の割合", "text"),
    # 介護保険給付等関係情報
    "certified": ("要介護・要支援認定", "yes_no"),
    "care_level": ("要介護状態区分", "text"),
    # 障害者関係情報
    "handbook": ("手帳の種類", "text"),
    "grade": ("等級", "text"),
    "category": ("障害の種別", "text"),
    "issued": ("交付日", "date"),
    # 年金給付関係情報
    "basic_pension_number": ("基礎年金番号", "text"),
    "benefits": ("受給している年金", "text"),
    "annual_amount": ("年金額（年額）", "yen"),
    "since": ("受給開始日", "date"),
    # 雇用保険の失業等給付に関する情報
    "daily_yen": ("基本手当日額", "yen"),
    "days": ("所定給付日数", "days"),
    "started": ("開始日", "date"),
    # 生活保護関係情報
    "case_number": ("ケース番号", "text"),
    "household_members": ("世帯人員", "people"),
    "assistance": ("扶助の種類", "text"),
    # 児童扶養手当関係情報
    "children": ("対象児童数", "people"),
    "monthly_yen": ("手当月額", "yen"),
    "status": ("支給区分", "text"),
    # an item answered as one value, not a record
    "value": ("内容", "text"),
}
_MEMBER = ("name", "relationship", "birth_date", "sex")  # a household member, in this order
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DEPTH, _MANY, _LONG = 3, 100, 2000  # what a line shows of an office's answer, at most


def affair_label(code: str, name: str = "") -> str:
    """The legal table's name (``name``), else the hub's own affair, else 不明 with the code."""
    return name or AFFAIRS.get(code) or f"不明な事務 ({code})"


def item_label(code: str, name: str = "") -> str:
    return name or ITEMS.get(code) or f"不明な項目 ({code})"


def access_row(e: AccessEntry) -> dict[str, str]:
    names = e.item_names if len(e.item_names) == len(e.items) else ("",) * len(e.items)
    return {
        "record_id": str(e.record_id),
        "at": jst(e.at),
        "requester": e.requester,
        "requester_name": e.requester_name or f"不明な機関 ({e.requester})",
        "provider": e.provider,
        "provider_name": e.provider_name or ("—" if not e.provider else f"({e.provider})"),
        "affair": affair_label(e.affair, e.affair_name),
        "items": "、".join(item_label(i, n) for i, n in zip(e.items, names, strict=True)),
        "outcome": e.outcome,
        "outcome_label": (
            _OK.get(e.affair, OUTCOMES["ok"])
            if e.outcome == "ok"
            else OUTCOMES.get(e.outcome, e.outcome)
        ),
        "own": "yes" if e.own else "",
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
        "kind_label": APPLICATIONS.get(s.kind, s.kind),
        "at": jst(s.at),
        "office": s.office,
        "office_name": s.office_name or s.office or "—",
        "status": s.status,
        "status_label": _progress_label(s),
        "detail": f"{s.detail} — {s.reason}" if s.progress == PENDING and s.reason else s.detail,
    }


def _progress_label(s: ApplicationStatus) -> str:
    """受付 once accepted, then what the office told of it: 審査中, 認定, 却下."""
    if s.status != "accepted":
        return STATUSES.get(s.status, s.status)
    return PROGRESS_LABELS.get(s.progress, PROGRESS_LABELS[""])


# ---- わたしの情報 ---------------------------------------------------------------------------


def _date(text: str) -> str:
    try:
        d = dt.date.fromisoformat(text)
    except ValueError:
        return text
    return f"{d.year}年{d.month}月{d.day}日"


def _plain(value: object, depth: int = 0) -> str:
    """A value with no format of its own: numbers with separators, lists joined with 、 (an
    office's answer nested deeper than any document it holds reads as …)."""
    if depth > _DEPTH:
        text = "…"
    elif value is None or value in ("", [], ()):
        text = "なし"
    elif isinstance(value, bool):
        text = "はい" if value else "いいえ"
    elif isinstance(value, int | float):
        text = figure(value)
    elif isinstance(value, str):
        text = _date(value) if _ISO_DATE.match(value) else value
    elif isinstance(value, list | tuple):
        text = "、".join(_plain(v, depth + 1) for v in value[:_MANY])
    elif isinstance(value, Mapping):
        parts = list(value.items())[:_MANY]
        text = "、".join(f"{_label(k)}: {_plain(v, depth + 1)}" for k, v in parts)
    else:
        text = str(value)
    return text[:_LONG]


def _label(key: object) -> str:
    found = FIELDS.get(str(key))
    return found[0] if found else f"その他の項目 ({str(key)[:64]})"


def _member(m: object) -> str:
    if not isinstance(m, Mapping):
        return _plain(m)
    name = _plain(m.get("name", ""))
    rest = []
    for key in (k for k in _MEMBER[1:] if k in m):
        text = _value(key, m[key])
        rest.append(f"{text}生" if key == "birth_date" else text)
    return f"{name}（{'、'.join(rest)}）" if rest else name


def _value(key: str, value: object) -> str:
    kind = FIELDS[key][1] if key in FIELDS else "text"
    if isinstance(value, int | float) and not isinstance(value, bool):
        unit = {"yen": "円", "people": "人", "days": "日", "year": "年度"}.get(kind, "")
        return figure(value) + unit if kind != "year" else f"{value}年度"
    if kind == "sex":
        code = str(value)[:8] if isinstance(value, str | int) else "?"
        return SEX.get(code, f"不明 ({code})")
    if kind == "yes_no" and isinstance(value, bool):
        return "あり" if value else "なし"
    return _plain(value)


def item_fields(item: ItemData) -> list[tuple[str, list[str]]]:
    """An item's fields as (Japanese label, lines): one line each, a household one per member."""
    shown: list[tuple[str, list[str]]] = []
    for key, value in list(item.values.items())[:_MANY]:
        if key in FIELDS and FIELDS[key][1] == "members" and isinstance(value, list | tuple):
            shown.append((_label(key), [_member(m) for m in value[:_MANY]] or ["なし"]))
        else:
            shown.append((_label(key), [_value(str(key), value)]))
    return shown
