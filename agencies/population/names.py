"""Names for the synthetic population: surnames by their share, given names by birth period.

Sources (marks as in FACTS.md):

- Surnames, ranks 1–10: shares of 明治安田生命 2018 [V]; ranks 11–30: 名字由来net order and
  approximate shares [R]; ranks 31–100: common surnames in an approximate order [R], their
  shares scaled so that the top 100 hold 33.38 % [V] with the 100th (大西) near 0.15 % [V].
  The remaining 66.62 % (Japan has some 100,000 surnames) is a MODEL: compounds of common
  surname kanji (石田, 松原, 北村 …), each at an equal small share.
- Given names: the most given names per birth period, FACTS §4.2 — men's 1912–1986 and the
  Heisei, 2010 and 2017–2018 lists [V]; women's names before 1989 and the 2020s lists [R]. The
  first name of a period is the most frequent; the weights are a model.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable, Sequence
from typing import Final, Generic, TypeVar

__all__ = ["SURNAMES", "TOP10_SHARE", "Picker", "between", "given_name", "pick", "surname_picker"]

T = TypeVar("T")

TOP10_SHARE: Final = 0.1022  # FACTS §4.1 [V]
_TOP30: Final = (  # shares in hundredths of a per cent
    ("佐藤", 153), ("鈴木", 144), ("高橋", 114), ("田中", 106), ("渡辺", 94), ("伊藤", 90),
    ("中村", 85), ("小林", 83), ("山本", 82), ("加藤", 71), ("吉田", 66), ("山田", 65),
    ("佐々木", 55), ("山口", 52), ("松本", 52), ("井上", 51), ("木村", 47), ("林", 44),
    ("斎藤", 44), ("清水", 43), ("山崎", 40), ("森", 37), ("池田", 36), ("橋本", 36),
    ("阿部", 35), ("石川", 34), ("山下", 33), ("中島", 33), ("石井", 32), ("小川", 32),
)  # fmt: skip
_RANK31_100_TEXT: Final = (
    "前田 岡田 長谷川 藤田 後藤 近藤 村上 遠藤 青木 坂本 斉藤 福田 太田 西村 藤井 金子 岡本 "
    "藤原 中野 三浦 原田 中川 松田 竹内 小野 田村 中山 和田 石田 森田 上田 原 内田 柴田 酒井 "
    "宮崎 横山 高木 安藤 宮本 大野 小島 谷口 今井 工藤 高田 増田 丸山 杉山 村田 大塚 新井 小山 "
    "平野 藤本 河野 上野 野口 武田 松井 千葉 岩崎 菅原 木下 久保 佐野 野村 松尾 市川 大西"
)
_RANK31_100: Final = tuple(_RANK31_100_TEXT.split())
_TOP100_SHARE: Final = 0.3338
_FIRST: Final = "石松竹杉北南東西岩大小中高長吉福平今宮浅川森野村岡古新金白桜"
_SECOND: Final = "田川山本野村井木原島崎沢岡谷橋尾坂"


def _surnames() -> tuple[tuple[str, float], ...]:
    top30 = [(name, hundredths / 10_000) for name, hundredths in _TOP30]
    # ranks 31–100 fall linearly from 0.30 % to 0.15 %, then are scaled to the top-100 total
    raw = [0.0030 - 0.0015 * i / (len(_RANK31_100) - 1) for i in range(len(_RANK31_100))]
    scale = (_TOP100_SHARE - sum(s for _, s in top30)) / sum(raw)
    named = top30 + [(n, s * scale) for n, s in zip(_RANK31_100, raw, strict=True)]
    known = {n for n, _ in named}
    tail = [a + b for a in _FIRST for b in _SECOND if a != b and a + b not in known]
    share = (1 - _TOP100_SHARE) / len(tail)
    return tuple(named + [(n, share) for n in tail])


SURNAMES: Final = _surnames()


def between(rng: random.Random, low: int, high: int) -> int:
    """A whole number in ``[low, high]`` (one draw: cheaper than ``randint``)."""
    return low + int(rng.random() * (high - low + 1))


def pick(rng: random.Random, items: Sequence[T]) -> T:
    """One of ``items``, uniformly (cheaper than ``choice``)."""
    return items[int(rng.random() * len(items))]


class Picker(Generic[T]):
    """Draws from weighted items with one uniform draw and a bisection (no per-call setup)."""

    __slots__ = ("_cum", "_items", "_last", "_total")

    def __init__(self, weighted: Iterable[tuple[T, float]]) -> None:
        pairs = list(weighted)
        if not pairs or any(w < 0 for _, w in pairs):
            raise ValueError("a picker needs items with non-negative weights")
        self._items: Sequence[T] = tuple(item for item, _ in pairs)
        self._cum = list(itertools.accumulate(w for _, w in pairs))
        self._total = self._cum[-1]
        self._last = len(self._items) - 1

    def __call__(self, rng: random.Random) -> T:
        i = bisect.bisect_right(self._cum, rng.random() * self._total)
        return self._items[min(i, self._last)]


def surname_picker() -> Picker[str]:
    return Picker(SURNAMES)


def _ranked(names: str) -> tuple[tuple[str, float], ...]:
    """The first name of a period is the most frequent: weights 1, 1/1.3, 1/1.6 …"""
    return tuple((n, 1 / (1 + 0.3 * i)) for i, n in enumerate(names.split()))


_MALE: Final = {
    1900: "正一 清 正雄 茂 実 三郎",
    1925: "昭二 昭三 清 茂 実 勇",
    1933: "勝 勇 進 清 茂 博 実",
    1940: "勝 勇 進 勲 武 功 博",
    1946: "稔 和夫 清 弘 博 隆",
    1950: "茂 博 隆 修 明 誠",
    1957: "誠 浩 修 隆 健一 剛",
    1979: "大輔 誠 拓也 健太 翔太 達也",
    1989: "翔太 拓也 健太 翔 大樹 翼",
    2000: "翔 大輝 蓮 颯太 大翔 拓海",
    2010: "大翔 悠真 翔 颯太 歩夢 蓮",
    2015: "悠真 陽翔 悠人 湊 蓮 大翔",
    2020: "蓮 碧 陽翔 湊 蒼",
}
_FEMALE: Final = {
    1900: "和子 幸子 節子 久子 文子",
    1950: "恵子 洋子 幸子 和子 京子",
    1960: "由美子 久美子 明美 直美 恵子",
    1970: "陽子 智子 裕子 真由美 久美子",
    1980: "愛 恵 麻衣 裕子 彩",
    1989: "美咲 愛 七海 未来 美月 葵",
    2000: "美咲 葵 さくら 結衣 七海 陽菜",
    2010: "さくら 陽菜 結愛 莉子 美桜",
    2015: "結菜 咲良 陽葵 莉子 芽依 結月 結愛",
    2020: "陽葵 紬 凛 結菜 芽依",
}
_PERIODS: Final = {
    sex: (sorted(table), [Picker(_ranked(table[y])) for y in sorted(table)])
    for sex, table in (("1", _MALE), ("2", _FEMALE))
}


def given_name(rng: random.Random, sex: str, birth_year: int) -> str:
    """A given name in fashion in the person's birth year (``sex``: "1" male, "2" female)."""
    starts, pickers = _PERIODS[sex]
    return pickers[max(0, bisect.bisect_right(starts, birth_year) - 1)](rng)
