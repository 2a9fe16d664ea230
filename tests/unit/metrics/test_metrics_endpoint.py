"""The metrics endpoint: GET /metrics only; anything else refused and counted, never a crash."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from hub.metrics import Metrics
from renkei.metrics_http import serving_metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    answer = await reader.read(4096)
    writer.close()
    return answer


def _count(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value("renkei_metrics_requests_total", {"outcome": outcome})
    return value or 0.0


async def test_get_metrics_is_served_and_everything_else_refused_and_counted() -> None:
    metrics = Metrics()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    async with serving_metrics("127.0.0.1", port, metrics), aiohttp.ClientSession() as http:
        assert metrics.enabled
        async with http.get(f"{url}/metrics") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain")
            assert "renkei_hop_seconds" in await r.text()
        refusals = [
            ("POST", "/metrics", 405),
            ("PUT", "/metrics", 405),
            ("HEAD", "/metrics", 405),
            ("GET", "/", 404),
            ("GET", "/metrics/", 404),
            ("GET", "/metrics?name[]=renkei_queries_total", 400),
            ("GET", "/metrics?123456789018", 400),
        ]
        for method, path, status in refusals:
            async with http.request(method, url + path, data=b"x" * 10) as r:
                assert r.status == status, (method, path)
        assert _count(metrics, "served") == 1
        assert _count(metrics, "refused") == len(refusals)

        malformed = [
            b"GARBAGE\r\n\r\n",
            b"GET /metrics HTTP/9.9\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000 + b"\r\n\r\n",
            b"\x00\xff\xfe\r\n\r\n",
        ]
        for data in malformed:
            answer = await _raw(port, data)
            assert answer.startswith(b"HTTP/1.") and b" 200 " not in answer.split(b"\r\n")[0]
        assert _count(metrics, "malformed") == len(malformed)
        assert _count(metrics, "refused") == len(refusals)

        async with http.get(f"{url}/metrics") as r:  # still up, and counting
            assert r.status == 200
            text = await r.text()
        assert 'renkei_metrics_requests_total{outcome="served"} 1.0' in text


@pytest.mark.parametrize("port", [None])
def test_no_port_no_endpoint(port: int | None) -> None:
    from argparse import Namespace

    from renkei.metrics_http import metrics_port
    from renkei.settings import Settings

    assert metrics_port(Settings(), Namespace()) is None  # a tool has no --metrics-port
    assert metrics_port(Settings(), Namespace(metrics_port=port)) is None
    assert metrics_port(Settings(metrics_port=9464), Namespace(metrics_port=None)) == 9464
    assert metrics_port(Settings(metrics_port=9464), Namespace(metrics_port=1)) == 1
