"""A synthetic population, deterministic for a seed, and what each office holds of it.

The demo's few households: `households` (``generate``). At scale, pure: households stream out
chunk by chunk (`stream`), each with names (`names`), addresses across several municipalities
and prefectures (`places`), work, income, pensions, insurance (`people`), care, disability and
public assistance (`welfare`); `records.place` says which office holds what about a household,
under the office's own local ids, in the document formats the offices read. Tokens and the
database are the composition root's business (``renkei population generate``, in
renkei/population/). See README.md in this folder.
"""

from agencies.population.exceptions import BadMunicipality, BadSize, PopulationError
from agencies.population.households import Household, Person, generate
from agencies.population.places import MUNICIPALITIES, Municipality, select
from agencies.population.plan import LocalIds, Plan, Row, fiscal_year
from agencies.population.records import came_from, place
from agencies.population.stream import (
    CHUNK_RESIDENTS,
    MAX_RESIDENTS,
    ResidentCodes,
    check_size,
    chunk_households,
    chunks,
    iter_households,
    records_rng,
)

__all__ = [
    "CHUNK_RESIDENTS",
    "MAX_RESIDENTS",
    "MUNICIPALITIES",
    "BadMunicipality",
    "BadSize",
    "Household",
    "LocalIds",
    "Municipality",
    "Person",
    "Plan",
    "PopulationError",
    "ResidentCodes",
    "Row",
    "came_from",
    "check_size",
    "chunk_households",
    "chunks",
    "fiscal_year",
    "generate",
    "iter_households",
    "place",
    "records_rng",
    "select",
]
