"""Run every atheris harness of ``bench/fuzz/`` (or those named) for a while each, outside CI.

    .venv/bin/python bench/fuzz/run.py --seconds 300 [--jobs 4] [wire apdu ...]

Each target starts from its seeds (``bench/fuzz/seeds/<target>/``) and grows its corpus in
``build/fuzz/corpus/<target>/`` (kept between runs, never committed); a crash leaves its input
in ``build/fuzz/crashes/<target>/`` and fails the run. The table at the end is what
``docs/reliability.md`` ("Fuzzing") records: seconds, executions, corpus size, crashes.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE.parents[1] / "build" / "fuzz"
TARGETS = sorted(p.stem.removeprefix("fuzz_") for p in HERE.glob("fuzz_*.py"))


def run(target: str, seconds: int) -> tuple[str, int, int, int, int]:
    corpus, crashes = BUILD / "corpus" / target, BUILD / "crashes" / target
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    log = BUILD / f"{target}.log"
    cmd = [
        sys.executable,
        str(HERE / f"fuzz_{target}.py"),
        str(corpus),
        str(HERE / "seeds" / target),
        f"-max_total_time={seconds}",
        f"-artifact_prefix={crashes}/",
        "-rss_limit_mb=4096",
        "-timeout=20",
        "-print_final_stats=1",
    ]
    start = time.monotonic()
    with log.open("wb") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    text = log.read_text(errors="replace")
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
    found = len(list(crashes.iterdir()))
    took = round(time.monotonic() - start)
    return target, took, int(runs[-1]) if runs else 0, len(list(corpus.iterdir())), found or rc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", choices=[[], *TARGETS], default=[])
    parser.add_argument("--seconds", type=int, default=300, help="per target (default 300)")
    parser.add_argument("--jobs", type=int, default=2, help="targets at once (default 2)")
    args = parser.parse_args()
    targets = args.targets or TARGETS
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda t: run(t, args.seconds), targets))
    print(f"{'target':8} {'seconds':>8} {'executions':>11} {'corpus':>7} {'crashes':>8}")
    for target, took, runs, corpus, crashes in rows:
        print(f"{target:8} {took:8} {runs:11} {corpus:7} {crashes:8}")
    return 1 if any(row[4] for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
