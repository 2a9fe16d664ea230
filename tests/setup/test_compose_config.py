"""compose/compose.yaml is a valid compose file, as docker compose itself reads it, with no
container engine: `docker-compose config -q` (Debian's docker-compose, from scripts/system-deps)
checks it against the compose schema. It needs none of the files it names (no `renkei init`):
it runs on a copy of compose/ with no .env and no RENKEI_* variables of this machine's."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER_COMPOSE = "/usr/bin/docker-compose"


def config(compose: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
    return subprocess.run(
        [DOCKER_COMPOSE, "-f", str(compose / "compose.yaml"), "config", "-q"],
        cwd=compose, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def compose(tmp_path: Path) -> Path:
    if not Path(DOCKER_COMPOSE).exists():
        pytest.fail(f"{DOCKER_COMPOSE} is missing: scripts/system-deps installs docker-compose")
    copy = tmp_path / "compose"
    shutil.copytree(ROOT / "compose", copy, ignore=shutil.ignore_patterns(".env"))
    return copy


def test_docker_compose_finds_the_compose_file_valid(compose: Path) -> None:
    done = config(compose)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr


def test_it_would_say_so_if_it_were_not(compose: Path) -> None:
    """Not a vacuous check: a key compose does not know is refused."""
    text = (compose / "compose.yaml").read_text()
    (compose / "compose.yaml").write_text(text.replace("    healthcheck:", "    healthchek:", 1))
    done = config(compose)
    assert done.returncode != 0
    assert "healthchek" in done.stderr
