"""What an auditor sees, pure: how many message flows each office asked and answered, by
affair and outcome, over a period — counts only, never a trace or query id, a token, a number
or any content."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.model import Operation

__all__ = ["AccessCount", "access_counts"]


@dataclass(frozen=True, slots=True)
class AccessCount:
    requester: str
    provider: str  # "-" when the hub answered itself (a refusal before forwarding)
    affair: str
    outcome: str
    count: int


def access_counts(ops: Iterable[Operation]) -> list[AccessCount]:
    """One row per (requester, provider, affair, outcome), most first, then by name."""
    tally = Counter(
        (op.requester or "-", op.provider or "-", op.affair or "-", op.outcome or "-") for op in ops
    )
    rows = [AccessCount(*key, n) for key, n in tally.items()]
    rows.sort(key=lambda r: (-r.count, r.requester, r.provider, r.affair, r.outcome))
    return rows
