"""The card as a pure state machine: command APDU bytes in, response APDU bytes out.

:class:`Card` holds the persistent :class:`CardState` and the session (current application,
current EF, PINs verified since the last reset). ``process`` never raises and never does I/O;
after it, ``take_dirty()`` says whether the persistent state changed (a PIN counter, a PIN, a
key, a file, the lifecycle), and the caller must make the state durable **before** the answer
leaves (:class:`card_service.card.persistent.PersistentCard`). Status words follow JPKI-CARD.md;
where it is silent, ISO 7816-4 (each choice is named in README.md).
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from card_service.card import personalize
from card_service.card.apdu import (
    SW_BLOCKED,
    SW_CLA_NOT_SUPPORTED,
    SW_CONDITIONS,
    SW_END_OF_FILE,
    SW_FILE_INCOMPATIBLE,
    SW_INS_NOT_SUPPORTED,
    SW_NO_CURRENT_EF,
    SW_NOT_FOUND,
    SW_OK,
    SW_REFERENCE_NOT_USABLE,
    SW_SECURITY,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    Command,
    Response,
    require,
)
from card_service.card.keys import load_key, sign_pkcs1_type1
from card_service.card.layout import APPS, App, Ef, EfKind
from card_service.card.state import AppData, CardState, PinRecord
from card_service.exceptions import ApduError

__all__ = ["Card"]

SW_REF_NOT_FOUND = 0x6A88
Handler = Callable[["Card", Command], Response]


def _sw(sw: int) -> Response:
    return Response.status(sw)


class Card:
    def __init__(self, state: CardState) -> None:
        self.state = state
        self.app: App | None = None
        self.ef: Ef | None = None
        self.verified: set[int] = set()
        self._dirty = False
        self._keys: dict[tuple[bytes, int], rsa.RSAPrivateKey] = {}

    def __repr__(self) -> str:
        return f"Card(serial={self.state.serial}, operational={self.state.operational})"

    # -- session --------------------------------------------------------------------------

    def reset(self) -> None:
        """Power off, power on or reset: the session's security status is gone."""
        self.app, self.ef, self.verified = None, None, set()

    def take_dirty(self) -> bool:
        dirty, self._dirty = self._dirty, False
        return dirty

    def mark_dirty(self) -> None:
        self._dirty = True

    @property
    def data(self) -> AppData:
        assert self.app is not None
        return self.state.apps[self.app.aid]

    def current(self, kind: EfKind) -> Ef:
        """The current EF if it is of ``kind``; otherwise the command is refused."""
        require(self.ef is not None, SW_NO_CURRENT_EF, "no current EF")
        assert self.ef is not None
        require(self.ef.kind is kind, SW_FILE_INCOMPATIBLE, f"EF is not a {kind.value}")
        return self.ef

    def key(self, fid: int) -> rsa.RSAPrivateKey | None:
        assert self.app is not None
        der = self.data.keys.get(fid)
        if der is None:
            return None
        cached = self._keys.get((self.app.aid, fid))
        if cached is None:
            cached = self._keys[(self.app.aid, fid)] = load_key(der)
        return cached

    def forget_key(self, fid: int) -> None:
        if self.app is not None:
            self._keys.pop((self.app.aid, fid), None)

    # -- dispatch -------------------------------------------------------------------------

    def process(self, raw: bytes) -> bytes:
        try:
            cmd = Command.parse(raw)
        except ApduError as exc:
            return _sw(exc.sw).encode()
        return self.dispatch(cmd).encode()

    def dispatch(self, cmd: Command) -> Response:
        table = _COMMANDS if self.state.operational else _PERSONALIZING
        handler = table.get((cmd.cla, cmd.ins))
        if handler is None:
            known_ins = any(ins == cmd.ins for _, ins in table)
            wrong_cla = cmd.cla not in (0x00, 0x80) or known_ins
            return _sw(SW_CLA_NOT_SUPPORTED if wrong_cla else SW_INS_NOT_SUPPORTED)
        try:
            return handler(self, cmd)
        except ApduError as exc:  # a handler refusing: the status word is the answer
            return _sw(exc.sw)

    # -- commands -------------------------------------------------------------------------

    def select(self, cmd: Command) -> Response:
        require(cmd.p1 in (0x02, 0x04) and cmd.p2 in (0x00, 0x0C), SW_WRONG_P1P2, "P1-P2")
        if cmd.p1 == 0x04:
            require(bool(cmd.data), SW_WRONG_LENGTH, "no AID")
            app = APPS.get(cmd.data)
            require(app is not None, SW_NOT_FOUND, "no such application")
            # selecting an application, the current one too, logs every PIN out: OpenSC 0.24
            # and later log out by re-selecting the JPKI application
            self.app, self.ef, self.verified = app, None, set()
            return _sw(SW_OK)
        require(len(cmd.data) == 2, SW_WRONG_LENGTH, "an EF id is 2 bytes")
        ef = self.app.efs.get(int.from_bytes(cmd.data, "big")) if self.app else None
        require(ef is not None, SW_NOT_FOUND, "no such EF")
        self.ef = ef
        return _sw(SW_OK)

    def read_binary(self, cmd: Command) -> Response:
        require(not cmd.data and cmd.le is not None, SW_WRONG_LENGTH, "READ BINARY is case 2")
        assert cmd.le is not None
        if cmd.p1 & 0x80:  # short EF identifier in P1, offset in P2
            sfi = cmd.p1 & 0x1F
            require(not cmd.p1 & 0x60 and sfi != 0, SW_WRONG_P1P2, "P1 is not an SFI")
            found = self.app.by_sfi(sfi) if self.app else None
            require(found is not None, SW_NOT_FOUND, "no EF with this SFI")
            self.ef, offset = found, cmd.p2
        else:
            offset = cmd.p1 << 8 | cmd.p2
        ef = self.current(EfKind.BINARY)
        require(ef.guard is None or ef.guard in self.verified, SW_SECURITY, "PIN not verified")
        content = self.data.files.get(ef.fid, b"")
        require(offset < len(content), SW_END_OF_FILE, "offset past the end")
        return Response(content[offset : offset + cmd.le], SW_OK)

    def _pin_ef(self, p2: int) -> Ef:
        if p2 == 0x80:
            return self.current(EfKind.PIN)
        require(0x81 <= p2 <= 0x9E, SW_WRONG_P1P2, "P2 is 80 or 80 + SFI")
        found = self.app.by_sfi(p2 & 0x1F) if self.app else None
        require(found is not None and found.kind is EfKind.PIN, SW_REF_NOT_FOUND, "no such PIN")
        assert found is not None
        return found

    def _pin(self, ef: Ef, *, blocked_too: bool = False) -> PinRecord:
        record = self.data.pins.get(ef.fid)
        require(record is not None, SW_REFERENCE_NOT_USABLE, "PIN not set")
        assert record is not None
        require(blocked_too or record.tries_left > 0, SW_BLOCKED, "PIN blocked")
        return record

    def verify(self, cmd: Command) -> Response:
        require(cmd.p1 == 0x00, SW_WRONG_P1P2, "P1 is 00")
        ef = self._pin_ef(cmd.p2)
        require(cmd.le is None, SW_WRONG_LENGTH, "VERIFY has no Le")
        if not cmd.data:  # the tries-left query: 63 Cx even right after a correct PIN, and
            # 63 C0 when blocked (OpenSC's JPKI driver refuses the whole card on 69 83 here)
            return _sw(0x63C0 | self._pin(ef, blocked_too=True).tries_left)
        record = self._pin(ef)
        assert ef.rule is not None
        if record.matches(cmd.data):
            if record.tries_left != ef.rule.max_tries:
                record.tries_left = ef.rule.max_tries
                self.mark_dirty()
            self.verified.add(ef.fid)
            return _sw(SW_OK)
        record.tries_left -= 1
        self.mark_dirty()
        self.verified.discard(ef.fid)
        return _sw(0x63C0 | record.tries_left)

    def change_pin(self, cmd: Command) -> Response:
        require((cmd.p1, cmd.p2) == (0x01, 0x80), SW_WRONG_P1P2, "P1-P2 is 01 80")
        require(bool(cmd.data) and cmd.le is None, SW_WRONG_LENGTH, "CHANGE is case 3")
        ef = self.current(EfKind.PIN)
        self._pin(ef)
        require(ef.fid in self.verified, SW_SECURITY, "PIN not verified")
        assert ef.rule is not None
        require(ef.rule.accepts(cmd.data.decode("latin-1")), SW_WRONG_DATA, "breaks the rule")
        self.data.pins[ef.fid] = PinRecord.new(cmd.data, ef.rule.max_tries)
        self.mark_dirty()
        return _sw(SW_OK)

    def sign(self, cmd: Command) -> Response:
        require((cmd.p1, cmd.p2) == (0x00, 0x80), SW_WRONG_P1P2, "P1-P2 is 00 80")
        require(bool(cmd.data), SW_WRONG_LENGTH, "nothing to sign")
        ef = self.ef
        require(ef is not None and ef.kind is EfKind.KEY, SW_CONDITIONS, "no key selected")
        assert ef is not None
        key = self.key(ef.fid)
        require(key is not None, SW_CONDITIONS, "no key generated")
        assert key is not None
        require(ef.guard in self.verified, SW_SECURITY, "PIN not verified")
        try:
            return Response(sign_pkcs1_type1(key, cmd.data), SW_OK)
        except ValueError:
            return _sw(SW_WRONG_DATA)


_COMMANDS: dict[tuple[int, int], Handler] = {
    (0x00, 0xA4): Card.select,
    (0x00, 0xB0): Card.read_binary,
    (0x00, 0x20): Card.verify,
    (0x00, 0x24): Card.change_pin,
    (0x80, 0x2A): Card.sign,
}
_PERSONALIZING = {**_COMMANDS, **personalize.COMMANDS}
