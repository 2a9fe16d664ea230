"""Command and response APDUs: the four ISO cases, short and extended, and what does not parse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_service import ApduError, Command, Response, describe_sw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("00A4040C", Command(0x00, 0xA4, 0x04, 0x0C)),
        ("00B0000004", Command(0x00, 0xB0, 0, 0, le=4)),
        ("00B0000000", Command(0x00, 0xB0, 0, 0, le=256)),
        ("00A4020C02000A", Command(0x00, 0xA4, 0x02, 0x0C, b"\x00\x0a")),
        ("802A008003AABBCC00", Command(0x80, 0x2A, 0x00, 0x80, b"\xaa\xbb\xcc", 256)),
        ("00B00000000600", Command(0x00, 0xB0, 0, 0, le=0x600, extended=True)),
        ("00B00000000000", Command(0x00, 0xB0, 0, 0, le=65536, extended=True)),
        ("00D600000000020102", Command(0, 0xD6, 0, 0, b"\x01\x02", extended=True)),
        ("802A0080000002AABB0000", Command(0x80, 0x2A, 0, 0x80, b"\xaa\xbb", 65536, True)),
    ],
)
def test_each_case_parses_and_encodes_back(raw: str, expected: Command) -> None:
    cmd = Command.parse(bytes.fromhex(raw))
    assert cmd == expected
    assert cmd.encode().hex().upper() == raw


@pytest.mark.parametrize(
    "raw",
    [
        "",  # nothing
        "00",  # one byte
        "00A404",  # three bytes: truncated header
        "00A4040C0A D392F0",  # Lc 10, 3 bytes of data: truncated
        "00A4020C02000A0000",  # Lc 2, then 3 more bytes: over-long
        "00B0000000 00",  # 6 bytes with a zero length byte
        "00D60000 000000 AA",  # extended Lc of zero
        "00D60000 000003 0102",  # extended Lc 3, 2 bytes
        "00D60000 000002 010203",  # extended Lc 2, 3 bytes (neither 3E nor 4E)
    ],
)
def test_malformed_apdus_are_wrong_length(raw: str) -> None:
    with pytest.raises(ApduError) as exc:
        Command.parse(bytes.fromhex(raw))
    assert exc.value.sw == 0x6700


def test_build_picks_the_short_form_when_it_fits() -> None:
    assert not Command.build(0, 0xB0, 0, 0, le=256).extended
    assert Command.build(0, 0xB0, 0, 0, le=257).extended
    assert Command.build(0, 0xD6, 0, 0, data=bytes(256)).extended
    assert Command.build(0, 0xD6, 0, 0, data=bytes(256)).encode()[4:7] == b"\x00\x01\x00"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cla": 256, "ins": 0, "p1": 0, "p2": 0},
        {"cla": 0, "ins": 0, "p1": 0, "p2": 0, "data": bytes(256)},
        {"cla": 0, "ins": 0, "p1": 0, "p2": 0, "le": 0},
        {"cla": 0, "ins": 0, "p1": 0, "p2": 0, "le": 257},
        {"cla": 0, "ins": 0, "p1": 0, "p2": 0, "extended": True},
    ],
)
def test_impossible_commands_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ApduError):
        Command(**kwargs)  # type: ignore[arg-type]


def test_responses_and_status_words() -> None:
    r = Response.parse(b"\x01\x02\x90\x00")
    assert r.ok and r.data == b"\x01\x02" and r.encode() == b"\x01\x02\x90\x00"
    assert not Response.parse(bytes.fromhex("6A82")).ok
    with pytest.raises(ApduError):
        Response.parse(b"\x90")
    assert describe_sw(0x63C2) == "63 C2 (2 tries left)"
    assert describe_sw(0x6A82) == "6A 82 (file or application not found)"
    assert describe_sw(0x6F00) == "6F 00"


commands = st.builds(
    Command.build,
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    data=st.binary(max_size=600),
    le=st.none() | st.integers(1, 65536),
)


@given(commands)
def test_every_command_round_trips(cmd: Command) -> None:
    assert Command.parse(cmd.encode()) == cmd


@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_to_themselves_or_are_wrong_length(raw: bytes) -> None:
    try:
        cmd = Command.parse(raw)
    except ApduError as exc:
        sw = exc.sw
    else:
        sw = 0x9000
        assert cmd.encode() == raw
    assert sw in (0x9000, 0x6700)


@given(st.binary(min_size=4, max_size=4), st.binary(min_size=1, max_size=300), st.integers(1, 3))
def test_a_cut_or_padded_body_never_parses_as_the_original(
    header: bytes, data: bytes, cut: int
) -> None:
    raw = Command.build(*header, data=data).encode()
    for bad in (raw[:-cut], raw + bytes(cut)):
        try:
            cmd = Command.parse(bad)
        except ApduError:
            continue
        assert cmd.data != data or cmd.le is not None
