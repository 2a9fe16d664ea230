"""A card whose every state change is durable before its answer leaves, and the in-process
transport to it (the embedded default when no reader is present).

The order is the point: the pure :class:`Card` computes the answer (a wrong PIN has already
decremented the counter in memory), the state is saved (fsync'd, renamed), and only then is
the answer returned to the reader. Pulling the card — killing the emulator — before the
save means the reader never learns whether the PIN was right, so a counter cannot be reset
by pulling. If the save fails the answer is ``65 81`` (memory failure), never the result.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from card_service.card.apdu import SW_MEMORY_FAILURE
from card_service.card.layout import ATR
from card_service.card.machine import Card
from card_service.card.state import CardState
from card_service.card.store import CardStore, StateKey
from card_service.exceptions import StateFileError
from hub.log import get_logger

__all__ = ["LocalTransport", "PersistentCard"]

log = get_logger("card_service.card.machine")


class PersistentCard:
    def __init__(self, card: Card, save: Callable[[CardState], None]) -> None:
        self.card = card
        self._save = save

    @property
    def atr(self) -> bytes:
        return ATR

    def reset(self) -> None:
        self.card.reset()

    def transmit(self, apdu: bytes) -> bytes:
        answer = self.card.process(apdu)
        if self.card.take_dirty():
            try:
                self._save(self.card.state)
            except (StateFileError, OSError) as exc:
                # the operator's line: the save error is its text, no traceback needed
                log.error("card state not saved; answering 65 81", error=str(exc))  # noqa: TRY400
                self.card.reset()
                return SW_MEMORY_FAILURE.to_bytes(2, "big")
        return answer


class LocalTransport:
    """The card in a state file, run in this process: no reader, same bytes."""

    def __init__(self, store: CardStore, state: CardState) -> None:
        self._store = store
        self.card = PersistentCard(Card(state), store.save)

    @classmethod
    def open(cls, path: Path, key: StateKey) -> LocalTransport:
        store, state = CardStore.open(path, key)
        return cls(store, state)

    @property
    def name(self) -> str:
        return f"in-process card from {self._store.path}"

    @property
    def atr(self) -> bytes:
        return ATR

    def transmit(self, apdu: bytes) -> bytes:
        return self.card.transmit(apdu)

    def close(self) -> None:
        self._store.close()
