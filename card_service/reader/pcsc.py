"""PC/SC through pyscard — the only module that imports it, and only on first use.

pyscard is the optional ``card`` extra (it builds against libpcsclite): without it this module
still imports, and the first PC/SC call raises :class:`PcscMissing` saying what to install, so
a card state file run in-process (and everything else) works on a machine with Python alone.

:class:`PcscTransport` talks to a card in a real or virtual reader through pcscd: a shared
connection held in a transaction for its whole life, reset on close (so no PIN verified here
outlives the command that verified it). A failed exchange is told apart by asking pcscd
whether the card is still there: gone means :class:`CardRemoved`, "the card was removed".
"""

from __future__ import annotations

import time
from typing import Any

from card_service.exceptions import CardError, CardRemoved, NoCard, PcscMissing

__all__ = ["INSTALL", "PcscTransport", "card_present", "list_readers", "wait_for_card"]

INSTALL = (
    "apt-get install pcscd vsmartcard-vpcd libpcsclite-dev gcc python3-dev, "
    "then pip install 'renkei[card]'"
)


class _Pyscard:
    """pyscard's ``scard`` module, imported when an attribute is first asked for; each
    attribute is then kept on this object, so later look-ups cost what a module's do."""

    def __getattr__(self, name: str) -> Any:
        try:
            from smartcard import scard as module  # noqa: PLC0415 - optional, on first use
        except ImportError as exc:
            raise PcscMissing(f"PC/SC is not installed here ({exc}): {INSTALL}") from None
        value = getattr(module, name)
        setattr(self, name, value)
        return value


scard: Any = _Pyscard()

_REMOVED = {0x80100069, 0x8010000C}  # SCARD_W_REMOVED_CARD, SCARD_E_NO_SMARTCARD


class _Context:
    def __init__(self) -> None:
        hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise NoCard(
                f"PC/SC is not available ({_message(hresult)}); is pcscd running? "
                "(start it as root: pcscd; install it: apt-get install pcscd)"
            )
        self.ctx: Any = ctx

    def release(self) -> None:
        scard.SCardReleaseContext(self.ctx)

    def readers(self) -> list[str]:
        hresult, names = scard.SCardListReaders(self.ctx, [])
        if hresult == 0x8010002E:  # SCARD_E_NO_READERS_AVAILABLE
            return []
        if hresult != scard.SCARD_S_SUCCESS:
            raise NoCard(f"cannot list the readers ({_message(hresult)})")
        return list(names)

    def state(self, reader: str, known: int = 0, timeout_ms: int = 0) -> int:
        hresult, states = scard.SCardGetStatusChange(self.ctx, timeout_ms, [(reader, known)])
        if hresult not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
            raise NoCard(f"cannot query {reader} ({_message(hresult)})")
        return int(states[0][1])


def _message(hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult).strip()} 0x{hresult & 0xFFFFFFFF:08X}"


def list_readers() -> list[str]:
    ctx = _Context()
    try:
        return ctx.readers()
    finally:
        ctx.release()


def card_present(reader: str) -> bool:
    ctx = _Context()
    try:
        return bool(ctx.state(reader) & scard.SCARD_STATE_PRESENT)
    finally:
        ctx.release()


def wait_for_card(reader: str, timeout: float, *, present: bool = True) -> bool:
    """Wait until a card is (or, with ``present=False``, is no longer) in ``reader``."""
    ctx = _Context()
    try:
        deadline = time.monotonic() + timeout
        known = scard.SCARD_STATE_UNAWARE
        while True:
            left = deadline - time.monotonic()
            state = ctx.state(reader, known, max(0, int(left * 1000)) if known else 0)
            if bool(state & scard.SCARD_STATE_PRESENT) == present and not (
                state & scard.SCARD_STATE_MUTE
            ):
                return True
            if left <= 0:
                return False
            known = state & ~scard.SCARD_STATE_CHANGED
    finally:
        ctx.release()


class PcscTransport:
    def __init__(self, ctx: _Context, reader: str, card: Any, protocol: int, atr: bytes) -> None:
        self._ctx, self._reader, self._card = ctx, reader, card
        self._pci = (
            scard.SCARD_PCI_T1 if protocol == scard.SCARD_PROTOCOL_T1 else (scard.SCARD_PCI_T0)
        )
        self._atr = atr

    @classmethod
    def connect(cls, reader: str | None = None) -> PcscTransport:
        """Connect to ``reader``, or to the first reader holding a card."""
        ctx = _Context()
        try:
            return cls._connect(ctx, reader)
        except BaseException:
            ctx.release()
            raise

    @classmethod
    def _connect(cls, ctx: _Context, reader: str | None) -> PcscTransport:
        names = ctx.readers()
        if reader is None:
            with_card = [n for n in names if ctx.state(n) & scard.SCARD_STATE_PRESENT]
            if not with_card:
                raise NoCard(f"no card in any reader (readers: {', '.join(names) or 'none'})")
            reader = with_card[0]
        elif reader not in names:
            raise NoCard(f"no reader named {reader!r} (readers: {', '.join(names) or 'none'})")
        hresult, card, protocol = scard.SCardConnect(
            ctx.ctx,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hresult != scard.SCARD_S_SUCCESS:
            raise NoCard(f"no card in {reader} ({_message(hresult)})")
        hresult = scard.SCardBeginTransaction(card)
        if hresult != scard.SCARD_S_SUCCESS:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
            raise NoCard(f"the card in {reader} is busy ({_message(hresult)})")
        hresult, _, _, _, atr = scard.SCardStatus(card)
        return cls(ctx, reader, card, protocol, bytes(atr or b""))

    @property
    def name(self) -> str:
        return self._reader

    @property
    def atr(self) -> bytes:
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        if self._card is None:
            raise CardRemoved("the card connection is closed")
        hresult, response = scard.SCardTransmit(self._card, self._pci, list(apdu))
        if hresult == scard.SCARD_S_SUCCESS and len(response) >= 2:
            return bytes(response)
        if hresult in _REMOVED or self._gone():
            raise CardRemoved(f"the card was removed from {self._reader}")
        raise CardError(f"the card in {self._reader} did not answer ({_message(hresult)})")

    def _gone(self) -> bool:
        """Give pcscd a moment to notice a pulled card (it polls about twice a second)."""
        return wait_for_card(self._reader, 2.0, present=False)

    def close(self) -> None:
        if self._card is not None:
            scard.SCardEndTransaction(self._card, scard.SCARD_LEAVE_CARD)
            scard.SCardDisconnect(self._card, scard.SCARD_RESET_CARD)
            self._card = None
            self._ctx.release()
