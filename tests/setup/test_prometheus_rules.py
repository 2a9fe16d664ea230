"""compose/prometheus/: the alert rules pass Debian's `promtool check rules` (lint fatal) and
their unit tests (`promtool test rules`), and the config scripts/prometheus writes passes
`promtool check config`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "compose" / "prometheus"
PROMTOOL = "/usr/bin/promtool"


def promtool(*args: str, cwd: Path = RULES) -> subprocess.CompletedProcess[str]:
    if not Path(PROMTOOL).exists():
        pytest.fail(f"{PROMTOOL} is missing: scripts/system-deps installs prometheus")
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_rules_check() -> None:
    done = promtool("check", "rules", "--lint-fatal", "rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 9 rules found" in done.stdout


def test_rules_unit_tests() -> None:
    done = promtool("test", "rules", "rules_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_rule_fails_its_unit_test(tmp_path: Path) -> None:
    """The unit tests hold the thresholds: one changed, they fail."""
    rules = (RULES / "rules.yml").read_text().replace("> 1000", "> 3000")
    (tmp_path / "rules.yml").write_text(rules)
    (tmp_path / "rules_test.yml").write_text((RULES / "rules_test.yml").read_text())
    done = promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
    assert done.returncode != 0
    assert "RecordWriterLagging" in done.stdout + done.stderr


def test_local_config_checks(tmp_path: Path) -> None:
    """The config of scripts/prometheus (written, then prometheus exec'd: here a stand-in
    that checks the config with promtool instead of serving)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    stand_in = bindir / "prometheus"
    stand_in.write_text(
        f'#!/bin/sh\nfor a; do case $a in --config.file=*) exec {PROMTOOL} check config "${{a#*=}}";; esac; done\nexit 9\n'
    )
    stand_in.chmod(0o755)
    done = subprocess.run(
        [str(ROOT / "scripts" / "prometheus"), "9999", str(tmp_path / "p"), "hub=127.0.0.1:9464"],
        env={"PATH": f"{bindir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr
    assert "1 rule files found" in done.stdout + done.stderr


def test_the_compose_config_checks() -> None:
    """compose/prometheus/prometheus.yml (generated with compose.yaml) with its rules."""
    done = promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout + done.stderr
