"""The JPKI application, APDU by APDU, as JPKI-CARD.md describes a real card."""

from __future__ import annotations

import hashlib

import pytest
from card_helpers import (
    AUTH_PIN,
    FACE_PIN,
    SELECT_FACE,
    SELECT_JPKI,
    SIGN_PIN,
    run,
    select_ef,
    verify,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from card_service import Card
from card_service.card.texts import decode_facts, decode_number
from card_service.reader.jpki import SHA256_DIGEST_INFO

OK = 0x9000


def read_all_in_chunks(card: Card, chunk: int = 255) -> bytes:
    """The 'read 255-byte chunks until 6B 00' reader."""
    out = b""
    while True:
        data, sw = run(card, f"00 B0 {len(out) >> 8:02X} {len(out) & 0xFF:02X} {chunk:02X}")
        if sw == 0x6B00:
            return out
        assert sw == OK
        out += data


def test_select_by_aid_and_ef(card: Card) -> None:
    assert run(card, SELECT_JPKI) == (b"", OK)
    assert run(card, select_ef(0x000A)) == (b"", OK)
    assert run(card, SELECT_FACE) == (b"", OK)
    assert run(card, "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 02") == (b"", OK)  # card face


def test_the_token(card: Card) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(0x0006))
    assert run(card, "00 B0 00 00 20") == (b"JPKIAPICCTOKEN2" + b" " * 17, OK)


@pytest.mark.parametrize("fid", [0x000A, 0x000B, 0x0002])
def test_every_reader_style_reads_the_same_certificate(card: Card, fid: int) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(fid))
    head, sw = run(card, "00 B0 00 00 04")  # OpenSC: 4 bytes, then the rest
    assert sw == OK and head[:2] == b"\x30\x82"
    size = 4 + int.from_bytes(head[2:4], "big")
    rest = b""
    while len(head) + len(rest) < size:
        off = len(head) + len(rest)
        n = min(256, size - off)
        data, sw = run(card, f"00 B0 {off >> 8:02X} {off & 0xFF:02X} {n % 256:02X}")
        assert sw == OK
        rest += data
    openssc = head + rest
    seven, _ = run(card, "00 B0 00 00 07")  # 7 bytes first
    assert seven == openssc[:7]
    whole, sw = run(card, f"00 B0 00 04 00 {size - 4:04X}")  # the rest in one extended Le
    assert (head + whole, sw) == (openssc, OK)
    assert read_all_in_chunks(card) == openssc  # 255-byte chunks until 6B 00
    every, sw = run(card, "00 B0 00 00 00 00 00")  # Le 65536: all there is, 90 00
    assert (every, sw) == (openssc, OK)
    by_sfi, sw = run(card, f"00 B0 {0x80 | fid:02X} 00 00 00 00")  # short EF id in P1
    assert (by_sfi, sw) == (openssc, OK)
    assert len(openssc) == size
    x509.load_der_x509_certificate(openssc)


def test_le_larger_than_the_file_gives_what_there_is_and_past_the_end_6b00(card: Card) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(0x0006))
    assert run(card, "00 B0 00 00 00") == (b"JPKIAPICCTOKEN2" + b" " * 17, OK)  # Le 256 > 32
    assert run(card, "00 B0 00 1E 10")[0] == b"  "
    assert run(card, "00 B0 00 20 01") == (b"", 0x6B00)
    assert run(card, "00 B0 7F FF 01") == (b"", 0x6B00)


def test_the_retry_query_is_always_63cx(card: Card) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(0x0018))
    assert run(card, "00 20 00 80")[1] == 0x63C3
    assert run(card, verify(AUTH_PIN))[1] == OK
    assert run(card, "00 20 00 80")[1] == 0x63C3  # even right after a correct PIN
    run(card, select_ef(0x001B))
    assert run(card, "00 20 00 80")[1] == 0x63C5


def test_wrong_pins_count_down_then_block(card: Card) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(0x0018))
    assert [run(card, verify("0000"))[1] for _ in range(3)] == [0x63C2, 0x63C1, 0x63C0]
    assert run(card, verify(AUTH_PIN))[1] == 0x6983  # blocked: the right PIN too
    assert card.take_dirty()


def test_the_tries_left_query_of_a_blocked_pin_is_63c0(card: Card) -> None:
    """OpenSC's JPKI driver asks every PIN's tries when it binds the card and reads only
    ``63 Cx``: a ``69 83`` there made it refuse the whole card, its free certificates and the
    other, unblocked key included. A VERIFY that carries a PIN still answers ``69 83``."""
    run(card, SELECT_JPKI)
    run(card, select_ef(0x0018))
    for _ in range(3):
        run(card, verify("0000"))
    assert run(card, "00 20 00 80")[1] == 0x63C0
    assert run(card, "00 20 00 98")[1] == 0x63C0  # by short EF identifier too
    assert run(card, verify(AUTH_PIN))[1] == 0x6983
    assert run(card, "00 20 00 80")[1] == 0x63C0  # asking spends nothing, changes nothing
    run(card, select_ef(0x001B))
    assert run(card, "00 20 00 80")[1] == 0x63C5  # the signature PIN is untouched
    assert run(card, verify(SIGN_PIN))[1] == OK


def test_a_correct_pin_restores_the_tries(card: Card) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(0x001B))
    run(card, verify("WRONG1"))
    run(card, verify("WRONG2"))
    assert run(card, "00 20 00 80")[1] == 0x63C3
    card.take_dirty()
    assert run(card, verify(SIGN_PIN))[1] == OK
    assert card.take_dirty()  # back to 5: saved
    assert run(card, "00 20 00 80")[1] == 0x63C5
    assert run(card, verify(SIGN_PIN))[1] == OK
    assert not card.take_dirty()  # nothing changed: nothing to save


