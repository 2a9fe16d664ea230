"""The client: status words become errors a resident can act on; PINs are checked first."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from card_helpers import AUTH_PIN, FACE_PIN, SIGN_PIN, fresh_state
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from card_service import (
    Card,
    CardClient,
    CardError,
    CardState,
    CardStatusError,
    CardStore,
    NoSuchFile,
    PersistentCard,
    PinBlocked,
    PinFormatError,
    SecurityNotSatisfied,
    StateKey,
    WrongPin,
    jpki,
    open_card,
)
from card_service.card.apdu import Command
from card_service.card.layout import JPKI


class Counting:
    """A transport over a fresh card that counts the APDUs it carried."""

    def __init__(self, state: CardState | None = None) -> None:
        self.card = PersistentCard(Card(state or fresh_state()), lambda s: None)
        self.sent: list[bytes] = []
        self.name, self.atr = "test", b""

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        return self.card.transmit(apdu)

    def close(self) -> None:
        return None


@pytest.fixture
def client() -> CardClient:
    return CardClient(Counting())


def test_info_without_any_pin(client: CardClient) -> None:
    i = jpki.info(client)
    assert i.applications == ["JPKI", "card-face input support", "card face"]
    assert i.token == "JPKIAPICCTOKEN2"
    assert i.tries == {
        "authentication PIN": 3,
        "signature PIN": 5,
        "card-face input support PIN": 3,
    }
    assert "JPKI for user authentication" in i.subjects["authentication CA"]
    assert "L=Chiyoda-ku" in i.subjects["authentication certificate"]


def test_sign_verifies_with_the_certificate(client: CardClient) -> None:
    for kind, pin in (("auth", AUTH_PIN), ("sign", SIGN_PIN)):
        sig = jpki.sign(client, kind, pin, b"document")  # type: ignore[arg-type]
        der = jpki.read_certificate(client, kind, pin)  # type: ignore[arg-type]
        key = x509.load_der_x509_certificate(der).public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        key.verify(sig, b"document", padding.PKCS1v15(), hashes.SHA256())
    assert jpki.digest_info(b"x").endswith(hashlib.sha256(b"x").digest())


def test_wrong_pins_then_blocked_with_a_clear_message(client: CardClient) -> None:
    with pytest.raises(WrongPin, match="wrong authentication PIN: 2 tries left") as exc:
        jpki.sign(client, "auth", "0000", b"x")
    assert exc.value.tries_left == 2
    with pytest.raises(WrongPin, match="1 try left"):
        jpki.sign(client, "auth", "0000", b"x")
    with pytest.raises(PinBlocked) as blocked:
        jpki.sign(client, "auth", "0000", b"x")
    assert blocked.value.message == "authentication PIN blocked: ask the municipality to reset it"
    with pytest.raises(PinBlocked):
        jpki.sign(client, "auth", AUTH_PIN, b"x")
    assert jpki.info(client).tries["authentication PIN"] == 0
    jpki.sign(client, "sign", SIGN_PIN, b"x")  # the other PIN is unaffected


def test_a_badly_formed_pin_never_reaches_the_card() -> None:
    t = Counting()
    client = CardClient(t)
    with pytest.raises(PinFormatError, match="signature PIN must be 6 to 16"):
        jpki.sign(client, "sign", "abc", b"x")
    assert not any(apdu[1] == 0x20 for apdu in t.sent)
    assert jpki.info(client).tries["signature PIN"] == 5


def test_read_text_and_the_signature_certificate_need_their_pins(client: CardClient) -> None:
    text = jpki.read_text(client, FACE_PIN)
    assert (text.number, text.birth_date, text.sex_text) == ("123456789018", "19850615", "female")
    assert "花子" not in repr(text)
    with pytest.raises(WrongPin, match="card-face input support PIN"):
        jpki.read_text(client, "0000")
    client.select_app(JPKI)
    with pytest.raises(SecurityNotSatisfied, match="wants the PIN"):
        client.read_ef(0x0001, "signature certificate")
    with pytest.raises(CardError, match="only after the signature PIN"):
        jpki.read_certificate(client, "sign", None)


def test_change_pin(client: CardClient) -> None:
    jpki.change_pin(client, "sign", SIGN_PIN, "NEW2PIN9")
    with pytest.raises(WrongPin):
        jpki.sign(client, "sign", SIGN_PIN, b"x")
    jpki.sign(client, "sign", "NEW2PIN9", b"x")
    with pytest.raises(PinFormatError):
        jpki.change_pin(client, "face", FACE_PIN, "12")
    jpki.change_pin(client, "face", FACE_PIN, "1111")
    jpki.read_text(client, "1111")


def test_unknown_application_and_unexpected_status(client: CardClient) -> None:
    blank = CardClient(Counting(CardState.blank()))
    blank.select_app(JPKI)
    with pytest.raises(NoSuchFile, match="EF 0099: not on this card"):
        blank.select_ef(0x0099)
    with pytest.raises(CardStatusError, match="6D 00 \\(instruction not supported\\)") as exc:
        client.expect(Command(0x00, 0xCA, 0, 0, le=256), "get data")
    assert exc.value.sw == 0x6D00


def test_not_an_individual_number_card() -> None:
    class Other(Counting):
        def transmit(self, apdu: bytes) -> bytes:
            return bytes.fromhex("6A82")

    with pytest.raises(NoSuchFile, match="no JPKI application: is it an individual number card"):
        CardClient(Other()).select_app(JPKI)


def test_state_means_the_file_in_process(tmp_path: Path) -> None:
    path = tmp_path / "card.state"
    CardStore.create(path, fresh_state(), StateKey.beside(path)).close()
    t, note = open_card(reader=None, state=path, default_state=path, key_for=StateKey.beside)
    assert "no reader" in note and str(path) in note
    t.close()
