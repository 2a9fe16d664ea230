"""Commands of the population generator and the corporate-number registry."""

from __future__ import annotations

import argparse

__all__ = ["add_extra_commands"]


def add_extra_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `renkei population …` and `renkei corporations …` on the `renkei` parser."""
