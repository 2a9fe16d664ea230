"""The population in chunks: deterministic for a seed, each chunk generated on its own.

A population of N residents is cut into chunks of `CHUNK_RESIDENTS` (the last one shorter);
chunk ``c`` depends only on (seed, c, its size, today, the municipalities), so chunks can be
generated in any order or in parallel and the whole stays the same; memory is bounded by one
chunk. A chunk holds exactly its size: its last household is cut short if need be.

Resident-record codes are unique by construction, without a table of those already made: the
person's index in the population goes through a keyed permutation of ``[0, 10**10)`` (a
6-round Feistel network over 34 bits, cycle-walked into the range, keyed by the seed) and
becomes the 10-digit base of the code, plus its check digit. Neighbouring people get unrelated
codes. (Synthetic data: the permutation is for uniqueness, not secrecy.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterator, Sequence
from typing import Final

from agencies.population.exceptions import BadSize
from agencies.population.households import Household
from agencies.population.names import Picker, between, surname_picker
from agencies.population.people import compose, finish
from agencies.population.places import Municipality, address, municipality_picker, select
from agencies.population.welfare import care_and_disability, public_assistance
from hub.numbers import resident_record_code

__all__ = [
    "CHUNK_RESIDENTS",
    "MAX_RESIDENTS",
    "ResidentCodes",
    "check_size",
    "chunk_households",
    "chunks",
    "iter_households",
    "records_rng",
]

CHUNK_RESIDENTS: Final = 20_000
MAX_RESIDENTS: Final = 20_000_000  # 1,000 chunks: local ids carry the chunk in 3 digits
_M64: Final = (1 << 64) - 1
_HALF: Final = 17
_MASK: Final = (1 << _HALF) - 1


def check_size(residents: object) -> int:
    """The population size, if it is a whole number in 1 … `MAX_RESIDENTS`."""
    if isinstance(residents, bool) or not isinstance(residents, int):
        raise BadSize(f"the number of residents is a whole number, not {residents!r}")
    if residents <= 0:
        raise BadSize(f"the number of residents must be at least 1, not {residents}")
    if residents > MAX_RESIDENTS:
        raise BadSize(
            f"at most {MAX_RESIDENTS:,} residents (a sixth of Japan) in one run, not {residents:,}"
        )
    return residents


def chunks(residents: int) -> list[tuple[int, int]]:
    """(chunk number, residents in it) covering ``residents`` people."""
    n = check_size(residents)
    full, rest = divmod(n, CHUNK_RESIDENTS)
    return [(c, CHUNK_RESIDENTS) for c in range(full)] + ([(full, rest)] if rest else [])


class ResidentCodes:
    """Person index → a unique, valid resident-record code (a keyed permutation of the index)."""

    __slots__ = ("_keys",)

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"renkei.population.enroll.rrc/{seed}")  # noqa: S311 -- seeded, for test data
        self._keys = tuple(rng.getrandbits(64) for _ in range(6))

    def __call__(self, index: int) -> str:
        if not 0 <= index < 10**10:
            raise ValueError("a person index is below 10**10")
        x = index
        while True:
            left, right = x >> _HALF, x & _MASK
            for key in self._keys:
                h = ((right ^ key) * 0xBF58476D1CE4E5B9) & _M64
                left, right = right, left ^ ((h ^ (h >> 31)) & _MASK)
            x = (left << _HALF) | right
            if x < 10**10:
                return resident_record_code(f"{x:010d}")


def records_rng(seed: int, chunk: int) -> random.Random:
    """The random stream of a chunk's office records, apart from its households' own."""
    return random.Random(f"renkei.population.enroll.records/{seed}/{chunk}")  # noqa: S311 -- test data


def _moved_in(rng: random.Random, today: dt.date, head_birth: dt.date) -> dt.date:
    """Years at the address ~ exponential (mean 9); a third of moves in the moving season."""
    earliest = max(head_birth + dt.timedelta(days=18 * 366), today - dt.timedelta(days=50 * 365))
    latest = today - dt.timedelta(days=14)
    if earliest >= latest:
        return latest
    day = max(earliest, latest - dt.timedelta(days=int(rng.expovariate(1 / (9 * 365.25)))))
    if rng.random() < 0.33:  # 3月・4月: the moving season (FACTS §3.1)
        season = dt.date(day.year, 3, 15) + dt.timedelta(days=between(rng, 0, 30))
        if earliest <= season <= latest:
            day = season
    return day


def chunk_households(
    seed: int,
    chunk: int,
    size: int,
    *,
    today: dt.date,
    municipalities: Sequence[Municipality],
) -> Iterator[Household]:
    """The households of one chunk (their own random stream: office records draw from another)."""
    rng = random.Random(f"renkei.population.enroll/{seed}/{chunk}")  # noqa: S311 -- reproducible data
    codes = ResidentCodes(seed)
    where: Picker[Municipality] = municipality_picker(list(municipalities))
    surnames = surname_picker()
    count, households = 0, 0
    base = chunk * CHUNK_RESIDENTS

    def rrc() -> str:
        nonlocal count
        count += 1
        return codes(base + count - 1)

    while count < size:
        spec = compose(rng, today)[: size - count]
        members = finish(
            rng,
            today=today,
            surname=surnames(rng),
            members=spec,
            rrc=rrc,
            extras=care_and_disability,
        )
        households += 1
        if public_assistance(rng, members, [a for _, _, a in spec]):
            members = tuple(
                dataclasses.replace(p, insurance="medical_aid")
                if p.insurance in ("nhi", "koiki")  # 医療扶助 replaces them
                else p
                for p in members
            )
            assisted = True
        else:
            assisted = False
        home = where(rng)
        postal, place = address(rng, home)
        moved = _moved_in(rng, today, dt.date.fromisoformat(members[0].birth_date))
        hid = f"H{chunk:03d}{households:05d}"
        yield Household(hid, place, members, moved.isoformat(), home.code, postal, assisted)


def iter_households(
    residents: int,
    *,
    seed: int = 1,
    today: dt.date | None = None,
    municipalities: Sequence[str] | None = None,
) -> Iterator[Household]:
    """All households of a population of exactly ``residents`` people, chunk after chunk."""
    chosen = select(municipalities)
    for chunk, size in chunks(residents):
        yield from chunk_households(
            seed, chunk, size, today=today or dt.date(2024, 6, 1), municipalities=chosen
        )
