"""The metrics endpoint of a service: ``GET /metrics`` on ``--metrics-port``, nothing else.

Anything but ``GET /metrics`` without a query string is refused (404, 405 or 400) and counted
``refused``; a request aiohttp cannot parse gets its 400 from aiohttp (logged by aiohttp as an
error, without the request) and is counted ``malformed`` (the access logger sees every
response, the parser's error answers included).
The endpoint reads counters only: no request reaches a service, and none can add a label.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from hub.metrics import CONTENT_TYPE, METRICS, Metrics
from renkei.serving import web_site
from renkei.settings import Settings

__all__ = ["metrics_app", "metrics_arg", "metrics_port", "serving_metrics", "with_metrics"]

PATH = "/metrics"


def metrics_arg(parser: argparse.ArgumentParser) -> None:
    """``--metrics-port PORT`` on a long-running command (default: RENKEI_METRICS_PORT, off)."""
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve GET /metrics (Prometheus) on this port (RENKEI_METRICS_HOST, default "
        "127.0.0.1); default RENKEI_METRICS_PORT, else none",
    )


def metrics_port(settings: Settings, args: argparse.Namespace) -> int | None:
    """The port for this command: only commands with ``--metrics-port`` serve metrics."""
    if not hasattr(args, "metrics_port"):
        return None
    port: int | None = args.metrics_port
    return port if port is not None else settings.metrics_port


def metrics_app(metrics: Metrics = METRICS) -> web.Application:
    async def serve(request: web.Request) -> web.Response:
        if request.query_string:
            raise web.HTTPBadRequest(text="GET /metrics takes no parameters\n")
        body = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app = web.Application(client_max_size=1024)
    app.router.add_get(PATH, serve, allow_head=False)
    return app


def _counting(metrics: Metrics) -> type[AbstractAccessLogger]:
    class Counting(AbstractAccessLogger):
        def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
            if response.status == 200:
                metrics.http("served")
            elif response.status == 400 and request.path != PATH:
                # aiohttp's own answer to what it could not parse (it logs it as "GET /")
                metrics.http("malformed")
            else:
                metrics.http("refused")

    return Counting


@contextlib.asynccontextmanager
async def serving_metrics(host: str, port: int, metrics: Metrics = METRICS) -> AsyncIterator[None]:
    """Metrics counted and served on ``host:port`` for the block's duration."""
    metrics.enable()
    counting = {"access_log_class": _counting(metrics), "access_log": logging.getLogger(__name__)}
    async with web_site(metrics_app(metrics), host, port, **counting):
        yield


async def with_metrics(coro: Coroutine[Any, Any, int], host: str, port: int) -> int:
    """Run a command with its metrics endpoint up."""
    async with serving_metrics(host, port):
        return await coro
