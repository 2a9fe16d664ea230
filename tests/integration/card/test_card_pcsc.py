"""The emulated card through the real stack: pyscard → pcscd → vpcd → the emulator."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from card_env import (
    AUTH_PIN,
    FACE_PIN,
    OPENSSL,
    SIGN_PIN,
    Ca,
    Emulator,
    connected,
    inserted,
    issue_card_file,
    tx,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from proc_env import READER, require_pcsc

from card_service import (
    ATR,
    CardRemoved,
    PersistentCard,
    PinBlocked,
    PinFormatError,
    WrongPin,
    jpki,
)

pytestmark = pytest.mark.pcsc
JPKI = "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01"


@pytest.fixture(scope="module")
async def issued(ca: Ca, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_pcsc()
    path = tmp_path_factory.mktemp("issued") / "card.state"
    await issue_card_file(ca, path)
    return path


@pytest.fixture
def card_file(issued: Path, tmp_path: Path) -> Path:
    """A copy of the issued card for this test (counters start full)."""
    path = tmp_path / "card.state"
    for suffix in ("", ".key"):
        shutil.copy2(f"{issued}{suffix}", f"{path}{suffix}")
    return path


@pytest.fixture
def emulator(card_file: Path) -> Iterator[Emulator]:
    with inserted(card_file) as emu:
        yield emu


def test_the_reader_shows_the_real_atr_and_the_applications(emulator: Emulator) -> None:
    with connected() as client:
        assert client.transport.name == READER
        assert client.transport.atr == ATR == bytes.fromhex("3BE000FF8131FE4514")
        info = jpki.info(client)
    assert info.applications == ["JPKI", "card-face input support", "card face"]
    assert info.tries == {
        "authentication PIN": 3,
        "signature PIN": 5,
        "card-face input support PIN": 3,
    }
    assert info.token == "JPKIAPICCTOKEN2"


def test_every_reader_style_reads_the_certificate_through_pcscd(emulator: Emulator) -> None:
    with connected() as client:
        tx(client, JPKI)
        tx(client, "00 A4 02 0C 02 00 0A")
        head, sw = tx(client, "00 B0 00 00 04")
        assert sw == 0x9000 and head[:2] == b"\x30\x82"
        size = 4 + int.from_bytes(head[2:], "big")
        rest, sw = tx(client, f"00 B0 00 04 00 {size - 4:04X}")  # extended Le through pcscd
        assert sw == 0x9000
        cert = head + rest
        chunks = b""
        while True:
            data, sw = tx(client, f"00 B0 {len(chunks) >> 8:02X} {len(chunks) & 0xFF:02X} FF")
            if sw == 0x6B00:
                break
            chunks += data
        assert chunks == cert == client.read_ef(0x000A, "auth certificate")
        assert tx(client, "00 B0 8A 00 00 00 00") == (cert, 0x9000)  # by SFI, Le 65536
    x509.load_der_x509_certificate(cert)


def _openssl_verify(cert_der: bytes, sig: bytes, doc: Path, tmp: Path) -> str:
    pub = x509.load_der_x509_certificate(cert_der).public_key()
    (tmp / "pub.pem").write_bytes(
        pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp / "sig.bin").write_bytes(sig)
    done = subprocess.run(
        [
            OPENSSL,
            "dgst",
            "-sha256",
            "-verify",
            tmp / "pub.pem",
            "-signature",
            tmp / "sig.bin",
            doc,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


@pytest.mark.parametrize(("kind", "pin"), [("auth", AUTH_PIN), ("sign", SIGN_PIN)])
def test_signatures_through_pcscd_verify_with_openssl(
    emulator: Emulator, tmp_path: Path, kind: str, pin: str
) -> None:
    doc = tmp_path / "application.xml"
    doc.write_bytes(b"<application>child allowance</application>\n")
    with connected() as client:
        sig = jpki.sign(client, kind, pin, doc.read_bytes())  # type: ignore[arg-type]
        cert = jpki.read_certificate(client, kind, pin)  # type: ignore[arg-type]
    assert _openssl_verify(cert, sig, doc, tmp_path) == "Verified OK"


def test_read_text_through_pcscd(emulator: Emulator) -> None:
    with connected() as client:
        text = jpki.read_text(client, FACE_PIN)
    assert (text.number, text.name, text.birth_date, text.sex) == (
        "123456789018",
        "番号 花子",
        "19850615",
        "2",
    )


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 02", 0x6A82),  # unknown AID
        ("00 A4 02 0C 02 00 99", 0x6A82),  # unknown EF
        ("00 A4 04 0C 0A D3 92 F0", 0x6700),  # truncated
        ("00 A4 02 0C 02 00 0A 00 00", 0x6700),  # over-long
        ("00 A4", 0x6700),  # shorter than a header: pcscd passes it on
        ("84 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01", 0x6E00),  # wrong CLA
        ("00 CA 00 00 00", 0x6D00),  # wrong INS
        ("00 B0 C0 00 04", 0x6A86),  # wrong P1
        ("00 20 00 01", 0x6A86),  # wrong P2
        ("80 2A 00 80 03 010203 00", 0x6985),  # sign without a selected key
    ],
)
def test_bad_apdus_through_pcscd(emulator: Emulator, apdu: str, sw: int) -> None:
    with connected() as client:
        tx(client, JPKI)
        assert tx(client, apdu)[1] == sw


def test_security_and_le_larger_than_the_file(emulator: Emulator) -> None:
    with connected() as client:
        tx(client, JPKI)
        tx(client, "00 A4 02 0C 02 00 17")
        assert tx(client, "80 2A 00 80 03 010203 00")[1] == 0x6982  # no PIN
        tx(client, "00 A4 02 0C 02 00 01")
        assert tx(client, "00 B0 00 00 04")[1] == 0x6982
        tx(client, "00 A4 02 0C 02 00 06")
        assert tx(client, "00 B0 00 00 00") == (b"JPKIAPICCTOKEN2".ljust(32), 0x9000)
        assert tx(client, "00 B0 00 20 01") == (b"", 0x6B00)


def test_wrong_pins_lock_out_and_the_lock_survives_a_restart(card_file: Path) -> None:
    with inserted(card_file), connected() as client:
        with pytest.raises(PinFormatError):
            jpki.sign(client, "sign", "abc", b"x")  # refused before the card: no try spent
        for left in (4, 3, 2, 1):
            with pytest.raises(WrongPin, match=f"{left} tr"):
                jpki.sign(client, "sign", "WRONG1", b"x")
        with pytest.raises(PinBlocked, match="signature PIN blocked: ask the municipality"):
            jpki.sign(client, "sign", "WRONG1", b"x")
    with inserted(card_file), connected() as client:  # pulled and inserted again
        with pytest.raises(PinBlocked):
            jpki.sign(client, "sign", SIGN_PIN, b"x")
        assert jpki.info(client).tries["signature PIN"] == 0
        jpki.sign(client, "auth", AUTH_PIN, b"x")  # the other key still works


class _PulledMidCommand(PersistentCard):
    """Pulls itself out of the reader when asked to sign, before answering."""

    def __init__(self, inner: PersistentCard, emu: Emulator) -> None:
        super().__init__(inner.card, lambda s: None)
        self._inner, self._emu = inner, emu
        self.pulled = threading.Event()

    def transmit(self, apdu: bytes) -> bytes:
        if apdu[:2] == b"\x80\x2a":
            assert self._emu.link is not None
            self.pulled.set()
            self._emu.link.stop()
            time.sleep(0.2)  # the answer never goes out
        return self._inner.transmit(apdu)


def test_a_card_pulled_mid_command_is_reported_removed(card_file: Path) -> None:
    emu = Emulator(card_file)
    wrapped: list[_PulledMidCommand] = []

    def wrap(inner: PersistentCard) -> PersistentCard:
        wrapped.append(_PulledMidCommand(inner, emu))
        return wrapped[0]

    emu.insert(wrap)
    try:
        with connected() as client, pytest.raises(CardRemoved, match="the card was removed"):
            jpki.sign(client, "auth", AUTH_PIN, b"x")
        assert wrapped[0].pulled.is_set()
    finally:
        emu.pull()
