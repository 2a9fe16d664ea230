"""The card's commands (`renkei card …`)."""

from __future__ import annotations

import argparse

__all__ = ["add_card_commands"]


def add_card_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `renkei card …` on the `renkei` parser."""
