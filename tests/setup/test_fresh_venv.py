"""The README's first command on a machine with Python alone: `make demo` in a copy of this tree
builds a new .venv with the project and no extras (no pyscard, so no C compiler, no PC/SC) and
runs the demo; the portal demo and the card commands work there on a card state file, and a
card command that needs a reader says what to install.

Slow on purpose (marked ``fresh_venv``): a new virtualenv and a real ``pip install`` of the
project, about a minute with a warm pip cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from proc_env import free_port

pytestmark = pytest.mark.fresh_venv

ROOT = Path(__file__).resolve().parents[2]
LEFT_OUT = shutil.ignore_patterns(
    ".git", ".venv*", "var", "build", "__pycache__", "*.egg-info", ".*_cache", ".hypothesis"
)


def clean_env() -> dict[str, str]:
    """This process's environment without what points at this tree's venv or a deployment."""
    drop = ("RENKEI_", "VIRTUAL_ENV", "PYTHON", "PIP_TARGET", "PIP_PREFIX")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run(argv: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def fresh(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A copy of this tree (as a clone would have it) after `make demo` ran in it."""
    tree = tmp_path_factory.mktemp("fresh") / "renkei"
    shutil.copytree(ROOT, tree, ignore=LEFT_OUT, symlinks=True)
    python = Path(sys.base_prefix) / "bin" / "python3"  # the machine's Python, not this venv's
    done = subprocess.run(
        ["make", "demo", f"PY={python}"], cwd=tree, env=clean_env(),
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    return tree, done


def test_make_demo_needs_no_extra_and_runs_the_demo(
    fresh: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    tree, done = fresh
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "the chain is intact" in done.stdout
    venv = tree / ".venv"
    assert (venv / ".demo").exists() and not (venv / ".test").exists()
    cfg = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    for module in ("smartcard", "pytest"):  # neither the card extra nor dev came along
        probe = run([str(venv / "bin" / "python"), "-c", f"import {module}"], tree)
        assert probe.returncode == 1 and "ModuleNotFoundError" in probe.stderr, module


def test_the_portal_demo_and_the_card_commands_work_without_pyscard(
    fresh: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    tree, done = fresh
    assert done.returncode == 0, done.stderr[-3000:]
    renkei = str(tree / ".venv" / "bin" / "renkei")
    port, pki, bridge = free_port(), free_port(), free_port()
    portal = run(
        [renkei, "demo", "--portal", "--seconds", "2", "--every", "1", "--port", str(port),
         "--pki-port", str(pki), "--bridge-url", f"http://127.0.0.1:{bridge}"],
        tree,
    )  # fmt: skip
    assert portal.returncode == 0, portal.stderr[-3000:]
    line = next(ln for ln in portal.stdout.splitlines() if "start the card bridge" in ln)
    card = tree / line.split("--state ", 1)[1].split()[0]  # the bridge runs it in-process
    assert card.exists()

    info = run([renkei, "card", "info", "--state", str(card)], tree)
    assert info.returncode == 0, info.stderr
    assert "no reader: the card state" in info.stderr and "ATR:" in info.stdout

    # a reader asked for by name: the error says what to install
    reader = run([renkei, "card", "info", "--reader", "Virtual PCD 00 00"], tree)
    assert reader.returncode == 2
    assert "renkei: card.no_pcsc: PC/SC is not installed here" in reader.stderr
    assert "apt-get install pcscd vsmartcard-vpcd libpcsclite-dev" in reader.stderr
    assert "pip install 'renkei[card]'" in reader.stderr

    # no reader asked for: the default card state runs in-process, and the note says why
    default = tree / "var" / "card" / "card.state"
    shutil.copy(card, default)
    shutil.copy(card.with_name(card.name + ".key"), default.with_name(default.name + ".key"))
    fallback = run([renkei, "card", "info"], tree)
    assert fallback.returncode == 0, fallback.stderr
    assert "pip install 'renkei[card]'" in fallback.stderr
    assert f"using the card state {default.relative_to(tree)}" in fallback.stderr
