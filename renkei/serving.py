"""What every long-running command shares: serve an aiohttp app, and wait to be stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from renkei.health import beat

__all__ = ["heartbeat_arg", "until_stopped", "web_site"]


def heartbeat_arg(parser: argparse.ArgumentParser) -> None:
    """``--heartbeat FILE`` on a long-running command (``renkei.health``)."""
    parser.add_argument(
        "--heartbeat",
        type=Path,
        metavar="FILE",
        help="touch FILE every few seconds while up (`python -m renkei.health FILE` checks it)",
    )


@contextlib.asynccontextmanager
async def web_site(
    app: web.Application, host: str, port: int, **runner_args: Any
) -> AsyncIterator[None]:
    """``app`` served on ``host:port`` for the block's duration (``runner_args``: aiohttp's
    ``AppRunner``'s, e.g. an ``access_log_class``; no access log by default)."""
    runner = web.AppRunner(app, **{"access_log": None, **runner_args})
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield
    finally:
        await runner.cleanup()


async def until_stopped(seconds: float | None = None, heartbeat: Path | None = None) -> None:
    """Ctrl-C, SIGTERM, or ``seconds`` — whichever comes first; meanwhile ``heartbeat``, if
    given, is touched every few seconds (``renkei.health.beat``) and removed at the end.

    Everything built before this (tables, keys, registries, imported modules) lives as long as
    the process, so it is moved out of the cyclic collector's way: a full collection then scans
    only what messages allocate instead of stalling every query in flight for ~50 ms
    (bench/gc_bench.py).
    """
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    beating = asyncio.create_task(beat(heartbeat)) if heartbeat is not None else None
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
    finally:
        if beating is not None:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
