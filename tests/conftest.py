"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

sys.path.insert(0, str(Path(__file__).parent))  # tests/cli_runner.py, importable from any folder

from cli_runner import Run

from renkei.cli import main


@pytest.fixture
def renkei(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Run]:
    """``renkei ARGS`` in an empty directory with no RENKEI_* settings: (exit code, out, err).

    ``main`` configures structlog onto this test's stderr; the configuration is put back after.
    """
    for name in list(os.environ):
        if name.startswith("RENKEI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    was, saved = structlog.is_configured(), structlog.get_config()

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    structlog.reset_defaults()
    if was:
        structlog.configure(**saved)
