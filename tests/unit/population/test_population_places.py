"""Municipal codes with their check digits, and addresses in the Japanese order (FACTS §4.3–4.4)."""

from __future__ import annotations

import random
import re

import pytest

from agencies.population import MUNICIPALITIES, BadMunicipality, iter_households, select
from agencies.population.places import address

# the worked examples of FACTS §4.3 that the generator uses
PUBLISHED = {
    "131016": "千代田区", "131041": "新宿区", "131130": "渋谷区", "132012": "八王子市",
    "141003": "横浜市", "231002": "名古屋市", "271004": "大阪市", "401307": "福岡市",
    "472018": "那覇市",
}  # fmt: skip
KANJI = "一二三四五六七八九"
ADDRESS = re.compile(
    rf"^(?:東京都|神奈川県|愛知県|大阪府|福岡県|沖縄県)\w+?"
    rf"(?:[{KANJI}]丁目)?(?:\d+番\d+号|\d+番地\d+)(?: \w+\d{{3,4}}号室)?$"
)


def test_every_modelled_municipality_is_a_published_code() -> None:
    assert {code: m.name for code, m in MUNICIPALITIES.items()} == PUBLISHED


def test_the_prefecture_code_is_the_first_two_digits() -> None:
    prefs = {m.pref_code: m.pref for m in MUNICIPALITIES.values()}
    assert prefs == {"13": "東京都", "14": "神奈川県", "23": "愛知県", "27": "大阪府",
                     "40": "福岡県", "47": "沖縄県"}  # fmt: skip


def test_addresses_are_well_formed_and_in_their_municipality() -> None:
    for h in iter_households(8_000, seed=2):
        m = MUNICIPALITIES[h.municipality]
        found = ADDRESS.match(h.address)
        assert found, h.address
        assert h.address.startswith(m.pref + m.name)
        assert re.fullmatch(r"\d{3}-\d{4}", h.postal_code)
        rest = h.address.removeprefix(m.pref + m.name)
        assert any(rest.startswith(ward + t.name) for ward, towns in m.districts for t in towns)


def test_towns_and_postal_codes_come_from_the_table() -> None:
    rng = random.Random(1)
    m = MUNICIPALITIES["131016"]
    towns = {t.name: t.postal for _, ts in m.districts for t in ts}
    for _ in range(200):
        postal, place = address(rng, m)
        town = next(t for t in sorted(towns, key=len, reverse=True) if t in place)
        assert towns[town] == postal


def test_municipalities_are_chosen_by_code_or_name() -> None:
    assert [m.code for m in select(["131016", "新宿区", "131016"])] == ["131016", "131041"]
    assert len(select()) == len(MUNICIPALITIES)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("131017", "the check digit should be 6"),
        ("999997", "not a modelled municipality"),
        ("札幌市", "not a modelled municipality"),
        ("x" * 500, "not a modelled municipality"),
    ],
)
def test_bad_municipalities_are_refused_with_the_reason(given: str, message: str) -> None:
    with pytest.raises(BadMunicipality, match=message) as caught:
        select([given])
    assert caught.value.code == "population.bad_municipality"
    assert len(str(caught.value)) < 400


def test_an_empty_choice_is_refused() -> None:
    with pytest.raises(BadMunicipality, match="at least one"):
        select([])