def test_verify_by_short_ef_identifier_in_p2(card: Card) -> None:
    run(card, SELECT_JPKI)
    assert run(card, "00 20 00 98")[1] == 0x63C3  # 80 + 18
    assert run(card, f"00 20 00 9B {len(SIGN_PIN):02X} {SIGN_PIN.encode().hex()}")[1] == OK
    assert run(card, "00 20 00 8A")[1] == 0x6A88  # 000A is not a PIN


def test_the_signature_certificate_only_after_the_signature_pin(card: Card) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(0x0001))
    assert run(card, "00 B0 00 00 04") == (b"", 0x6982)
    run(card, select_ef(0x0018))
    run(card, verify(AUTH_PIN))  # the wrong PIN for this file
    run(card, select_ef(0x0001))
    assert run(card, "00 B0 00 00 04")[1] == 0x6982
    run(card, select_ef(0x001B))
    run(card, verify(SIGN_PIN))
    run(card, select_ef(0x0001))
    assert run(card, "00 B0 00 00 04")[1] == OK
    card.reset()  # power off and on: the session's security status is gone
    run(card, SELECT_JPKI)
    run(card, select_ef(0x0001))
    assert run(card, "00 B0 00 00 04")[1] == 0x6982


def _cert_key(card: Card, fid: int) -> rsa.RSAPublicKey:
    """The key of the certificate in ``fid`` of the current application."""
    run(card, select_ef(fid))
    der, _ = run(card, "00 B0 00 00 00 00 00")
    key = x509.load_der_x509_certificate(der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


@pytest.mark.parametrize(
    ("key", "pin_ef", "pin", "cert"),
    [(0x0017, 0x0018, AUTH_PIN, 0x000A), (0x001A, 0x001B, SIGN_PIN, 0x0001)],
)
def test_the_card_pads_and_signs_a_digest_info(
    card: Card, key: int, pin_ef: int, pin: str, cert: int
) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(pin_ef))
    assert run(card, verify(pin))[1] == OK
    public = _cert_key(card, cert)
    run(card, select_ef(key))
    message = b"an electronic application"
    di = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    sig, sw = run(card, f"80 2A 00 80 {len(di):02X} {di.hex()} 00")
    assert sw == OK and len(sig) == 256
    public.verify(sig, message, padding.PKCS1v15(), hashes.SHA256())


def test_a_key_cannot_be_read(card: Card) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(0x0018))
    run(card, verify(AUTH_PIN))
    run(card, select_ef(0x0017))
    assert run(card, "00 B0 00 00 00")[1] == 0x6981
    run(card, select_ef(0x0018))
    assert run(card, "00 B0 00 00 00")[1] == 0x6981


def test_change_pin_after_verify(card: Card) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(0x0018))
    assert run(card, "00 24 01 80 04 39393939")[1] == 0x6982  # not verified yet
    run(card, verify(AUTH_PIN))
    assert run(card, "00 24 01 80 03 393939")[1] == 0x6A80  # breaks the rule
    assert run(card, "00 24 01 80 04 39393939")[1] == OK
    card.reset()
    run(card, SELECT_JPKI)
    run(card, select_ef(0x0018))
    assert run(card, verify(AUTH_PIN))[1] == 0x63C2
    assert run(card, verify("9999"))[1] == OK


def test_the_card_face_input_support_application(card: Card) -> None:
    run(card, SELECT_FACE)
    run(card, select_ef(0x0001))
    assert run(card, "00 B0 00 00 00")[1] == 0x6982
    run(card, select_ef(0x0005))
    assert run(card, "00 B0 00 00 00")[1] == OK  # application info is free
    run(card, select_ef(0x0011))
    assert run(card, "00 20 00 80")[1] == 0x63C3
    assert run(card, verify(FACE_PIN))[1] == OK
    run(card, select_ef(0x0001))
    raw, sw = run(card, "00 B0 00 00 00")
    assert sw == OK and raw[:3] == bytes.fromhex("DF100C")
    assert decode_number(raw) == "123456789018"
    run(card, select_ef(0x0002))
    raw, _ = run(card, "00 B0 00 00 00 00 00")
    assert raw[:2] == b"\xff\x20"
    assert decode_facts(raw) == (
        "番号 花子",
        "東京都千代田区霞が関二丁目1番2号",
        "19850615",
        "2",
    )


def test_pins_belong_to_their_application(card: Card) -> None:
    run(card, SELECT_JPKI)
    run(card, select_ef(0x001B))
    run(card, verify(SIGN_PIN))
    run(card, SELECT_FACE)
    run(card, SELECT_JPKI)  # another application was selected in between
    run(card, select_ef(0x0001))
    assert run(card, "00 B0 00 00 04")[1] == 0x6982


def test_selecting_the_application_again_logs_the_pins_out(card: Card) -> None:
    """OpenSC 0.24 and later log out by re-selecting the JPKI application."""
    run(card, SELECT_JPKI)
    run(card, select_ef(0x001B))
    assert run(card, verify(SIGN_PIN))[1] == OK
    run(card, select_ef(0x0018))
    assert run(card, verify(AUTH_PIN))[1] == OK
    run(card, SELECT_JPKI)  # the same application, nothing in between
    run(card, select_ef(0x0001))
    assert run(card, "00 B0 00 00 04")[1] == 0x6982
    run(card, select_ef(0x0017))
    di = SHA256_DIGEST_INFO + hashlib.sha256(b"x").digest()
    assert run(card, f"80 2A 00 80 {len(di):02X} {di.hex()} 00")[1] == 0x6982
    run(card, select_ef(0x0018))
    assert run(card, "00 24 01 80 04 39393939")[1] == 0x6982  # no CHANGE either
