"""A card used by a web service: opened for each operation and closed after it (a PC/SC close
resets the card, so a verified PIN never outlives the operation), one operation at a time, in a
thread. The card bridge and the コンビニ交付 kiosk hold their card this way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from card_service.reader.client import CardClient

__all__ = ["CardOpener", "SerialCard"]

CardOpener = Callable[[], AbstractContextManager[CardClient]]
T = TypeVar("T")


class SerialCard:
    """``open_client()`` opens the card (a context manager giving a :class:`CardClient`)."""

    def __init__(self, open_client: CardOpener) -> None:
        self.open_client = open_client
        self.lock = asyncio.Lock()

    async def run(self, work: Callable[[CardClient], T]) -> T:
        """``work`` on a freshly opened card in a thread; when the request is cancelled the
        card still finishes its command before the next one begins."""
        async with self.lock:
            job = asyncio.ensure_future(asyncio.to_thread(self._with, work))
            try:
                return await asyncio.shield(job)
            except asyncio.CancelledError:
                await asyncio.wait({job})
                raise

    def _with(self, work: Callable[[CardClient], T]) -> T:
        with self.open_client() as client:
            return work(client)
