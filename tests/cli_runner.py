"""The ``renkei`` command run in-process for tests: ``Run`` is (exit code, stdout, stderr)."""

from __future__ import annotations

from collections.abc import Callable

Run = Callable[..., tuple[int, str, str]]
