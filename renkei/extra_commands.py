"""Commands of the population generator, the corporate-number registry, the compose file and the
local cluster, the season replay."""

from __future__ import annotations

import argparse

from renkei.cluster_commands import add_cluster_commands
from renkei.compose_commands import add_compose_commands
from renkei.corporation_commands import add_corporation_commands
from renkei.population.commands import add_population_commands
from renkei.season_commands import add_season_commands

__all__ = ["add_extra_commands"]


def add_extra_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `renkei population …`, `renkei corporations …`, `renkei compose …`, `renkei
    cluster …` and `renkei season …` on the `renkei` parser."""
    add_population_commands(sub)
    add_corporation_commands(sub)
    add_compose_commands(sub)
    add_cluster_commands(sub)
    add_season_commands(sub)
