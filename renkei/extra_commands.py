"""Commands of the population generator, the corporate-number registry, the compose file and the
local cluster."""

from __future__ import annotations

import argparse

from renkei.cluster_commands import add_cluster_commands
from renkei.compose_commands import add_compose_commands
from renkei.corporation_commands import add_corporation_commands
from renkei.population.commands import add_population_commands

__all__ = ["add_extra_commands"]


def add_extra_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `renkei population …`, `renkei corporations …`, `renkei compose …` and `renkei
    cluster …` on the `renkei` parser."""
    add_population_commands(sub)
    add_corporation_commands(sub)
    add_compose_commands(sub)
    add_cluster_commands(sub)
