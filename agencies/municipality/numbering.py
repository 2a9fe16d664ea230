"""個人番号の指定 at the municipality, and the notice that tells the resident (pure).

The 市町村長 designates as a resident's number the one J-LIS generated at its request — when a
住民票コード is first written into a 住民票 (出生, a first entry from abroad: 番号法 第7条第1項,
第8条), or in place of a leaked number, on the resident's 請求 or 職権 (第7条第2項) — writes it
into the 住民票 (住基法 第7条第8号の2) and tells the person by a 個人番号通知書 (REGISTER-FACTS
§2.1, §2.4: 氏名, 生年月日 and the number, to the 住民票 address; not proof of the number, not an
identity document, never reissued). :func:`notice` is that notice's content; the composition root
prints it (``issuance.notice``) and delivers it. A notice's ``repr`` never shows the number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

__all__ = ["BIRTH", "BY", "CHANGE", "ENTRY", "Notifier", "NumberNotice", "notice"]

BIRTH: Final = "出生"  # 番号法 第7条第1項: a 住民票コード first written into a 住民票
ENTRY: Final = "国外からの転入"  # likewise: a first entry from abroad, never numbered before
CHANGE: Final = "個人番号の変更"  # 第7条第2項
# who asked for a change (第7条第2項): the resident (請求), or the 市町村長 of its own motion (職権)
BY: Final = {"request": "本人の請求", "ex_officio": "職権"}


@dataclass(frozen=True, slots=True)
class NumberNotice:
    """A 個人番号通知書: to whom, the number designated, when and why."""

    local_id: str
    name: str
    birth_date: str
    address: str
    number: str = field(repr=False)
    designated: str  # YYYY-MM-DD
    reason: str  # BIRTH, ENTRY or CHANGE
    by: str  # BY's value for a change, "" for a birth
    event_id: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


Notifier = Callable[[NumberNotice], Awaitable[None]]
"""Delivers a notice (the composition root: prints the PDF and keeps it for the post)."""


def notice(
    local_id: str,
    record: Mapping[str, Any],
    on: dt.date,
    event_id: str,
    *,
    reason: str,
    by: str = "",
) -> NumberNotice:
    """The notice of the number ``record`` now bears (designated ``on``, for ``reason``)."""
    return NumberNotice(
        local_id=local_id,
        name=str(record["name"]),
        birth_date=str(record["birth_date"]),
        address=str(record["address"]),
        number=str(record["number"]),
        designated=on.isoformat(),
        reason=reason,
        by=BY.get(by, ""),
        event_id=event_id,
    )
