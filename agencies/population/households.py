"""A synthetic population, deterministic for a seed: households with Japanese names and addresses.

Names follow the surname shares and given-name fashions of FACTS §4.1–4.2 (ranks 11–30 and the
women's names by decade are recalled figures); household sizes and the share of households with
children follow §3.3; incomes are a model (log-normal around a median wage), not statistics.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from agencies.jlis.numbers import generate_rrc

__all__ = ["Household", "Person", "generate"]

SURNAMES = (
    ("佐藤", 153), ("鈴木", 144), ("高橋", 114), ("田中", 106), ("渡辺", 94), ("伊藤", 90),
    ("中村", 85), ("小林", 83), ("山本", 82), ("加藤", 71), ("吉田", 66), ("山田", 65),
    ("佐々木", 55), ("山口", 52), ("松本", 52), ("井上", 51), ("木村", 47), ("林", 44),
    ("斎藤", 44), ("清水", 43), ("山崎", 40), ("森", 37), ("池田", 36), ("橋本", 36),
    ("阿部", 35), ("石川", 34), ("山下", 33), ("中島", 33), ("石井", 32), ("小川", 32),
)  # fmt: skip
MALE = {
    1940: ("勝", "勇", "進", "稔", "和夫", "清", "弘", "博"),
    1960: ("誠", "浩", "修", "隆", "健一"),
    1980: ("大輔", "誠", "翔太", "拓也", "健太"),
    2000: ("翔", "大輝", "蓮", "颯太", "翼"),
    2010: ("大翔", "悠真", "陽翔", "湊", "蓮"),
}
FEMALE = {
    1940: ("和子", "幸子", "節子"),
    1960: ("由美子", "久美子", "明美", "直美", "恵子"),
    1980: ("愛", "恵", "麻衣", "裕子", "陽子"),
    2000: ("美咲", "葵", "さくら", "結衣", "七海"),
    2010: ("陽菜", "結愛", "莉子", "結菜", "芽依"),
}
CHIYODA_TOWNS = (
    "丸の内", "大手町", "有楽町", "霞が関", "永田町", "平河町", "麹町", "一番町", "三番町",
    "九段北", "九段南", "富士見", "飯田橋", "神田神保町", "神田小川町", "神田駿河台", "外神田",
)  # fmt: skip
KANJI_NUMBERS = "一二三四五六七八九"


@dataclass(frozen=True, slots=True)
class Person:
    rrc: str
    name: str
    birth_date: str  # ISO date
    sex: str  # 1 male, 2 female (as on the card)
    relationship: str  # 続柄 to the head: 世帯主, 妻, 夫, 子, 父, 母
    income: int  # last calendar year's total income, yen (model)
    # filled by the bulk generator (`agencies.population`); the small one leaves them empty
    employment: str = ""  # employee | self_employed | unemployed | homemaker | student | retired
    insurance: str = ""  # kenpo | kenpo_dependant | nhi | koiki | medical_aid
    pension: int = 0  # annual public pension, yen (model)
    care_level: str = ""  # 要支援1–2 / 要介護1–5, when certified
    disability: tuple[str, ...] = ()  # (handbook, grade, category) when the person holds one


@dataclass(frozen=True, slots=True)
class Household:
    id: str
    address: str
    members: tuple[Person, ...]
    moved_in: str  # ISO date the household came to live at the address
    municipality: str = "131016"  # 全国地方公共団体コード with its check digit
    postal_code: str = ""  # 〒 "100-0013"
    public_assistance: bool = False  # a 生活保護 case (the bulk generator)


def _given(rng: random.Random, sex: str, year: int) -> str:
    table = MALE if sex == "1" else FEMALE
    era = max(k for k in table if k <= max(year, 1940))
    return rng.choice(table[era])


def _birth(rng: random.Random, today: dt.date, low: int, high: int) -> dt.date:
    age_days = rng.randint(low * 365, high * 365 + 364)
    return today - dt.timedelta(days=age_days)


def _income(rng: random.Random, age: int) -> int:
    if age < 18:
        return 0
    if age >= 65:
        return int(rng.lognormvariate(math.log(1_800_000), 0.4)) // 1000 * 1000
    if rng.random() < 0.15:
        return 0
    return int(rng.lognormvariate(math.log(4_200_000), 0.55)) // 1000 * 1000


def _person(
    rng: random.Random,
    seen: set[str],
    *,
    surname: str,
    rel: str,
    sex: str,
    birth: dt.date,
    today: dt.date,
) -> Person:
    rrc = generate_rrc(rng)
    while rrc in seen:
        rrc = generate_rrc(rng)
    seen.add(rrc)
    age = (today - birth).days // 365
    name = f"{surname} {_given(rng, sex, birth.year)}"
    return Person(rrc, name, birth.isoformat(), sex, rel, _income(rng, age))


def generate(residents: int, *, seed: int = 1, today: dt.date | None = None) -> list[Household]:
    """About ``residents`` people in households of 千代田区 (131016)."""
    rng = random.Random(seed)
    today = today or dt.date(2024, 6, 1)
    names, weights = zip(*SURNAMES, strict=True)
    seen: set[str] = set()
    households: list[Household] = []
    count = 0
    while count < residents:
        surname = rng.choices(names, weights)[0]
        head_sex = "1" if rng.random() < 0.7 else "2"
        members: list[Person] = []
        with_children = rng.random() < 0.35  # over-sampled against 22.1 % so the demo has claims
        head_birth = _birth(rng, today, 28, 50) if with_children else _birth(rng, today, 20, 90)

        def add(
            rel: str,
            sex: str,
            birth: dt.date,
            surname: str = surname,
            members: list[Person] = members,
        ) -> None:
            members.append(
                _person(rng, seen, surname=surname, rel=rel, sex=sex, birth=birth, today=today)
            )

        add("世帯主", head_sex, head_birth)
        if with_children or rng.random() < 0.45:
            spouse_sex = "2" if head_sex == "1" else "1"
            spouse_birth = head_birth + dt.timedelta(days=rng.randint(-1500, 1500))
            add("妻" if spouse_sex == "2" else "夫", spouse_sex, spouse_birth)
        if with_children:
            for _ in range(rng.choices((1, 2, 3), (45, 40, 15))[0]):
                add("子", rng.choice("12"), _birth(rng, today, 0, 17))
        town = rng.choice(CHIYODA_TOWNS)
        chome = KANJI_NUMBERS[rng.randrange(4)]
        address = f"東京都千代田区{town}{chome}丁目{rng.randint(1, 20)}番{rng.randint(1, 30)}号"
        earliest = max(dt.date(2000, 1, 1), head_birth + dt.timedelta(days=20 * 365))
        span = max(1, (today - dt.timedelta(days=400) - earliest).days)
        moved_in = (earliest + dt.timedelta(days=rng.randrange(span))).isoformat()
        hid = f"H{len(households) + 1:06d}"
        households.append(Household(hid, address, tuple(members), moved_in))
        count += len(members)
    return households
