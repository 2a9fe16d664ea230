"""Where the synthetic population lives: municipalities, towns, postal codes, addresses.

- Municipal codes (全国地方公共団体コード): the 6-digit codes of FACTS §4.3 [V], each checked
  here by its check digit (``hub.numbers``: the formula of §4.3, validated on those codes).
- Addresses follow FACTS §4.4 [V]: 〒 → 都道府県 → 市区町村 (政令市 + 区) → 町字 (+ 丁目) →
  街区符号・住居番号 (「三丁目1番1号」) where 住居表示 is in force, 地番 (「123番地4」)
  elsewhere → 方書 (building and room). Town names are real; their postal codes, 丁目 counts
  and whether 住居表示 applies are recalled, not checked [R].
- Populations (thousands, rounded) weight where people live. By default 千代田区 and 新宿区,
  the two municipalities with offices on the demonstration network, hold half the population,
  so that their offices' data is sizeable; the other half follows the real populations [R].
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from agencies.population.exceptions import BadMunicipality
from agencies.population.names import Picker, between, pick
from hub.numbers import is_valid, municipal_check_digit

__all__ = [
    "MUNICIPALITIES",
    "Municipality",
    "Town",
    "address",
    "municipality_picker",
    "select",
    "street",
]

KANJI_DIGITS: Final = "〇一二三四五六七八九"
_OFFICES_HALF: Final = ("131016", "131041")  # municipalities with offices: half the people


@dataclass(frozen=True, slots=True)
class Town:
    name: str
    postal: str  # 〒 "100-0013"
    chome: int  # how many 丁目 (0: none)
    jukyo: bool  # 住居表示 (block and house numbers) rather than 地番


@dataclass(frozen=True, slots=True)
class Municipality:
    code: str
    name: str  # 千代田区, 横浜市
    pref_code: str  # 2 digits (JIS X 0401)
    pref: str  # 東京都
    thousands: int  # population, thousands (model weight)
    districts: tuple[tuple[str, tuple[Town, ...]], ...]  # (政令市の区 or "", towns)


def _towns(spec: str) -> tuple[Town, ...]:
    """ "name:〒:丁目:J|C …" (J 住居表示, C 地番)."""
    out = []
    for item in spec.split():
        name, postal, chome, mode = item.split(":")
        out.append(Town(name, postal, int(chome), mode == "J"))
    return tuple(out)


def _m(code: str, name: str, pref: str, k: int, *districts: tuple[str, str]) -> Municipality:
    if not is_valid("municipal_code", code):
        raise BadMunicipality(f"{code}: wrong check digit in the generator's own table")
    return Municipality(code, name, code[:2], pref, k, tuple((w, _towns(s)) for w, s in districts))


MUNICIPALITIES: Final = {m.code: m for m in (
    _m("131016", "千代田区", "東京都", 68, ("", (
        "丸の内:100-0005:3:J 大手町:100-0004:2:J 有楽町:100-0006:2:J 霞が関:100-0013:3:J "
        "永田町:100-0014:2:J 平河町:102-0093:2:J 麹町:102-0083:6:J 九段北:102-0073:4:J "
        "九段南:102-0074:4:J 富士見:102-0071:2:J 飯田橋:102-0072:4:J 神田神保町:101-0051:3:C "
        "神田駿河台:101-0062:4:C 外神田:101-0021:6:C 岩本町:101-0032:3:C 内神田:101-0047:3:C"))),
    _m("131041", "新宿区", "東京都", 350, ("", (
        "西新宿:160-0023:8:J 新宿:160-0022:7:J 歌舞伎町:160-0021:2:J 高田馬場:169-0075:4:J "
        "大久保:169-0072:3:J 百人町:169-0073:4:J 四谷:160-0004:4:J 早稲田鶴巻町:162-0041:0:C "
        "市谷本村町:162-0845:0:C 戸山:162-0052:3:J 下落合:161-0033:4:J 中落合:161-0032:4:J "
        "神楽坂:162-0825:6:J 北新宿:169-0074:4:J"))),
    _m("131130", "渋谷区", "東京都", 230, ("", (
        "渋谷:150-0002:4:J 道玄坂:150-0043:2:J 神宮前:150-0001:6:J 恵比寿:150-0013:4:J "
        "代々木:151-0053:5:J 千駄ヶ谷:151-0051:6:J 広尾:150-0012:5:J 笹塚:151-0073:3:J "
        "幡ヶ谷:151-0072:3:J 本町:151-0071:6:J 上原:151-0064:3:J"))),
    _m("132012", "八王子市", "東京都", 560, ("", (
        "明神町:192-0046:4:J 南大沢:192-0364:5:J めじろ台:193-0833:4:J 元本郷町:192-0051:4:J "
        "横山町:192-0081:0:C 北野町:192-0906:0:C 長房町:193-0824:0:C 高尾町:193-0844:0:C "
        "館町:193-0944:0:C"))),
    _m("141003", "横浜市", "神奈川県", 3770,
       ("中区", "山下町:231-0023:0:C 本町:231-0005:6:J 元町:231-0861:5:J"),
       ("西区", "高島:220-0011:2:J みなとみらい:220-0012:6:J"),
       ("港北区", "日吉本町:223-0062:6:J 新横浜:222-0033:3:J 大倉山:222-0037:7:J"),
       ("青葉区", "青葉台:227-0062:2:J 美しが丘:225-0002:5:J 藤が丘:227-0043:2:J")),
    _m("231002", "名古屋市", "愛知県", 2330,
       ("中区", "栄:460-0008:5:J 錦:460-0003:3:J 丸の内:460-0002:3:J 大須:460-0011:4:J"),
       ("中村区", "名駅:450-0002:5:J"),
       ("千種区", "今池:464-0850:5:J")),
    _m("271004", "大阪市", "大阪府", 2750,
       ("北区", "梅田:530-0001:3:J 天神橋:530-0041:8:J 中之島:530-0005:6:J"),
       ("中央区", "難波:542-0076:5:J 谷町:542-0012:9:J"),
       ("阿倍野区", "阿倍野筋:545-0052:5:J")),
    _m("401307", "福岡市", "福岡県", 1610,
       ("博多区", "博多駅前:812-0011:4:J 中洲:810-0801:5:J"),
       ("中央区", "天神:810-0001:5:J 大名:810-0041:2:J 薬院:810-0022:4:J"),
       ("早良区", "西新:814-0002:7:J")),
    _m("472018", "那覇市", "沖縄県", 320, ("", (
        "久茂地:900-0015:3:J おもろまち:900-0006:4:J 泉崎:900-0021:2:J "
        "首里金城町:903-0815:4:J 牧志:900-0013:3:J"))),
)}  # fmt: skip


def select(wanted: Iterable[str] | None = None) -> list[Municipality]:
    """The municipalities named by code (with its check digit) or name; all when None."""
    if wanted is None:
        return list(MUNICIPALITIES.values())
    by_name = {m.name: m for m in MUNICIPALITIES.values()}
    out: list[Municipality] = []
    for raw in wanted:
        text = raw.strip()
        found = MUNICIPALITIES.get(text) or by_name.get(text)
        if found is None:
            if len(text) == 6 and text.isascii() and text.isdigit():
                check = municipal_check_digit(text[:5])
                if check != int(text[5]):
                    raise BadMunicipality(f"{text}: the check digit should be {check}")
            known = ", ".join(f"{m.code} {m.name}" for m in MUNICIPALITIES.values())
            raise BadMunicipality(f"{text[:40]!r} is not a modelled municipality; known: {known}")
        if found not in out:
            out.append(found)
    if not out:
        raise BadMunicipality("name at least one municipality")
    return out


def municipality_picker(chosen: list[Municipality]) -> Picker[Municipality]:
    """Half the people in the municipalities with offices (when chosen), half by population."""
    ours = [m for m in chosen if m.code in _OFFICES_HALF]
    rest = [m for m in chosen if m.code not in _OFFICES_HALF]
    if not ours or not rest:
        return Picker((m, float(m.thousands if rest else 1)) for m in chosen)
    total = sum(m.thousands for m in rest)
    weighted = [(m, 0.5 / len(ours)) for m in ours] + [(m, 0.5 * m.thousands / total) for m in rest]
    return Picker(weighted)


_BUILDINGS: Final = ("ハイツ", "レジデンス", "コート", "マンション", "パレス", "ヒルズ")


def street(rng: random.Random, m: Municipality) -> tuple[str, str, str]:
    """(〒, address down to the house or lot number, town name) of a place in ``m``."""
    ward, towns = pick(rng, m.districts)
    town = pick(rng, towns)
    place = f"{m.pref}{m.name}{ward}{town.name}"
    if town.chome:
        place += f"{KANJI_DIGITS[between(rng, 1, town.chome)]}丁目"
    if town.jukyo:
        place += f"{between(rng, 1, 30)}番{between(rng, 1, 25)}号"
    else:
        place += f"{between(rng, 1, 999)}番地{between(rng, 1, 30)}"
    return town.postal, place, town.name


def address(rng: random.Random, m: Municipality) -> tuple[str, str]:
    """(〒, address) of a home in ``m``: 住居表示 or 地番, and a 方書 for flats."""
    postal, place, town = street(rng, m)
    if rng.random() < 0.55:  # a flat: 方書
        building = f"{town}{pick(rng, _BUILDINGS)}"
        place += f" {building}{between(rng, 1, 12)}{between(rng, 1, 10):02d}号室"
    return postal, place
