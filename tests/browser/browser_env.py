"""The browser tests' world: `renkei demo --portal` (network, CA, portal, a demo card), the
card in the vpcd virtual reader (`renkei card emulate`, through pcscd), the card bridge on
PC/SC (`renkei card bridge`), each its own process — and Debian's Chromium driven by
Playwright. Screenshots go to ``build/screenshots/`` for review."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from proc_env import CODE, READER, VPCD_PORT, free_port, require_pcsc

from card_service.reader.pcsc import wait_for_card

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def require_chromium() -> None:
    """Fail (never skip) without Chromium; no card is needed (no PC/SC)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no {CHROMIUM}: apt-get install chromium (.ci/run does)")


def require_stack() -> None:
    """Fail (never skip) when Chromium or PC/SC is missing, saying what to install."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no {CHROMIUM}: apt-get install chromium (.ci/run does)")
    require_pcsc()


@dataclass
class Process:
    name: str
    proc: asyncio.subprocess.Process
    lines: list[str]

    async def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first line of output containing ``text`` (stdout and stderr merged)."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(f"{self.name} ended: {''.join(self.lines)[-2000:]}")
                line = raw.decode(errors="replace")
                self.lines.append(line)
                if text in line:
                    return line

    async def drain(self) -> None:
        assert self.proc.stdout is not None
        while raw := await self.proc.stdout.readline():
            self.lines.append(raw.decode(errors="replace"))

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def start(name: str, state_dir: Path, *argv: str) -> Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CODE,
        "--state-dir",
        str(state_dir),
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    return Process(name, proc, [])


@dataclass
class World:
    portal: str
    bridge: str
    demo: Process


@contextlib.asynccontextmanager
async def world(state_dir: Path) -> AsyncIterator[World]:
    require_stack()
    portal_port, bridge_port, pki_port = free_port(), free_port(), free_port()
    # the portal on another site than the bridge (localhost vs 127.0.0.1), as in a deployment
    # where the bridge runs on the resident's machine: its answers post back across sites
    portal, bridge = f"http://localhost:{portal_port}", f"http://127.0.0.1:{bridge_port}"
    card = state_dir / "card" / "demo.state"
    processes: list[Process] = []
    drains: list[asyncio.Task[None]] = []
    try:
        demo = await start(
            "demo",
            state_dir,
            "demo",
            "--portal",
            "--port",
            str(portal_port),
            "--pki-port",
            str(pki_port),
            "--bridge-url",
            bridge,
            "--public-url",
            portal,
            "--card",
            str(card),
            "--every",
            "2",
            "--notice-every",
            "2",
        )
        processes.append(demo)
        await demo.wait_for("an office looks at the resident")
        emulator = await start(
            "emulator", state_dir, "card", "emulate", "--state", str(card), "--port", str(VPCD_PORT)
        )
        processes.append(emulator)
        assert await asyncio.to_thread(wait_for_card, READER, 20), "no card in the reader"
        bridge_proc = await start(
            "bridge",
            state_dir,
            "card",
            "bridge",
            "--port",
            str(bridge_port),
            "--portal",
            portal,
            "--reader",
            READER,
        )
        processes.append(bridge_proc)
        await bridge_proc.wait_for(str(bridge_port))
        drains = [asyncio.create_task(p.drain()) for p in processes]
        yield World(portal, bridge, demo)
    finally:
        for p in reversed(processes):
            await p.stop()
        for task in drains:
            task.cancel()
        await asyncio.to_thread(wait_for_card, READER, 10, present=False)
