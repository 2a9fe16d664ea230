"""A full garbage collection in a service process, with and without `gc.freeze()`.

    .venv/bin/python bench/gc_bench.py [--repeat 5]

What a service has built before it serves (here: the modules `renkei run` imports) is scanned
by every full collection, which stops every query in flight in that process. The services
freeze it (`renkei.serving.until_stopped`). This times `gc.collect()` before and after the
freeze in one process, best of ``--repeat`` each.
"""

from __future__ import annotations

import argparse
import gc
import time

import renkei.cli  # what `renkei run` loads: the network, its services, the CLI
import renkei.network  # noqa: F401


def best_collect_ms(repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        gc.collect()
        runs.append((time.perf_counter() - t0) * 1000)
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    objects = len(gc.get_objects())
    unfrozen = best_collect_ms(args.repeat)
    gc.collect()
    gc.freeze()
    frozen = best_collect_ms(args.repeat)
    print(f"{objects:,} objects tracked after start-up imports")
    print(f"full collection: {unfrozen:.1f} ms unfrozen, {frozen * 1000:.1f} µs after gc.freeze()")


if __name__ == "__main__":
    main()
