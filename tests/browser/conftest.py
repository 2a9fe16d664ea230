"""The browser tests' imports: the whole-network helpers of tests/e2e (the kiosk's world is
that network, with the issuance centre on it)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
