"""What every long-running command shares: serve an aiohttp app, and wait to be stopped."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import AsyncIterator

from aiohttp import web

__all__ = ["until_stopped", "web_site"]


@contextlib.asynccontextmanager
async def web_site(app: web.Application, host: str, port: int) -> AsyncIterator[None]:
    """``app`` served on ``host:port`` for the block's duration."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield
    finally:
        await runner.cleanup()


async def until_stopped(seconds: float | None = None) -> None:
    """Ctrl-C, SIGTERM, or ``seconds`` — whichever comes first.

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
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
