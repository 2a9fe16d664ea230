"""A public registry of corporations (法人番号): numbers, names, readings, addresses.

Pure core (`search`: normalization and look-up; `synth`: a deterministic synthetic data set
with a few real public entries) and a tiny loader (`registry.default_index`). Corporate numbers
are public and carry no personal data (番号法 第39条): this package holds nothing about people.
"""

from agencies.corporations.exceptions import BadCorporateNumber, CorporationError, InvalidQuery
from agencies.corporations.model import KINDS, Corporation
from agencies.corporations.registry import default_index
from agencies.corporations.search import MAX_QUERY_CHARS, Found, Index, normalize
from agencies.corporations.synth import DEFAULT_COUNT, FACTS, generate

__all__ = [
    "DEFAULT_COUNT",
    "FACTS",
    "KINDS",
    "MAX_QUERY_CHARS",
    "BadCorporateNumber",
    "Corporation",
    "CorporationError",
    "Found",
    "Index",
    "InvalidQuery",
    "default_index",
    "generate",
    "normalize",
]
