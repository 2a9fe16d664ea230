"""A synthetic registry of corporations, deterministic for a seed, plus a few public facts.

Numbers are valid corporate numbers (the check digit first, `agencies.jlis.numbers`). The
12-digit base follows the published structure [S]: for a registered company, its 会社法人等番号
(4-digit registry office, 2-digit kind, 6-digit serial — the office and kind digits here are a
MODEL); for a national body ``0000`` + 8 digits (国税庁 7000012050002 [V]); for a local
government ``000020`` + its 全国地方公共団体コード (東京都 8000020130001 fits [S]). Numbers were
first designated on 2015-10-05 (平成27年10月5日); later ones on the day of registration.
Names are synthetic but shaped like real ones (株式会社 + surname / place + 商事 …).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Final

from agencies.corporations.model import Corporation
from agencies.population.names import Picker, between, pick
from agencies.population.places import MUNICIPALITIES, Municipality, street
from hub.numbers import corporate_number

__all__ = ["DEFAULT_COUNT", "FACTS", "generate"]

DEFAULT_COUNT: Final = 3000
FIRST_DESIGNATION: Final = dt.date(2015, 10, 5)


def _same(text: str) -> tuple[tuple[str, str], ...]:
    """Katakana words read as written."""
    return tuple((w, w) for w in text.split())


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """ "漢字:カナ …" → ((漢字, カナ), …)"""
    return tuple(tuple(item.split(":")) for item in text.split())  # type: ignore[misc]


_SURNAMES: Final = _pairs(
    "佐藤:サトウ 鈴木:スズキ 高橋:タカハシ 田中:タナカ 渡辺:ワタナベ 伊藤:イトウ 中村:ナカムラ "
    "小林:コバヤシ 山本:ヤマモト 加藤:カトウ 吉田:ヨシダ 山田:ヤマダ 佐々木:ササキ 山口:ヤマグチ "
    "松本:マツモト 井上:イノウエ 木村:キムラ 林:ハヤシ 斎藤:サイトウ 清水:シミズ 山崎:ヤマザキ "
    "森:モリ 池田:イケダ 橋本:ハシモト 阿部:アベ 石川:イシカワ 山下:ヤマシタ 中島:ナカジマ "
    "石井:イシイ 小川:オガワ 前田:マエダ 岡田:オカダ 長谷川:ハセガワ 藤田:フジタ 後藤:ゴトウ "
    "近藤:コンドウ 村上:ムラカミ 遠藤:エンドウ 青木:アオキ 坂本:サカモト"
)
_PLACES: Final = _pairs(
    "東京:トウキョウ 大阪:オオサカ 横浜:ヨコハマ 名古屋:ナゴヤ 福岡:フクオカ 那覇:ナハ "
    "八王子:ハチオウジ 新宿:シンジュク 渋谷:シブヤ 千代田:チヨダ 神田:カンダ 丸の内:マルノウチ "
    "日本橋:ニホンバシ 博多:ハカタ 梅田:ウメダ 湘南:ショウナン 武蔵野:ムサシノ 多摩:タマ "
    "関東:カントウ 関西:カンサイ 九州:キュウシュウ 琉球:リュウキュウ"
)
_WORDS: Final = _pairs(
    "日本:ニホン 東洋:トウヨウ 中央:チュウオウ 三和:サンワ 大和:ヤマト 富士:フジ 旭:アサヒ "
    "太平洋:タイヘイヨウ 第一:ダイイチ 協和:キョウワ 共栄:キョウエイ 新生:シンセイ 光:ヒカリ "
    "昭和:ショウワ 明治:メイジ 朝日:アサヒ 双葉:フタバ 若葉:ワカバ 青葉:アオバ 桜:サクラ 緑:ミドリ"
)
_KATAKANA: Final = _same(
    "サクラ ミライ アオバ グリーン ブルー サン スター ネクスト フューチャー ハーモニー "
    "クリエイト ユニオン アクア テクノ ライフ リンク"
)
_TRADES: Final = _pairs(
    "商事:ショウジ 製作所:セイサクショ 建設:ケンセツ 工業:コウギョウ 産業:サンギョウ "
    "物産:ブッサン 電機:デンキ 運輸:ウンユ 不動産:フドウサン 食品:ショクヒン 印刷:インサツ "
    "興業:コウギョウ 設計:セッケイ 薬品:ヤクヒン 電設:デンセツ 観光:カンコウ 技研:ギケン "
    "システム:システム ホールディングス:ホールディングス 総研:ソウケン 水産:スイサン "
    "精機:セイキ 化学:カガク 交通:コウツウ 開発:カイハツ 通商:ツウショウ 製菓:セイカ"
)
_SMALL_TRADES: Final = _pairs(
    "商店:ショウテン 工務店:コウムテン 電気:デンキ 自動車:ジドウシャ 酒造:シュゾウ "
    "鉄工所:テッコウジョ 建設:ケンセツ 設計:セッケイ 興業:コウギョウ"
)
_LLC: Final = _same(
    "ソリューションズ ラボ デザイン パートナーズ コンサルティング テクノロジーズ ワークス"
)
_NONPROFIT: Final = {
    "一般社団法人": _pairs(
        "観光協会:カンコウキョウカイ 建設業協会:ケンセツギョウキョウカイ "
        "商店街振興会:ショウテンガイシンコウカイ 防災ネットワーク:ボウサイネットワーク "
        "スポーツ協会:スポーツキョウカイ"
    ),
    "一般財団法人": _pairs(
        "文化振興財団:ブンカシンコウザイダン 国際交流協会:コクサイコウリュウキョウカイ "
        "環境保全センター:カンキョウホゼンセンター"
    ),
    "特定非営利活動法人": _pairs(
        "子ども食堂ネットワーク:コドモショクドウネットワーク まちづくりの会:マチヅクリノカイ "
        "自然を守る会:シゼンヲマモルカイ 子育て支援の会:コソダテシエンノカイ"
    ),
    "社会福祉法人": _pairs("福祉会:フクシカイ 福祉協会:フクシキョウカイ 会:カイ"),
    "医療法人社団": _pairs("会:カイ 医療会:イリョウカイ 記念会:キネンカイ"),
}
# (kind, share, kind digits of the 会社法人等番号 (model), first day the kind existed)
_KINDS: Final = Picker([
    (("株式会社", "01", dt.date(1950, 1, 1)), 62.0),
    (("有限会社", "02", dt.date(1950, 1, 1)), 14.0),
    (("合同会社", "03", dt.date(2006, 5, 1)), 9.0),
    (("合名会社", "03", dt.date(1950, 1, 1)), 0.5),
    (("合資会社", "03", dt.date(1950, 1, 1)), 1.5),
    (("一般社団法人", "05", dt.date(2008, 12, 1)), 4.0),
    (("一般財団法人", "05", dt.date(2008, 12, 1)), 1.5),
    (("特定非営利活動法人", "05", dt.date(1998, 12, 1)), 3.5),
    (("医療法人社団", "05", dt.date(1950, 1, 1)), 2.5),
    (("社会福祉法人", "05", dt.date(1951, 6, 1)), 1.5),
])  # fmt: skip
# registry office (登記所) code per prefecture: a MODEL of the first four digits
_OFFICE: Final = {
    "13": "0104",
    "14": "0200",
    "23": "1800",
    "27": "1200",
    "40": "2900",
    "47": "3600",
}

FACTS: Final = (
    Corporation(
        "7000012050002", "国税庁", "コクゼイチョウ", "国の機関", "100-8978",
        "東京都千代田区霞が関三丁目1番1号", FIRST_DESIGNATION.isoformat(), fact=True,
    ),
    Corporation(
        "8000020130001", "東京都", "トウキョウト", "地方公共団体", "163-8001",
        "東京都新宿区西新宿二丁目8番1号", FIRST_DESIGNATION.isoformat(), fact=True,
    ),
)  # fmt: skip


def _name(rng: random.Random, kind: str) -> tuple[str, str]:
    """(name without the kind, its reading)."""
    stems: tuple[tuple[tuple[str, str], ...], ...] = (_SURNAMES, _PLACES, _WORDS, _KATAKANA)
    if kind == "株式会社":
        stem, trade = pick(rng, pick(rng, stems)), pick(rng, _TRADES)
    elif kind in ("有限会社", "合名会社", "合資会社"):
        stem, trade = pick(rng, _SURNAMES), pick(rng, _SMALL_TRADES)
    elif kind == "合同会社":
        stem, trade = pick(rng, _KATAKANA + _WORDS), pick(rng, _LLC)
    else:
        stem, trade = (
            pick(rng, _SURNAMES if kind == "医療法人社団" else _PLACES + _WORDS),
            pick(rng, _NONPROFIT[kind]),
        )
    return stem[0] + trade[0], stem[1] + trade[1]


def _founded(rng: random.Random, since: dt.date, until: dt.date) -> dt.date:
    # newer corporations are more numerous: squaring the draw skews it towards ``until``
    return until - dt.timedelta(days=int((until - since).days * rng.random() ** 2))


def generate(count: int = DEFAULT_COUNT, *, seed: int = 1) -> tuple[Corporation, ...]:
    """``count`` synthetic corporations (distinct numbers and names) and the `FACTS`."""
    rng = random.Random(f"renkei.corporations/{seed}")  # noqa: S311 -- reproducible test data
    where: Picker[Municipality] = Picker((m, float(m.thousands)) for m in MUNICIPALITIES.values())
    until = dt.date(2024, 12, 31)
    serials: dict[str, int] = {}
    seen = {c.name for c in FACTS}
    out: list[Corporation] = list(FACTS)
    while len(out) < count + len(FACTS):
        kind, digits, since = _KINDS(rng)
        core, kana = _name(rng, kind)
        front = kind not in ("株式会社", "有限会社") or rng.random() < 0.6  # 前株 or 後株
        name = kind + core if front else core + kind
        if name in seen:
            continue
        seen.add(name)
        m = where(rng)
        office = _OFFICE.get(m.pref_code, "9900")
        serial = serials[office + digits] = serials.get(office + digits, between(rng, 0, 9999)) + 1
        founded = _founded(rng, since, until)
        if kind == "有限会社":  # no new 有限会社 since 2006-05-01 (特例有限会社)
            founded = min(founded, dt.date(2006, 4, 30))
        postal, address, _ = street(rng, m)
        number = corporate_number(f"{office}{digits}{serial:06d}")
        assigned = max(founded, FIRST_DESIGNATION).isoformat()
        out.append(Corporation(number, name, kana, kind, postal, address, assigned))
    return tuple(out)
