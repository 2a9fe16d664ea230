"""BER-TLV as the card writes it, pure: tags kept as their raw bytes, loose lengths accepted.

Real cards write "loose BER": two-byte tags for numbers below 31 (``DF 10``, the number's tag,
is tag number 16, which DER writes in one byte, ``D0``; ``DF 21`` to ``DF 25`` are numbers 33
to 37, which need the two bytes in any encoding) and long-form lengths with leading zeros.
The decoder accepts both, so a reader
written for real cards reads ours; the encoder writes the shortest length, which is what
simple readers expect. Tags are matched as byte strings (``b"\\xdf\\x21"``), the way readers of
this card match them. Indefinite lengths (``80``) and lengths over four bytes are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from card_service.exceptions import TlvError

__all__ = ["Tlv", "decode", "decode_one", "encode", "encode_length", "find", "iterate"]

_MAX_TAG = 4


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: bytes
    value: bytes

    @property
    def constructed(self) -> bool:
        return bool(self.tag[0] & 0x20)

    def encode(self) -> bytes:
        return encode(self.tag, self.value)

    def children(self) -> list[Tlv]:
        if not self.constructed:
            raise TlvError(f"tag {self.tag.hex().upper()} is primitive")
        return decode(self.value)


def _check_tag(tag: bytes) -> None:
    if not tag or len(tag) > _MAX_TAG:
        raise TlvError("a tag has 1 to 4 bytes")
    multi = tag[0] & 0x1F == 0x1F
    if not multi:
        if len(tag) != 1:
            raise TlvError("a low tag number is one byte")
        return
    if len(tag) < 2 or any(b & 0x80 == 0 for b in tag[1:-1]) or tag[-1] & 0x80:
        raise TlvError("a high tag number is continued by bytes with bit 8 set, the last clear")


def encode_length(n: int) -> bytes:
    if n < 0 or n > 0xFFFFFFFF:
        raise TlvError("length out of range")
    if n < 0x80:
        return bytes((n,))
    size = (n.bit_length() + 7) // 8
    return bytes((0x80 | size,)) + n.to_bytes(size, "big")


def encode(tag: bytes, value: bytes) -> bytes:
    _check_tag(tag)
    return tag + encode_length(len(value)) + value


def _tag_end(buf: bytes, offset: int) -> int:
    end = len(buf)
    i = offset + 1
    if buf[offset] & 0x1F != 0x1F:
        return i
    while True:
        if i >= end:
            raise TlvError("the tag is truncated")
        i += 1
        if not buf[i - 1] & 0x80:
            return i
        if i - offset >= _MAX_TAG:
            raise TlvError("a tag of more than 4 bytes")


def _length(buf: bytes, i: int) -> tuple[int, int]:
    """The length at ``i`` and the offset of the value; leading zeros accepted."""
    first = buf[i]
    if first < 0x80:
        return first, i + 1
    if first == 0x80:
        raise TlvError("indefinite length is not used on this card")
    size = first & 0x7F
    if size > 4:
        raise TlvError("a length of more than 4 bytes")
    if i + 1 + size > len(buf):
        raise TlvError("the length is truncated")
    return int.from_bytes(buf[i + 1 : i + 1 + size], "big"), i + 1 + size


def decode_one(buf: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """The TLV at ``offset`` and the offset just after it."""
    if offset >= len(buf):
        raise TlvError("no tag: the data ends")
    i = _tag_end(buf, offset)
    tag = bytes(buf[offset:i])
    if i >= len(buf):
        raise TlvError(f"tag {tag.hex().upper()} has no length")
    length, i = _length(buf, i)
    if i + length > len(buf):
        raise TlvError(f"tag {tag.hex().upper()} claims {length} bytes, {len(buf) - i} remain")
    return Tlv(tag, bytes(buf[i : i + length])), i + length


def iterate(buf: bytes) -> Iterator[Tlv]:
    offset = 0
    while offset < len(buf):
        item, offset = decode_one(buf, offset)
        yield item


def decode(buf: bytes) -> list[Tlv]:
    """Every TLV in ``buf``, which must hold nothing else."""
    return list(iterate(buf))


def find(items: list[Tlv], tag: bytes) -> bytes:
    """The value of the first item with ``tag``."""
    for item in items:
        if item.tag == tag:
            return item.value
    raise TlvError(f"tag {tag.hex().upper()} is missing")
