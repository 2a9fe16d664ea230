"""What the operations tests share (imported as ``ops_env``): queries that keep flowing
while an operator works on the network."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hub.node import Answer, OfficeNode

__all__ = ["ASK", "Flow"]

ASK = ("child_allowance", "shinjuku-tax", ("local_tax",))  # 児童手当 asks 新宿区 (1 January's)


@dataclass
class Flow:
    """One query after another from ``node`` about the person of ``token``, until stopped:
    every answer kept, in order. ``swap`` changes the asking node between two queries."""

    node: OfficeNode
    token: str
    provider: str = ASK[1]
    answers: list[Answer] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _more: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: bool = False

    def __post_init__(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._stopping:
            answer = await self.node.ask(
                ASK[0], self.provider, ASK[2], self.token, {"fiscal_year": 2024}
            )
            self.answers.append(answer)
            self._more.set()

    async def answered(self, n: int, timeout: float = 60.0) -> None:
        """Until ``n`` more queries have been answered (whatever the answer)."""
        goal = len(self.answers) + n
        async with asyncio.timeout(timeout):
            while len(self.answers) < goal:
                self._more.clear()
                await self._more.wait()

    async def pause(self) -> None:
        """Stop between two queries (the one in flight is answered first)."""
        if self._task is not None:
            self._stopping = True
            await asyncio.wait_for(self._task, 30)
            self._task, self._stopping = None, False

    async def swap(self, node: OfficeNode) -> OfficeNode:
        """Go on asking from ``node``; returns the node that asked before (still running)."""
        await self.pause()
        old, self.node = self.node, node
        self._task = asyncio.create_task(self._run())
        return old
