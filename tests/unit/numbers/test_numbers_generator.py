"""NumberGenerator: a keyed permutation from resident-record codes to individual numbers."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agencies.jlis.exceptions import (
    BadCheckDigit,
    InvalidGeneration,
    InvalidSecret,
    MalformedNumber,
)
from agencies.jlis.numbers import (
    MAX_GENERATION,
    NumberGenerator,
    classify,
    individual_number,
    resident_record_code,
)

SECRET = bytes(range(32))
GEN = NumberGenerator(SECRET)

rrcs = st.integers(0, 10**10 - 1).map(lambda n: resident_record_code(f"{n:010d}"))
generations = st.integers(0, MAX_GENERATION)


def test_no_collisions_over_a_run_of_neighbouring_codes() -> None:
    # 200,000 consecutive codes: the sample where any regularity would show first.
    numbers = [GEN.number_for(resident_record_code(f"{n:010d}")) for n in range(200_000)]
    assert len(set(numbers)) == len(numbers)
    # neighbours give unrelated numbers: a shared 5-digit prefix is a 1-in-100,000 event
    shared = sum(a[:5] == b[:5] for a, b in itertools.pairwise(numbers))
    assert shared < 20


@given(rrcs, generations)
def test_resolve_inverts_number_for(rrc: str, generation: int) -> None:
    number = GEN.number_for(rrc, generation)
    assert len(number) == 12
    assert classify(number).kind == "individual_number"
    assert classify(number).valid
    assert GEN.resolve(number) == (rrc, generation)


@given(st.integers(0, 10**11 - 1))
def test_every_valid_number_resolves_and_maps_back(base: int) -> None:
    number = individual_number(f"{base:011d}")
    rrc, generation = GEN.resolve(number)
    assert GEN.number_for(rrc, generation) == number


def test_is_deterministic_per_secret() -> None:
    rrc = resident_record_code("0123456789")
    assert NumberGenerator(SECRET).number_for(rrc) == GEN.number_for(rrc)
    assert NumberGenerator(b"another secret, 32 bytes long...").number_for(rrc) != (
        GEN.number_for(rrc)
    )


@given(rrcs)
def test_a_wrong_secret_resolves_to_someone_else(rrc: str) -> None:
    other = NumberGenerator(b"not the numbering secret of jlis")
    assert other.resolve(GEN.number_for(rrc)) != (rrc, 0)


@given(rrcs)
def test_a_number_change_keeps_the_code(rrc: str) -> None:
    numbers = [GEN.number_for(rrc, g) for g in range(MAX_GENERATION + 1)]
    assert len(set(numbers)) == len(numbers)
    assert [GEN.resolve(n) for n in numbers] == [(rrc, g) for g in range(MAX_GENERATION + 1)]


def test_refuses_bad_input() -> None:
    rrc = resident_record_code("0000000001")
    bad_rrc = rrc[:-1] + str((int(rrc[-1]) + 1) % 10)
    with pytest.raises(BadCheckDigit):
        GEN.number_for(bad_rrc)
    with pytest.raises(MalformedNumber):
        GEN.number_for("123")
    with pytest.raises(InvalidGeneration) as info:
        GEN.number_for(rrc, MAX_GENERATION + 1)
    assert info.value.code == "jlis.invalid_generation"
    with pytest.raises(InvalidGeneration):
        GEN.number_for(rrc, -1)
    with pytest.raises(BadCheckDigit):
        GEN.resolve("123456789013")
    with pytest.raises(MalformedNumber):
        GEN.resolve("12345678901")


def test_refuses_a_short_secret() -> None:
    with pytest.raises(InvalidSecret):
        NumberGenerator(b"short")
