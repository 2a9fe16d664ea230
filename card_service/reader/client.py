"""The card's client side: APDUs out, status words turned into errors a person can act on.

Reads use short APDUs only (``Le 00`` = 256-byte chunks until a short chunk or ``6B 00``),
which every reader supports. A PIN is checked against its rule before it is sent, so a PIN
that cannot be right never spends one of the card's tries.
"""

from __future__ import annotations

from card_service.card.apdu import (
    SW_BLOCKED,
    SW_END_OF_FILE,
    SW_NOT_FOUND,
    SW_OK,
    SW_SECURITY,
    Command,
    Response,
    describe_sw,
)
from card_service.card.layout import App
from card_service.card.pins import PinRule, check_pin
from card_service.exceptions import (
    CardStatusError,
    NoSuchFile,
    PinBlocked,
    SecurityNotSatisfied,
    WrongPin,
)
from card_service.reader.transport import Transport

__all__ = ["CardClient", "blocked_message"]


def blocked_message(rule: PinRule) -> str:
    return f"{rule.label} blocked: ask the municipality to reset it"


class CardClient:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def send(self, cmd: Command) -> Response:
        return Response.parse(self.transport.transmit(cmd.encode()))

    def expect(self, cmd: Command, what: str) -> bytes:
        """The data of a ``90 00`` answer, or the error its status word means."""
        resp = self.send(cmd)
        if resp.sw == SW_OK:
            return resp.data
        if resp.sw == SW_NOT_FOUND:
            raise NoSuchFile(f"{what}: not on this card")
        if resp.sw == SW_SECURITY:
            raise SecurityNotSatisfied(f"{what}: the card wants the PIN first")
        raise CardStatusError(f"{what}: the card answered {describe_sw(resp.sw)}", resp.sw)

    def select_app(self, app: App) -> None:
        try:
            self.expect(Command(0x00, 0xA4, 0x04, 0x0C, app.aid), f"select {app.name}")
        except NoSuchFile:
            raise NoSuchFile(
                f"this card has no {app.name} application: is it an individual number card?"
            ) from None

    def has_app(self, app: App) -> bool:
        return self.send(Command(0x00, 0xA4, 0x04, 0x0C, app.aid)).sw == SW_OK

    def select_ef(self, fid: int) -> None:
        self.expect(Command(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")), f"EF {fid:04X}")

    def read_current(self, what: str) -> bytes:
        out = bytearray()
        while True:
            resp = self.send(Command(0x00, 0xB0, len(out) >> 8, len(out) & 0xFF, le=256))
            if resp.sw == SW_END_OF_FILE and out:
                return bytes(out)
            if resp.sw != SW_OK:
                if resp.sw == SW_SECURITY:
                    raise SecurityNotSatisfied(f"{what}: the card wants the PIN first")
                raise CardStatusError(f"{what}: the card answered {describe_sw(resp.sw)}", resp.sw)
            out += resp.data
            if len(resp.data) < 256 or len(out) > 0x7FFF - 256:
                return bytes(out)

    def read_ef(self, fid: int, what: str) -> bytes:
        self.select_ef(fid)
        return self.read_current(what)

    def tries_left(self, pin_fid: int) -> int:
        """Tries left on the PIN in ``pin_fid`` of the current application; 0 when blocked."""
        self.select_ef(pin_fid)
        resp = self.send(Command(0x00, 0x20, 0x00, 0x80))
        if resp.sw & 0xFFF0 == 0x63C0:
            return resp.sw & 0x0F
        if resp.sw == SW_BLOCKED:
            return 0
        raise CardStatusError(
            f"PIN {pin_fid:04X}: the card answered {describe_sw(resp.sw)}", resp.sw
        )

    def verify(self, pin_fid: int, rule: PinRule, pin: str) -> None:
        data = check_pin(rule, pin)
        self.select_ef(pin_fid)
        resp = self.send(Command(0x00, 0x20, 0x00, 0x80, data))
        if resp.sw == SW_OK:
            return
        if resp.sw in (SW_BLOCKED, 0x63C0):
            raise PinBlocked(blocked_message(rule))
        if resp.sw & 0xFFF0 == 0x63C0:
            left = resp.sw & 0x0F
            raise WrongPin(
                f"wrong {rule.label}: {left} {'try' if left == 1 else 'tries'} left", left
            )
        raise CardStatusError(f"{rule.label}: the card answered {describe_sw(resp.sw)}", resp.sw)

    def change_pin(self, pin_fid: int, rule: PinRule, old: str, new: str) -> None:
        new_data = check_pin(rule, new)
        self.verify(pin_fid, rule, old)
        self.expect(Command(0x00, 0x24, 0x01, 0x80, new_data), f"change the {rule.label}")

    def sign(self, key_fid: int, data: bytes) -> bytes:
        """The card's signature over ``data`` (a DigestInfo) with the key in ``key_fid``."""
        self.select_ef(key_fid)
        return self.expect(Command(0x80, 0x2A, 0x00, 0x80, data, le=256), "sign")
