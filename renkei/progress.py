"""A progress bar on stderr: redrawn in place on a terminal, a line per tenth otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "render"]

_WIDTH = 30


def render(done: int, total: int, unit: str, seconds: float) -> str:
    """``[#######.......]  45%  450,000/1,000,000 residents  12,345/s  ETA 45 s``"""
    total = max(total, 1)
    done = min(max(done, 0), total)
    filled = done * _WIDTH // total
    rate = done / seconds if seconds > 0 else 0.0
    eta = f"ETA {(total - done) / rate:.0f} s" if rate and done < total else f"{seconds:.1f} s"
    return (
        f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {done * 100 // total:3d}%"
        f"  {done:,}/{total:,} {unit}  {rate:,.0f}/s  {eta}"
    )


class Progress:
    def __init__(
        self,
        total: int,
        unit: str,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.total = total
        self.unit = unit
        self.done = 0
        self._stream = stream or sys.stderr
        self._clock = clock
        self._started = clock()
        self._drawn = -1.0
        self._tenth = 0
        self._tty = self._stream.isatty()

    def advance(self, n: int) -> None:
        self.done += n
        now = self._clock()
        if self._tty:
            if now - self._drawn >= 0.1 or self.done >= self.total:
                self._drawn = now
                line = render(self.done, self.total, self.unit, now - self._started)
                self._stream.write("\r" + line)
                self._stream.flush()
        else:
            tenth = self.done * 10 // max(self.total, 1)
            if tenth > self._tenth:
                self._tenth = tenth
                line = render(self.done, self.total, self.unit, now - self._started)
                self._stream.write(line + "\n")
                self._stream.flush()

    def close(self) -> None:
        if self._tty and self._drawn >= 0:
            self._stream.write("\n")
            self._stream.flush()
