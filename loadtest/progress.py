"""The live progress line of a replay (rich), and nothing when the output is not a terminal."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from loadtest.stats import Stats

__all__ = ["Progress"]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


class Progress:
    """``with Progress(stats, total): progress.update(elapsed)``; quiet off a terminal."""

    def __init__(self, stats: Stats, total: int, out: TextIO = sys.stdout) -> None:
        self.stats, self.total = stats, total
        self.live: Live | None = None
        if out.isatty():
            self.live = Live(console=Console(file=out), refresh_per_second=4, transient=False)

    def table(self, elapsed: float) -> Table:
        s = self.stats
        t = Table(box=None, show_header=True, header_style="bold")
        for col in ("elapsed", "sent", "answered", "refused", "in flight", "p50", "p99"):
            t.add_column(col, justify="right")
        t.add_row(
            f"{elapsed:.0f} s",
            f"{s.sent}/{self.total}",
            str(s.answered),
            str(s.statuses.get("refused", 0)),
            str(s.in_flight),
            _ms(s.quantile_ms(50)),
            _ms(s.quantile_ms(99)),
        )
        return t

    def update(self, elapsed: float) -> None:
        if self.live is not None:
            self.live.update(self.table(elapsed))

    def __enter__(self) -> Progress:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.live is not None:
            self.live.__exit__(kind, exc, tb)
