"""A service's liveness, for a container's health check.

A long-running service started with ``--heartbeat FILE`` touches FILE every
``HEARTBEAT_EVERY`` seconds once it is up (its bus connected, its queues declared, its store
migrated) and removes it when it stops; ``python -m renkei.health FILE`` then succeeds while
FILE is younger than ``STALE_AFTER`` seconds, so a process whose event loop hangs turns
unhealthy. ``python -m renkei.health URL`` succeeds while the URL answers 200: the check of the
services that serve HTTP.

The check imports the standard library only: the ``renkei`` command itself costs about a
second of CPU to start, too much to run in every container every few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

__all__ = ["HEARTBEAT_EVERY", "STALE_AFTER", "beat", "check", "main"]

HEARTBEAT_EVERY = 10.0  # seconds between two touches of the heartbeat file
STALE_AFTER = 30.0  # a heartbeat older than this: the service is not healthy (three beats missed)


async def beat(path: Path, every: float = HEARTBEAT_EVERY) -> None:
    """Touch ``path`` every ``every`` seconds until cancelled; then remove it."""
    try:
        while True:
            await asyncio.to_thread(path.touch)
            await asyncio.sleep(every)
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


def check(target: str, *, stale_after: float = STALE_AFTER, now: float | None = None) -> str | None:
    """None when ``target`` (a heartbeat file, or an http:// URL) says the service is alive;
    otherwise why not."""
    if target.startswith(("http://", "https://")):
        return _check_url(target)
    try:
        age = (time.time() if now is None else now) - Path(target).stat().st_mtime
    except FileNotFoundError:
        return f"{target}: no heartbeat (the service is starting, or stopped)"
    if age > stale_after:
        return f"{target}: last heartbeat {age:.0f} s ago (more than {stale_after:g} s)"
    return None


def _check_url(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 — http(s) only
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{url}: {reason}"
    return None if status == 200 else f"{url}: HTTP {status}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m renkei.health", description=__doc__.splitlines()[0])
    p.add_argument("target", help="a heartbeat file, or an http:// URL that must answer 200")
    p.add_argument(
        "--stale-after",
        type=float,
        default=STALE_AFTER,
        help=f"seconds after which a heartbeat is stale (default {STALE_AFTER:g})",
    )
    args = p.parse_args(argv)
    problem = check(args.target, stale_after=args.stale_after)
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
