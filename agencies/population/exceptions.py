"""Errors of the bulk population generator: one root, each with a stable code."""

from __future__ import annotations

from typing import ClassVar

__all__ = ["BadMunicipality", "BadSize", "PopulationError"]


class PopulationError(Exception):
    """Root of every error raised by ``agencies.population``."""

    code: ClassVar[str] = "population.error"


class BadSize(PopulationError, ValueError):
    """A population size that is not a positive count within the generator's bounds."""

    code: ClassVar[str] = "population.bad_size"


class BadMunicipality(PopulationError, ValueError):
    """A municipality that is malformed, has a wrong check digit, or is not modelled."""

    code: ClassVar[str] = "population.bad_municipality"
