"""What the bulk-load tests share: a deployment of their own (see ``conftest``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from renkei.settings import Settings

ADMIN_DSN = os.environ.get("RENKEI_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class Deployment:
    dsn: str
    state_dir: Path
    settings: Settings
