"""A service's heartbeat, as compose.yaml's health checks read it: `renkei run token
--heartbeat FILE` keeps FILE once it is up, `python -m renkei.health FILE` passes meanwhile,
and the file goes with the process (on the in-process bus: no broker needed for this)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

RENKEI = str(Path(sys.executable).with_name("renkei"))


async def health(alive: Path) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "renkei.health", str(alive), stderr=asyncio.subprocess.DEVNULL
    )
    return await asyncio.wait_for(proc.wait(), 30)


async def test_a_running_service_beats_and_a_stopped_one_does_not(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
    env |= {"RENKEI_STATE_DIR": str(tmp_path / "var"), "RENKEI_LOG_LEVEL": "warning"}
    init = await asyncio.create_subprocess_exec(RENKEI, "init", env=env, cwd=tmp_path)
    assert await asyncio.wait_for(init.wait(), 60) == 0
    alive = tmp_path / "alive"
    proc = await asyncio.create_subprocess_exec(
        RENKEI, "run", "token", "--heartbeat", str(alive), env=env, cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(60):
            while b"running on" not in (line := await proc.stderr.readline()):
                assert line, "`renkei run token` exited before it was ready"
            while not alive.exists():  # noqa: ASYNC110 — a file gives no event to wait on
                await asyncio.sleep(0.05)
        assert await health(alive) == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0
    assert not alive.exists()
    assert await health(alive) == 1
