"""Command and response APDUs (ISO/IEC 7816-3 §12.1, 7816-4 §5): parse and encode, pure.

The four cases, short and extended::

    case 1   CLA INS P1 P2
    case 2S  CLA INS P1 P2 Le                 Le 00 means 256
    case 3S  CLA INS P1 P2 Lc data            Lc 01..FF
    case 4S  CLA INS P1 P2 Lc data Le
    case 2E  CLA INS P1 P2 00 Le1 Le2         Le 0000 means 65536
    case 3E  CLA INS P1 P2 00 Lc1 Lc2 data    Lc 0001..FFFF
    case 4E  CLA INS P1 P2 00 Lc1 Lc2 data Le1 Le2

Anything else — shorter than four bytes, a body that does not match its length byte, an
extended Lc of zero — is ``67 00`` (wrong length), which :class:`ApduError` carries.
``Command.parse(raw).encode() == raw`` for every ``raw`` that parses.
"""

from __future__ import annotations

from dataclasses import dataclass

from card_service.exceptions import ApduError

__all__ = [
    "SW_BLOCKED",
    "SW_CLA_NOT_SUPPORTED",
    "SW_CONDITIONS",
    "SW_END_OF_FILE",
    "SW_FILE_INCOMPATIBLE",
    "SW_INS_NOT_SUPPORTED",
    "SW_MEMORY_FAILURE",
    "SW_NOT_FOUND",
    "SW_NO_CURRENT_EF",
    "SW_OK",
    "SW_REFERENCE_NOT_USABLE",
    "SW_SECURITY",
    "SW_WRONG_DATA",
    "SW_WRONG_LENGTH",
    "SW_WRONG_P1P2",
    "Command",
    "Response",
    "describe_sw",
    "require",
]

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_FILE_INCOMPATIBLE = 0x6981
SW_SECURITY = 0x6982
SW_BLOCKED = 0x6983
SW_REFERENCE_NOT_USABLE = 0x6984
SW_CONDITIONS = 0x6985
SW_NO_CURRENT_EF = 0x6986
SW_WRONG_DATA = 0x6A80
SW_NOT_FOUND = 0x6A82
SW_WRONG_P1P2 = 0x6A86
SW_END_OF_FILE = 0x6B00
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_MEMORY_FAILURE = 0x6581

_MEANING = {
    SW_OK: "success",
    SW_WRONG_LENGTH: "wrong length",
    SW_FILE_INCOMPATIBLE: "command incompatible with the file",
    SW_SECURITY: "security status not satisfied",
    SW_BLOCKED: "PIN blocked",
    SW_REFERENCE_NOT_USABLE: "reference data not usable",
    SW_CONDITIONS: "conditions of use not satisfied",
    SW_NO_CURRENT_EF: "no current file",
    SW_WRONG_DATA: "incorrect data",
    SW_NOT_FOUND: "file or application not found",
    SW_WRONG_P1P2: "incorrect P1-P2",
    SW_END_OF_FILE: "offset past the end of the file",
    SW_INS_NOT_SUPPORTED: "instruction not supported",
    SW_CLA_NOT_SUPPORTED: "class not supported",
    SW_MEMORY_FAILURE: "memory failure",
}


def describe_sw(sw: int) -> str:
    """``'6A 82 (file or application not found)'``; ``63 Cx`` reads as tries left."""
    text = f"{sw >> 8:02X} {sw & 0xFF:02X}"
    if sw & 0xFFF0 == 0x63C0:
        return f"{text} ({sw & 0x0F} tries left)"
    return f"{text} ({_MEANING[sw]})" if sw in _MEANING else text


def require(ok: bool, sw: int, why: str) -> None:
    """Refuse a command with ``sw`` unless ``ok``: the card's handlers raise, its dispatcher
    answers the status word."""
    if not ok:
        raise ApduError(why, sw)


@dataclass(frozen=True, slots=True)
class Command:
    """A command APDU. ``le`` is ``None`` when absent; ``extended`` picks the length form."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    extended: bool = False

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ApduError(f"{name} must be one byte")
        limit_lc, limit_le = (65535, 65536) if self.extended else (255, 256)
        if len(self.data) > limit_lc:
            raise ApduError(f"data of {len(self.data)} bytes needs an extended APDU")
        if self.le is not None and not 1 <= self.le <= limit_le:
            raise ApduError(f"Le {self.le} out of range 1..{limit_le}")
        if self.extended and not self.data and self.le is None:
            raise ApduError("an extended APDU needs data or Le")

    @classmethod
    def build(
        cls, cla: int, ins: int, p1: int, p2: int, *, data: bytes = b"", le: int | None = None
    ) -> Command:
        """The short form when it fits, extended otherwise."""
        extended = len(data) > 255 or (le is not None and le > 256)
        return cls(cla, ins, p1, p2, bytes(data), le, extended)

    @property
    def header(self) -> bytes:
        return bytes((self.cla, self.ins, self.p1, self.p2))

    def encode(self) -> bytes:
        out = bytearray(self.header)
        if self.extended:
            out.append(0)
            if self.data:
                out += len(self.data).to_bytes(2, "big") + self.data
            if self.le is not None:
                out += (self.le % 65536).to_bytes(2, "big")
            return bytes(out)
        if self.data:
            out.append(len(self.data))
            out += self.data
        if self.le is not None:
            out.append(self.le % 256)
        return bytes(out)

    @classmethod
    def parse(cls, raw: bytes) -> Command:
        n = len(raw)
        if n < 4:
            raise ApduError(f"an APDU has at least 4 bytes, got {n}")
        cla, ins, p1, p2 = raw[:4]
        if n == 4:
            return cls(cla, ins, p1, p2)
        if n == 5:
            return cls(cla, ins, p1, p2, le=raw[4] or 256)
        if raw[4]:
            lc = raw[4]
            if n not in (5 + lc, 6 + lc):
                raise ApduError(f"Lc {lc} does not match a body of {n - 5} bytes")
            le = (raw[-1] or 256) if n == 6 + lc else None
            return cls(cla, ins, p1, p2, raw[5 : 5 + lc], le)
        return cls._parse_extended(raw)

    @classmethod
    def _parse_extended(cls, raw: bytes) -> Command:
        n = len(raw)
        cla, ins, p1, p2 = raw[:4]
        if n == 7:
            return cls(cla, ins, p1, p2, le=int.from_bytes(raw[5:7], "big") or 65536, extended=True)
        if n < 7:
            raise ApduError("a 6-byte APDU with a zero length byte is neither short nor extended")
        lc = int.from_bytes(raw[5:7], "big")
        if lc == 0:
            raise ApduError("an extended Lc of zero")
        if n not in (7 + lc, 9 + lc):
            raise ApduError(f"extended Lc {lc} does not match a body of {n - 7} bytes")
        le = (int.from_bytes(raw[-2:], "big") or 65536) if n == 9 + lc else None
        return cls(cla, ins, p1, p2, raw[7 : 7 + lc], le, extended=True)


@dataclass(frozen=True, slots=True)
class Response:
    """A response APDU: data then the status word."""

    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK

    def encode(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    @classmethod
    def parse(cls, raw: bytes) -> Response:
        if len(raw) < 2:
            raise ApduError(f"a response has at least the 2 status bytes, got {len(raw)}")
        return cls(raw[:-2], int.from_bytes(raw[-2:], "big"))

    @classmethod
    def status(cls, sw: int) -> Response:
        return cls(b"", sw)
