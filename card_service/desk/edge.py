"""The municipal desk's edge: a blank card in memory, issued, then saved once.

The blank card is personalized in memory through its own APDUs (:func:`issue_card`) and the
state file is written only when the card is activated, so a CA that refuses or a network
that fails half-way leaves no half-issued card behind. The file is then an ordinary card
state: ``renkei card emulate`` puts it in a reader.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from card_service.card.machine import Card
from card_service.card.state import CardState
from card_service.card.store import CardStore, StateKey
from card_service.desk.issuance import CertificateAuthority, IssuedCard, Pins, issue_card
from card_service.desk.resident import Resident
from card_service.exceptions import StateFileError
from card_service.reader.client import CardClient

__all__ = ["MemoryTransport", "issue_to_file"]


class MemoryTransport:
    """A card in memory and nothing durable: the desk's blank card, or a test's card."""

    def __init__(self, card: Card | None = None) -> None:
        self.card = card or Card(CardState.blank())

    @property
    def name(self) -> str:
        return "a card in memory"

    @property
    def atr(self) -> bytes:
        return b""

    def transmit(self, apdu: bytes) -> bytes:
        answer = self.card.process(apdu)
        self.card.take_dirty()  # nothing to save: the desk saves the whole card at the end
        return answer

    def close(self) -> None:
        return None


async def issue_to_file(
    path: Path,
    key: StateKey,
    resident: Resident,
    pins: Pins,
    ca: CertificateAuthority,
    *,
    holder: str | None = None,
    code: str | None = None,
) -> tuple[IssuedCard, str]:
    """Issue a new card for ``resident`` into the state file ``path``: (what was issued, the
    card's serial). Refuses to overwrite an existing card."""
    if await asyncio.to_thread(path.exists):
        raise StateFileError(f"{path} exists: refusing to overwrite a card")
    desk = MemoryTransport()
    issued = await issue_card(CardClient(desk), resident, pins, ca, holder=holder, code=code)
    store = await asyncio.to_thread(CardStore.create, path, desk.card.state, key)
    store.close()
    return issued, desk.card.state.serial
