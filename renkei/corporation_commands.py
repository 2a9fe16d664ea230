"""``renkei corporations find``: placeholder until the registry lands."""

from __future__ import annotations

import argparse

__all__ = ["add_corporation_commands"]


def add_corporation_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    return
