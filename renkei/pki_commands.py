"""The PKI's commands (`renkei run pki`, `renkei sign`, `renkei verify`)."""

from __future__ import annotations

import argparse

__all__ = ["add_pki_commands"]


def add_pki_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the PKI's subcommands on the `renkei` parser."""
