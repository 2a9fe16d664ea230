"""``PostgresDown``: what a process's buses ask after a handler failed — is PostgreSQL out of
reach (hold the delivery), or is the failure the message's own (give it back)?"""

from __future__ import annotations

import asyncio
import socket

import pytest
from proc_env import PG

import renkei.network
from renkei.network import PROBE_KEPT, PostgresDown

pytestmark = pytest.mark.postgres


def closed_port() -> int:
    with socket.socket() as s:  # bound, never listening: a connection is refused
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_server_that_takes_a_connection_is_not_down() -> None:
    assert await PostgresDown(PG + "postgres")() is False


async def test_a_server_that_refuses_connections_is_down() -> None:
    assert await PostgresDown(f"postgresql://postgres@127.0.0.1:{closed_port()}/postgres")()


async def test_many_askers_share_one_probe_and_its_answer_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hundreds of held handlers ask at once: one connection is tried, not hundreds (the
    server just back would be flooded, the answer slower than the outage)."""
    connects = 0
    real = renkei.network.asyncpg.connect

    async def counted(*args: object, **kw: object) -> object:
        nonlocal connects
        connects += 1
        return await real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(renkei.network.asyncpg, "connect", counted)
    down = PostgresDown(PG + "postgres")
    answers = await asyncio.gather(*(down() for _ in range(200)))
    assert answers == [False] * 200 and connects == 1
    assert await down() is False and connects == 1  # kept a while
    await asyncio.sleep(PROBE_KEPT)
    assert await down() is False and connects == 2  # then asked again
