"""Processes that outlive the command that starts them (``renkei cluster``'s nodes and
services): start one detached, tell whether a pid is still one of ours, stop it.

Linux only: a process is recognised by ``/proc/PID/environ`` holding a mark (the cluster's
folder), so a pid reused after a reboot is never signalled, and a zombie counts as gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["is_ours", "spawn", "stop", "wait_for_line"]


def spawn(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own, its output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own argv, no shell
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def is_ours(pid: int | None, mark: str) -> bool:
    """Whether ``pid`` runs (not a zombie) with ``mark`` in its environment."""
    if not pid:
        return False
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        environ = (proc / "environ").read_bytes()
    except OSError:
        return False
    return state != "Z" and mark.encode() in environ


async def stop(pids: Mapping[str, int], mark: str, *, grace: float) -> list[str]:
    """SIGTERM each of ours, SIGKILL what still runs after ``grace`` seconds; the names of
    those that had to be killed."""
    running = {name: pid for name, pid in pids.items() if is_ours(pid, mark)}
    for pid in running.values():
        _signal(pid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while running and loop.time() < deadline:
        await asyncio.sleep(0.2)
        running = {name: pid for name, pid in running.items() if is_ours(pid, mark)}
    for pid in running.values():
        _signal(pid, signal.SIGKILL)
    return sorted(running)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


async def wait_for_line(
    log: Path, text: str, proc: subprocess.Popen[bytes], *, within: float
) -> bool:
    """Wait until ``log`` holds ``text`` (True), or ``proc`` exited or ``within`` seconds
    passed (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if _holds(log, text.encode()):
            return True
        if proc.poll() is not None:
            return False
        await asyncio.sleep(0.2)
    return False


def _holds(log: Path, needle: bytes) -> bool:
    return log.exists() and needle in log.read_bytes()
