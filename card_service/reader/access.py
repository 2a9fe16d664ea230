"""Which card a command talks to: a reader through PC/SC, or a card state file in-process.

``--state FILE`` always means the file, served in this process (no reader involved);
``--reader NAME`` always means that reader. With neither, the first reader holding a card is
used, and when there is none the embedded default — the card state at ``default_state`` —
is opened in-process. The caller prints the note saying which it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from card_service.card.persistent import LocalTransport
from card_service.card.store import StateKey
from card_service.exceptions import NoCard
from card_service.reader.pcsc import PcscTransport
from card_service.reader.transport import Transport

__all__ = ["open_card"]


def open_card(
    *,
    reader: str | None,
    state: Path | None,
    default_state: Path,
    key_for: Callable[[Path], StateKey],
) -> tuple[Transport, str]:
    """The transport, and a one-line note naming it."""
    if state is not None:
        local = LocalTransport.open(state, key_for(state))
        return local, f"no reader: the card state {state}, run in this process"
    if reader is not None:
        pcsc = PcscTransport.connect(reader)
        return pcsc, f"reader: {pcsc.name}"
    try:
        pcsc = PcscTransport.connect()
    except NoCard as exc:
        if not default_state.exists():
            raise NoCard(
                f"{exc.message}; and no card state at {default_state} "
                "(issue one with `renkei card issue`, or give --state)"
            ) from None
        local = LocalTransport.open(default_state, key_for(default_state))
        return local, f"{exc.message}: using the card state {default_state}, run in this process"
    else:
        return pcsc, f"reader: {pcsc.name}"
