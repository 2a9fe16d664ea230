"""``renkei pki serve`` on the network: the CA's web site answers only while J-LIS's office is
open — it starts once the network is (the office's store attached: a certificate issued
before had its link in memory only, never written) and stops before it (a certificate issued
while the office closed had no link at all)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from renkei import pki_commands
from renkei.settings import Settings


async def test_the_web_site_runs_inside_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def web_site(app: Any, host: str, port: int) -> AsyncIterator[None]:
        events.append("web up")
        try:
            yield
        finally:
            events.append("web down")

    class Network:
        bus_name = "amqp"

        async def aclose(self) -> None:
            events.append("network down")

    async def open_network(*args: Any, **kwargs: Any) -> Network:
        events.append("network up")
        return Network()

    async def until_stopped(**kwargs: Any) -> None:
        events.append("serving")

    monkeypatch.setattr(pki_commands, "web_site", web_site)
    monkeypatch.setattr(pki_commands, "open_network", open_network)
    monkeypatch.setattr(pki_commands, "until_stopped", until_stopped)
    monkeypatch.setattr(pki_commands, "load_rules", lambda settings: (None, []))
    monkeypatch.setattr(pki_commands, "with_juki", lambda registry, offices: registry)
    monkeypatch.setattr(pki_commands.State, "load", lambda state_dir, own: None)
    settings = Settings(broker_url="amqp://u:p@127.0.0.1:9/", state_dir=tmp_path)
    args = argparse.Namespace(
        host="127.0.0.1", port=9, public_url=None, crl_interval=3600.0, heartbeat=None
    )
    assert await pki_commands.serve(settings, args) == 0
    assert events == ["network up", "web up", "serving", "web down", "network down"]
