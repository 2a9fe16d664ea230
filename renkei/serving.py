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

__all__ = ["ERROR_HEADERS", "SERVER", "heartbeat_arg", "until_stopped", "web_site"]

SERVER = "renkei"  # the Server header: no language, framework or version to look up
# aiohttp's own answers — a request line or a header over 8 KiB, anything its HTTP parser
# refuses, a crash outside the app's middlewares — never reach the app's on_response_prepare:
# these go on them instead (a text/plain page that loads, frames and sends nothing)
ERROR_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Server": SERVER,
}


class _Connection(web.RequestHandler):
    """aiohttp's connection handler; its own error answers carry ``ERROR_HEADERS``."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        response = super().handle_error(request, status, exc, message)
        response.headers.update(ERROR_HEADERS)
        return response


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER  # aiohttp's default names Python's and its versions


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
    """``app`` served on ``host:port`` for the block's duration; every answer says
    ``Server: renkei``. ``runner_args``: aiohttp's ``AppRunner``'s, e.g. an
    ``access_log_class``; no access log by default.

    Each connection is a ``_Connection``: aiohttp has no hook for the answers its parser gives
    before any app code runs (aio-libs/aiohttp#3287), so those get ``ERROR_HEADERS`` there; the
    app's own answers carry the app's headers as before.
    """
    app.on_response_prepare.append(_server_header)
    # access_log=None: no access log, as web.AppRunner(access_log=None) (its stub says Logger)
    handler_args: dict[str, Any] = {"access_log": None, **runner_args}
    runner = web.AppRunner(app, **handler_args)
    await runner.setup()
    server = runner.server
    assert server is not None
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(
        lambda: _Connection(server, loop=loop, **handler_args), host, port
    )
    try:
        yield
    finally:
        listener.close()
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
