"""Bad input at the APDU level: the status words a real card gives."""

from __future__ import annotations

import pytest
from card_helpers import AUTH_PIN, SELECT_JPKI, fresh, run, select_ef, verify
from hypothesis import given, settings
from hypothesis import strategies as st

from card_service import Card, CardState

OK = 0x9000


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 02", 0x6A82),  # unknown AID
        ("00 A4 04 0C 05 A0 00 00 00 03", 0x6A82),
        ("00 A4 04 0C 0A D3 92 F0", 0x6700),  # truncated
        ("00 A4 04", 0x6700),  # shorter than a header
        ("00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01 00 00", 0x6700),  # over-long
        ("00 A4 04 0C", 0x6700),  # select without an AID
        ("00 A4 08 0C 02 3F 00", 0x6A86),  # select by path: wrong P1
        ("00 A4 04 01 0A D3 92 F0 00 26 01 00 00 00 01", 0x6A86),  # wrong P2
        ("10 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01", 0x6E00),  # wrong CLA (chaining bit)
        ("80 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01", 0x6E00),  # CLA 80 is for sign only
        ("00 2A 00 80 01 00", 0x6E00),  # sign with CLA 00
        ("00 CA 00 00 00", 0x6D00),  # GET DATA: not on this card
        ("00 46 00 00 00 00 00", 0x6D00),  # key generation is gone after issuance
        ("00 D6 00 00 01 00", 0x6D00),  # so is UPDATE BINARY
        ("00 44 00 00", 0x6D00),  # and ACTIVATE
        ("00 A4 02 0C 02 00 0A", 0x6A82),  # an EF with no application selected
        ("00 B0 00 00 04", 0x6986),  # read with no current EF
    ],
)
def test_at_power_on(card: Card, apdu: str, sw: int) -> None:
    assert run(card, apdu)[1] == sw


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00 A4 02 0C 02 00 99", 0x6A82),  # unknown EF
        ("00 A4 02 0C 02 00 11", 0x6A82),  # an EF of the other application
        ("00 A4 02 0C 03 00 0A 00", 0x6700),  # an EF id is two bytes
        ("00 A4 02 0C 01 0A", 0x6700),
        ("00 B0 9F 00 00", 0x6A82),  # SFI 1F: no such EF
        ("00 B0 C1 00 00", 0x6A86),  # P1 is neither an offset nor an SFI
        ("00 B0 00 00 02 00 0A 00", 0x6700),  # READ BINARY with data
        ("00 B0 00 00", 0x6700),  # READ BINARY without Le
        ("00 20 01 80", 0x6A86),  # VERIFY with P1 01
        ("00 20 00 01", 0x6A86),  # VERIFY with P2 01
        ("00 20 00 80", 0x6986),  # VERIFY with no current EF
        ("00 24 00 80 04 31323334", 0x6A86),  # CHANGE with old+new (P1 00): not supported
        ("80 2A 00 80 03 010203 00", 0x6985),  # sign without a selected key
        ("80 2A 01 80 03 010203 00", 0x6A86),  # sign with wrong P1
    ],
)
def test_in_the_jpki_application(card: Card, apdu: str, sw: int) -> None:
    run(card, SELECT_JPKI)
    assert run(card, apdu)[1] == sw


def test_signing_without_the_pin_and_with_the_wrong_key_file(card: Card) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(0x0017))
    assert run(card, "80 2A 00 80 03 010203 00")[1] == 0x6982  # no PIN
    run(card, select_ef(0x0018))
    run(card, verify(AUTH_PIN))
    run(card, select_ef(0x001A))
    assert run(card, "80 2A 00 80 03 010203 00")[1] == 0x6982  # the signature key: its own PIN
    run(card, select_ef(0x000A))
    assert run(card, "80 2A 00 80 03 010203 00")[1] == 0x6985  # a certificate is not a key
    run(card, select_ef(0x0017))
    assert run(card, "80 2A 00 80")[1] == 0x6700  # nothing to sign
    too_long = "F6" + "00" * 246
    assert run(card, f"80 2A 00 80 {too_long} 00")[1] == 0x6A80  # over k - 11 bytes
    assert run(card, "80 2A 00 80 03 010203 00")[1] == OK


def test_verify_with_le_is_wrong_length(card: Card) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(0x0018))
    assert run(card, "00 20 00 80 00")[1] == 0x6700
    assert run(card, "00 20 00 80 04 31323334 00")[1] == 0x6700
    assert run(card, "00 20 00 80")[1] == 0x63C3  # no try was spent


def test_a_wrongly_formatted_pin_is_just_a_wrong_pin_to_the_card(card: Card) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(0x0018))
    assert run(card, verify("12345"))[1] == 0x63C2  # the client refuses it before this


def test_a_blank_card_refuses_everything_until_personalized() -> None:
    blank = Card(CardState.blank())
    run(blank, SELECT_JPKI)
    run(blank, select_ef(0x0018))
    assert run(blank, verify(AUTH_PIN))[1] == 0x6984  # no PIN set yet
    run(blank, select_ef(0x0017))
    assert run(blank, "80 2A 00 80 03 010203 00")[1] == 0x6985  # no key yet
    assert run(blank, "00 44 00 00")[1] == 0x6985  # cannot activate an empty card
    run(blank, select_ef(0x0017))
    assert run(blank, "00 46 00 00 00 00 00")[0][:1] == b"\x30"
    assert run(blank, "00 46 00 00 00 00 00")[1] == 0x6985  # a key is made once
    run(blank, select_ef(0x000A))
    assert run(blank, "00 D6 00 05 01 AA")[1] == 0x6B00  # no holes
    assert run(blank, "00 D6 00 00 02 AABB")[1] == OK
    run(blank, select_ef(0x0018))
    assert run(blank, "00 2C 02 80 03 313233")[1] == 0x6A80  # breaks the rule
    assert run(blank, "00 2C 02 80 04 31323334")[1] == OK


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.builds(
                lambda ins, p1, p2, data: bytes((0x00, ins, p1, p2, len(data))) + data,
                st.sampled_from([0xA4, 0xB0, 0x20, 0x24, 0x2C, 0x46, 0xD6, 0x44]),
                st.integers(0, 255),
                st.integers(0, 255),
                st.binary(min_size=1, max_size=20),
            ),
            st.sampled_from([SELECT_JPKI, select_ef(0x0018), select_ef(0x0017)]).map(bytes.fromhex),
        ),
        max_size=25,
    )
)
def test_no_sequence_of_apdus_crashes_the_card_or_raises_a_counter(apdus: list[bytes]) -> None:
    card = fresh()
    for apdu in apdus:
        answer = card.process(apdu)
        assert len(answer) >= 2
    for data in card.state.apps.values():
        for record in data.pins.values():
            assert record.tries_left <= 5
    assert card.state.operational  # no personalization command exists any more
