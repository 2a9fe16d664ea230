"""A corporation as the public registry (法人番号公表サイト) shows it: public facts only.

Corporate numbers, names and addresses are public (番号法 第39条, 第42条): unlike the individual
number, anyone may collect and use them. Nothing here is about a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["ABBREVIATIONS", "KINDS", "Corporation"]

# 法人の種類 as it appears in names, longest first (so 一般社団法人 wins over 社団法人)
KINDS: Final = (
    "特定非営利活動法人",
    "一般社団法人",
    "一般財団法人",
    "公益社団法人",
    "公益財団法人",
    "医療法人社団",
    "社会福祉法人",
    "株式会社",
    "有限会社",
    "合同会社",
    "合名会社",
    "合資会社",
    "地方公共団体",
    "国の機関",
)
# abbreviations people type (after NFKC: ㈱ → (株)), and what they stand for
ABBREVIATIONS: Final = {
    "(株)": "株式会社",
    "(有)": "有限会社",
    "(同)": "合同会社",
    "(名)": "合名会社",
    "(資)": "合資会社",
    "(一社)": "一般社団法人",
    "(一財)": "一般財団法人",
    "(公社)": "公益社団法人",
    "(公財)": "公益財団法人",
    "(医)": "医療法人社団",
    "(福)": "社会福祉法人",
    "(特非)": "特定非営利活動法人",
}


@dataclass(frozen=True, slots=True)
class Corporation:
    number: str  # 法人番号, 13 digits, the check digit first
    name: str  # 商号又は名称, with the kind (株式会社…) where it belongs
    kana: str  # フリガナ of the name without the kind (katakana), as the public site lists it
    kind: str  # one of KINDS
    postal_code: str
    address: str  # 本店又は主たる事務所の所在地
    assigned: str  # 法人番号指定年月日 (ISO)
    fact: bool = False  # a real, published entry rather than synthetic data
