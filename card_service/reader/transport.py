"""How a client reaches a card: PC/SC (:mod:`card_service.reader.pcsc`) or in-process
(:class:`card_service.card.persistent.LocalTransport`). Both move raw APDU bytes."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Transport"]


class Transport(Protocol):
    @property
    def name(self) -> str:
        """Where the card is: the reader's name, or the state file served in-process."""
        ...

    @property
    def atr(self) -> bytes: ...

    def transmit(self, apdu: bytes) -> bytes:
        """Response data and status word; :class:`CardRemoved` when the card went away."""
        ...

    def close(self) -> None: ...
