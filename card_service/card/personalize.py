"""Personalization: the commands the municipal desk uses on a blank card, before activation.

Proprietary in the real card's issuance system and unknown here, so ISO 7816 shapes are used;
once the card is activated these instructions do not exist any more (``6D 00``):

- generate key pair, ``00 46 00 00 00 00 00`` with the key EF current: RSA-2048 made on the
  card; the answer is the public key (SubjectPublicKeyInfo, DER); a key is made once.
- update binary, ``00 D6 <offset> <Lc> <data>`` with a binary EF current: write or extend.
- set PIN, ``00 2C 02 80 <Lc> <PIN>`` with the PIN EF current: by its rule, full tries.
- activate, ``00 44 00 00``: every key, PIN and file present → operational.

A private key never leaves the card: no command reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from card_service.card.apdu import (
    SW_CONDITIONS,
    SW_END_OF_FILE,
    SW_OK,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    Command,
    Response,
    require,
)
from card_service.card.keys import generate_key, load_key, public_der
from card_service.card.layout import APPS, EfKind
from card_service.card.state import PinRecord

if TYPE_CHECKING:
    from card_service.card.machine import Card

__all__ = ["COMMANDS", "activate", "generate", "set_pin", "update_binary"]


def generate(card: Card, cmd: Command) -> Response:
    require((cmd.p1, cmd.p2) == (0, 0), SW_WRONG_P1P2, "P1-P2 is 00 00")
    require(not cmd.data and cmd.le is not None, SW_WRONG_LENGTH, "GENERATE is case 2")
    ef = card.current(EfKind.KEY)
    require(ef.fid not in card.data.keys, SW_CONDITIONS, "a key is made once")
    der = generate_key()
    card.data.keys[ef.fid] = der
    card.forget_key(ef.fid)
    card.mark_dirty()
    return Response(public_der(load_key(der)), SW_OK)


def update_binary(card: Card, cmd: Command) -> Response:
    require(not cmd.p1 & 0x80, SW_WRONG_P1P2, "P1-P2 is an offset")
    require(bool(cmd.data) and cmd.le is None, SW_WRONG_LENGTH, "UPDATE is case 3")
    ef = card.current(EfKind.BINARY)
    offset = cmd.p1 << 8 | cmd.p2
    content = card.data.files.get(ef.fid, b"")
    require(offset <= len(content), SW_END_OF_FILE, "a file is written without holes")
    card.data.files[ef.fid] = content[:offset] + cmd.data + content[offset + len(cmd.data) :]
    card.mark_dirty()
    return Response.status(SW_OK)


def set_pin(card: Card, cmd: Command) -> Response:
    require((cmd.p1, cmd.p2) == (0x02, 0x80), SW_WRONG_P1P2, "P1-P2 is 02 80")
    require(bool(cmd.data) and cmd.le is None, SW_WRONG_LENGTH, "SET PIN is case 3")
    ef = card.current(EfKind.PIN)
    assert ef.rule is not None
    require(ef.rule.accepts(cmd.data.decode("latin-1")), SW_WRONG_DATA, "breaks the rule")
    card.data.pins[ef.fid] = PinRecord.new(cmd.data, ef.rule.max_tries)
    card.verified.discard(ef.fid)
    card.mark_dirty()
    return Response.status(SW_OK)


def activate(card: Card, cmd: Command) -> Response:
    require((cmd.p1, cmd.p2) == (0, 0), SW_WRONG_P1P2, "P1-P2 is 00 00")
    require(not cmd.data and cmd.le is None, SW_WRONG_LENGTH, "ACTIVATE is case 1")
    for aid, app in APPS.items():
        data = card.state.apps[aid]
        held: dict[EfKind, set[int]] = {
            EfKind.KEY: set(data.keys),
            EfKind.PIN: set(data.pins),
            EfKind.BINARY: set(data.files),
        }
        missing = [ef for ef in app.efs.values() if ef.fid not in held[ef.kind]]
        require(not missing, SW_CONDITIONS, "the card is not fully personalized")
    card.state.operational = True
    card.mark_dirty()
    card.reset()
    return Response.status(SW_OK)


COMMANDS: dict[tuple[int, int], Callable[[Card, Command], Response]] = {
    (0x00, 0x46): generate,
    (0x00, 0xD6): update_binary,
    (0x00, 0x2C): set_pin,
    (0x00, 0x44): activate,
}
