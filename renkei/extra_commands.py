"""Commands of the population generator, the corporate-number registry and the compose file."""

from __future__ import annotations

import argparse

from renkei.compose_commands import add_compose_commands
from renkei.corporation_commands import add_corporation_commands
from renkei.population.commands import add_population_commands

__all__ = ["add_extra_commands"]


def add_extra_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `renkei population …`, `renkei corporations …` and `renkei compose …`."""
    add_population_commands(sub)
    add_corporation_commands(sub)
    add_compose_commands(sub)
