"""`python -m renkei.health`: the containers' health check — a heartbeat file young enough,
or a URL answering 200 — and the heartbeat a service with `--heartbeat` keeps."""

from __future__ import annotations

import asyncio
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from renkei.cli import _parser
from renkei.health import HEARTBEAT_EVERY, STALE_AFTER, beat, check, main


def test_a_fresh_heartbeat_is_healthy(tmp_path: Path) -> None:
    alive = tmp_path / "alive"
    alive.touch()
    assert check(str(alive)) is None


def test_a_stale_heartbeat_is_not(tmp_path: Path) -> None:
    alive = tmp_path / "alive"
    alive.touch()
    later = alive.stat().st_mtime + STALE_AFTER + 1
    assert check(str(alive), now=later) == f"{alive}: last heartbeat 31 s ago (more than 30 s)"
    assert check(str(alive), now=later - 2) is None


def test_no_heartbeat_is_not_healthy(tmp_path: Path) -> None:
    problem = check(str(tmp_path / "alive"))
    assert problem is not None
    assert "no heartbeat" in problem


def test_a_beat_is_missed_three_times_before_it_is_stale() -> None:
    assert STALE_AFTER >= 3 * HEARTBEAT_EVERY


class _Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_url_answering_200_is_healthy(server: str) -> None:
    assert check(f"{server}/ok") is None


def test_a_url_answering_anything_else_is_not(server: str) -> None:
    assert check(f"{server}/down") == f"{server}/down: HTTP 503"


def test_a_url_nobody_answers_is_not() -> None:
    problem = check("http://127.0.0.1:1/ok")
    assert problem is not None
    assert problem.startswith("http://127.0.0.1:1/ok: ")


def test_the_command_says_why_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "alive")]) == 1
    assert capsys.readouterr().err.startswith(f"unhealthy: {tmp_path / 'alive'}: no heartbeat")
    (tmp_path / "alive").touch()
    assert main([str(tmp_path / "alive")]) == 0


def test_it_runs_as_a_module_on_the_standard_library_alone(tmp_path: Path) -> None:
    """What the container runs: no third-party import (the check must stay cheap). Run
    without site (``-S``), whose start-up hooks would import packages of their own."""
    (tmp_path / "alive").touch()
    code = (
        "import runpy, sys; sys.argv = ['renkei.health', sys.argv[1]]\n"
        "try:\n    runpy.run_module('renkei.health', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    third = sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)"
        " - {'renkei', '__main__'})\n"
        "    print(e.code, third)"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code, str(tmp_path / "alive")],
        capture_output=True, text=True, check=False, timeout=30,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )  # fmt: skip
    assert done.stdout.strip() == "0 []", done.stderr


async def test_the_heartbeat_is_kept_while_running_and_removed_at_the_end(tmp_path: Path) -> None:
    alive = tmp_path / "alive"
    beating = asyncio.create_task(beat(alive, every=0.01))
    while not alive.exists():  # noqa: ASYNC110 — a file gives no event to wait on
        await asyncio.sleep(0.01)
    os.utime(alive, (0, 0))
    while alive.stat().st_mtime == 0:  # noqa: ASYNC110 — touched again, not only made
        await asyncio.sleep(0.01)
    beating.cancel()
    with pytest.raises(asyncio.CancelledError):
        await beating
    assert not alive.exists()


def test_every_long_running_service_command_takes_a_heartbeat() -> None:
    parser = _parser()
    for argv in (
        ["run", "hub"],
        ["run", "office", "nenkin"],
        ["pki", "serve"],
        ["portal", "serve"],
    ):
        args = parser.parse_args([*argv, "--heartbeat", "/tmp/x"])
        assert args.heartbeat == Path("/tmp/x"), argv
