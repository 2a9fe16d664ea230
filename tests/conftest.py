"""Fixtures shared by every test folder."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

sys.path.insert(0, str(Path(__file__).parent))  # tests/cli_runner.py, importable from any folder

from cli_runner import Run

import hub.log
from hub.metrics import METRICS, SETTLED
from renkei.cli import main

hub.log.CACHE_LOGGERS = False  # see hub.log: configurations come and go between tests


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Puts back what ``hub.log.configure`` changes: structlog's set-up and the root logger's
    handlers and level (it binds this test's stderr, which pytest swaps between tests). Every
    test: one that runs a command in-process at ``--log-level warning`` would otherwise leave
    the next tests' info lines filtered out before ``capture_logs`` sees them."""
    was, saved = structlog.is_configured(), structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    if was:
        structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def renkei(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    restore_logging: None,
) -> Run:
    """``renkei ARGS`` in an empty directory with no RENKEI_* settings: (exit code, out, err).

    ``main`` configures logging onto this test's stderr; the configuration is put back after.
    """
    for name in list(os.environ):
        if name.startswith("RENKEI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


Settles = Callable[[], dict[str, float]]


@pytest.fixture
def settles() -> Iterator[Settles]:
    """This process's metrics on for the test; the call says what each outcome of
    ``renkei_bus_settled_total`` gained since the test began (only those that moved)."""
    was = METRICS.enabled
    METRICS.enable()

    def now() -> dict[str, float]:
        sample = METRICS.registry.get_sample_value
        return {h: sample("renkei_bus_settled_total", {"outcome": h}) or 0.0 for h in SETTLED}

    before = now()
    yield lambda: {h: n - before[h] for h, n in now().items() if n != before[h]}
    METRICS.enabled = was
