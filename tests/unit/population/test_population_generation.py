"""The bulk generator: deterministic for a seed, exact in size, chunk by chunk, valid codes."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from agencies.jlis.numbers import validate
from agencies.population import (
    CHUNK_RESIDENTS,
    MAX_RESIDENTS,
    BadSize,
    ResidentCodes,
    check_size,
    chunk_households,
    chunks,
    iter_households,
    select,
)
from agencies.population.households import Household, generate

TODAY = dt.date(2024, 6, 1)


def people(households: list[Household]) -> int:
    return sum(len(h.members) for h in households)


def test_the_same_seed_gives_the_same_population() -> None:
    first = list(iter_households(25_000, seed=7))
    again = list(iter_households(25_000, seed=7))
    assert first == again


def test_another_seed_gives_another_population() -> None:
    a = list(iter_households(2_000, seed=1))
    b = list(iter_households(2_000, seed=2))
    assert {p.rrc for h in a for p in h.members}.isdisjoint({p.rrc for h in b for p in h.members})
    assert [h.address for h in a[:50]] != [h.address for h in b[:50]]


@pytest.mark.parametrize("n", [1, 2, 7, 20_001])
def test_the_population_has_exactly_the_residents_asked_for(n: int) -> None:
    assert people(list(iter_households(n, seed=3))) == n


def test_a_chunk_generated_alone_is_the_chunk_of_the_whole() -> None:
    whole = list(iter_households(2 * CHUNK_RESIDENTS + 10, seed=4))
    alone = list(chunk_households(4, 1, CHUNK_RESIDENTS, today=TODAY, municipalities=select()))
    start = next(i for i, h in enumerate(whole) if h.id.startswith("H001"))
    assert whole[start : start + len(alone)] == alone


def test_a_larger_population_extends_a_smaller_one() -> None:
    small = list(iter_households(CHUNK_RESIDENTS, seed=5))
    large = list(iter_households(CHUNK_RESIDENTS + 5_000, seed=5))
    assert large[: len(small)] == small


def test_every_resident_record_code_is_valid_and_unique() -> None:
    codes = [p.rrc for h in iter_households(30_000, seed=6) for p in h.members]
    assert len(set(codes)) == len(codes) == 30_000
    for code in codes:
        assert validate(code, "resident_record_code") == code


def test_resident_codes_are_a_permutation_without_regularity() -> None:
    codes = ResidentCodes(seed=1)
    made = [codes(i) for i in range(20_000)]
    assert len(set(made)) == len(made)
    bases = [int(c[:10]) for c in made[:100]]
    steps = {b - a for a, b in itertools.pairwise(bases)}
    assert len(steps) > 95  # neighbouring people get unrelated codes
    assert ResidentCodes(seed=2)(0) != made[0]
    with pytest.raises(ValueError, match="below"):
        codes(10**10)


def test_household_ids_are_unique_and_heads_come_first() -> None:
    households = list(iter_households(30_000, seed=8))
    assert len({h.id for h in households}) == len(households)
    assert all(h.members[0].relationship == "世帯主" for h in households)
    assert all(h.moved_in < TODAY.isoformat() for h in households)


@pytest.mark.parametrize("bad", [0, -1, MAX_RESIDENTS + 1, 10**12])
def test_bad_sizes_are_refused_with_a_code(bad: int) -> None:
    with pytest.raises(BadSize) as caught:
        check_size(bad)
    assert caught.value.code == "population.bad_size"


@pytest.mark.parametrize("bad", [1.5, "10", True, None])
def test_a_size_must_be_a_whole_number(bad: object) -> None:
    with pytest.raises(BadSize, match="whole number"):
        check_size(bad)


def test_chunks_cover_the_population() -> None:
    assert chunks(45_000) == [(0, 20_000), (1, 20_000), (2, 5_000)]
    assert chunks(MAX_RESIDENTS)[-1] == (999, CHUNK_RESIDENTS)


def test_the_small_generator_still_works_unchanged() -> None:
    households = generate(50, seed=1)
    assert people(households) >= 50
    assert all(h.municipality == "131016" and h.address.startswith("東京都千代田区")
               for h in households)  # fmt: skip
    assert all(p.employment == "" and p.disability == () for h in households for p in h.members)
