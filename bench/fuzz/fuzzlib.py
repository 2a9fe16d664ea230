"""What every harness under ``bench/fuzz/`` shares: the contract each parser keeps.

A harness hands atheris a function of one input. That function may raise only the errors its
parser declares (``allowed``): anything else escapes, and atheris reports it as a crash with
the input that caused it (a finding, which becomes a test under ``tests/`` and is fixed).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import atheris

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere: the project's packages
    sys.path.insert(0, str(ROOT))

__all__ = ["ROOT", "fuzz", "instrumented"]

OURS = ["hub", "token_service", "card_service", "pki", "portal"]


def instrumented() -> Any:
    """Imports under it get coverage feedback: our packages only (instrumenting every module
    imported, the standard library's and pydantic's, takes minutes and adds nothing)."""
    return atheris.instrument_imports(include=OURS)


def fuzz(one_input: Callable[[bytes], None], allowed: tuple[type[BaseException], ...]) -> None:
    """Run atheris on ``one_input``; ``allowed`` errors are refusals, not findings."""

    def checked(data: bytes) -> None:
        with contextlib.suppress(allowed):
            one_input(data)

    atheris.Setup(sys.argv, checked)
    atheris.Fuzz()
