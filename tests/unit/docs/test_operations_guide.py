"""docs/operations.md is checked, not trusted: every test it says runs a procedure exists, and
its sizing table is the bench's figures and its own arithmetic."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
GUIDE = (ROOT / "docs/operations.md").read_text(encoding="utf-8")
# the guide's row → how bench/README.md names the process in its CPU-per-answer line
BENCH_NAMES = {
    "hub": "hub",
    "token service": "token",
    "provider office (the tax office)": "tax",
    "requester office (the bench's 児童手当)": "requester",
    "RabbitMQ (one node)": "RabbitMQ",
    "PostgreSQL (records, claims, the office's look-ups)": "PostgreSQL",
}


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_every_test_the_guide_names_exists() -> None:
    named = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", GUIDE)
    assert len({path for path, _ in named}) >= 6
    for path, name in named:
        assert (ROOT / path).is_file(), path
        if name:
            tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
            defined = {
                n.name
                for n in ast.walk(tree)
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            assert name in defined, f"{path}::{name}"


def test_the_sizing_table_is_the_benchs_figures_and_its_own_arithmetic() -> None:
    bench = " ".join(
        (ROOT / "bench/README.md").read_text(encoding="utf-8").replace("*", "").split()
    )
    rows = re.findall(
        r"^\| ([^|]+?) \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|$", GUIDE, re.MULTILINE
    )
    assert {r[0] for r in rows} == set(BENCH_NAMES)
    for name, peak, planning, per_core, at_60 in rows:
        assert f"{BENCH_NAMES[name]} {peak}" in bench, f"{name}: {peak} µs is not bench/README's"
        assert number(planning) == 2 * number(peak)
        assert number(per_core) == 1_000_000 // number(planning)
        assert number(at_60) == 600_000 // number(planning)
