"""What the command-line tests share."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import Run


@pytest.fixture
def state(renkei: Run, tmp_path: Path) -> Path:
    """A state directory `renkei init` filled."""
    root = tmp_path / "state"
    assert renkei("--state-dir", str(root), "init")[0] == 0
    return root
