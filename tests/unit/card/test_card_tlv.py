"""BER-TLV as the card writes it, and as real cards write it (loose BER)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_service import TlvError
from card_service.card import tlv


def test_a_simple_item_and_the_number_file() -> None:
    raw = bytes.fromhex("DF100C") + b"123456789018"
    item, end = tlv.decode_one(raw)
    assert (item.tag, item.value, end) == (b"\xdf\x10", b"123456789018", 15)
    assert tlv.encode(b"\xdf\x10", b"123456789018") == raw


@pytest.mark.parametrize(
    ("length", "encoded"),
    [(0, "00"), (127, "7F"), (128, "8180"), (255, "81FF"), (256, "820100"), (70000, "83011170")],
)
def test_lengths_are_written_shortest(length: int, encoded: str) -> None:
    assert tlv.encode_length(length).hex().upper() == encoded


def test_loose_ber_from_real_cards_is_read() -> None:
    # DF 10: a two-byte tag for number 16 (DER: D0); DF 21, DF 22: numbers 33 and 34, two bytes
    # in any encoding; long-form lengths with leading zeros
    raw = bytes.fromhex("DF 10 81 01 AA DF 21 82 00 02 AB CD DF 22 84 00 00 00 01 EE")
    items = tlv.decode(raw)
    assert [(i.tag.hex(), i.value.hex()) for i in items] == [
        ("df10", "aa"),
        ("df21", "abcd"),
        ("df22", "ee"),
    ]
    with pytest.raises(TlvError, match="D0 is missing"):  # matched as written, not as DER
        tlv.find(items, b"\xd0")


def test_constructed_items_and_find() -> None:
    inner = tlv.encode(b"\xdf\x22", "名前".encode()) + tlv.encode(b"\xdf\x25", b"2")
    outer, _ = tlv.decode_one(tlv.encode(b"\xff\x20", inner) + b"\xff\xff")  # padding after
    assert outer.constructed
    assert tlv.find(outer.children(), b"\xdf\x25") == b"2"
    with pytest.raises(TlvError, match="DF26 is missing"):
        tlv.find(outer.children(), b"\xdf\x26")
    with pytest.raises(TlvError, match="primitive"):
        outer.children()[0].children()


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "data ends"),
        ("DF", "tag is truncated"),
        ("DF10", "no length"),
        ("DF1005AABB", "claims 5 bytes, 2 remain"),
        ("3080", "indefinite"),
        ("30850000000001", "more than 4 bytes"),
        ("3082 01", "length is truncated"),
        ("1F818181 01 00", "more than 4 bytes"),
    ],
)
def test_broken_tlv_is_refused_with_a_reason(raw: str, why: str) -> None:
    with pytest.raises(TlvError, match=why):
        tlv.decode_one(bytes.fromhex(raw))


@pytest.mark.parametrize("tag", [b"", b"\xdf", b"\x1f\x81", b"\x30\x01", b"\x1f\x81\x81\x81\x01"])
def test_malformed_tags_are_not_encoded(tag: bytes) -> None:
    with pytest.raises(TlvError):
        tlv.encode(tag, b"")


low_tags = st.integers(0, 255).filter(lambda b: b & 0x1F != 0x1F).map(lambda b: bytes((b,)))
high_tags = st.builds(
    lambda first, middle, last: bytes((first | 0x1F,)) + middle + bytes((last,)),
    st.integers(0, 255),
    st.lists(st.integers(0x80, 0xFF), max_size=2).map(bytes),
    st.integers(0, 0x7F),
)
items = st.tuples(low_tags | high_tags, st.binary(max_size=400))


@given(st.lists(items, max_size=6))
def test_encode_then_decode_gives_the_items_back(pairs: list[tuple[bytes, bytes]]) -> None:
    raw = b"".join(tlv.encode(t, v) for t, v in pairs)
    assert [(i.tag, i.value) for i in tlv.decode(raw)] == pairs


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_tlv_error_only(raw: bytes) -> None:
    try:
        decoded = tlv.decode(raw)
    except TlvError:
        return
    assert sum(len(i.encode()) for i in decoded) <= len(raw)  # loose lengths shrink, never grow
