"""OpenSC — middleware written for real cards — against the emulated card through pcscd.

OpenSC's JPKI driver (Debian 12: 0.23) recognises the card by its ATR and binds it with the
PKCS#15 emulation, which asks each PIN's tries left (VERIFY without data) and reads the
certificates. ``pkcs15-tool`` is the same code path as OpenSC's PKCS#11 module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from card_env import SIGN_PIN, Ca, connected, inserted, issue_card_file, run
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from proc_env import READER, require_pcsc

from card_service import PinBlocked, WrongPin
from card_service.card.layout import JPKI, JPKI_AUTH_CA, JPKI_AUTH_PIN, JPKI_SIGN_CA
from card_service.card.pins import PinRule
from card_service.reader import jpki

pytestmark = pytest.mark.pcsc
PKCS15_TOOL = "/usr/bin/pkcs15-tool"
AUTH_ID, SIGN_ID, AUTH_CA_ID, SIGN_CA_ID = "01", "02", "03", "04"  # OpenSC's JPKI object ids


def require_opensc() -> None:
    """Fail (never skip) without PC/SC or OpenSC, saying what to install."""
    require_pcsc()
    if not Path(PKCS15_TOOL).exists():
        pytest.fail(f"no {PKCS15_TOOL}: apt-get install opensc (scripts/system-deps does)")


@pytest.fixture
async def card_file(ca: Ca, tmp_path: Path) -> AsyncIterator[Path]:
    """A freshly issued card, in the reader."""
    require_opensc()
    path = tmp_path / "card.state"
    await issue_card_file(ca, path)
    with inserted(path):
        yield path


async def pkcs15(*argv: str) -> tuple[int, str]:
    """``pkcs15-tool`` on the virtual reader, no file cache: stdout and stderr together."""
    code, out, err = await run(PKCS15_TOOL, "--no-cache", "--reader", READER, *argv)
    return code, out + err


def der_of(pem: str) -> bytes:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return cert.public_bytes(serialization.Encoding.DER)


async def test_opensc_reads_the_certificates_after_a_pin_lock_out(card_file: Path) -> None:
    with connected() as client:
        auth = jpki.read_certificate(client, "auth", None)
        sign = jpki.read_certificate(client, "sign", SIGN_PIN)
        auth_ca = client.read_ef(JPKI_AUTH_CA, "auth CA")
        sign_ca = client.read_ef(JPKI_SIGN_CA, "sign CA")
        client.select_app(JPKI)
        for _ in range(2):
            with pytest.raises(WrongPin):
                client.verify(JPKI_AUTH_PIN, PinRule.AUTH, "0000")
        for pin in ("0000", "1234"):  # the last try, then the right PIN: both blocked
            with pytest.raises(PinBlocked):
                client.verify(JPKI_AUTH_PIN, PinRule.AUTH, pin)

    code, listing = await pkcs15("--list-certificates")
    assert code == 0, listing  # before: "PKCS#15 binding failed: Unsupported card"
    for label in (
        "User Authentication Certificate",
        "Digital Signature Certificate",
        "User Authentication Certificate CA",
        "Digital Signature Certificate CA",
    ):
        assert f"[{label}]" in listing
    for object_id, expected in ((AUTH_ID, auth), (AUTH_CA_ID, auth_ca), (SIGN_CA_ID, sign_ca)):
        code, pem = await pkcs15("--read-certificate", object_id)
        assert code == 0, pem
        assert der_of(pem) == expected

    code, pins = await pkcs15("--list-pins")
    assert code == 0, pins
    auth_pin, sign_pin = pins.split("PIN [Digital Signature PIN]")
    assert "Tries left     : 0" in auth_pin
    assert "Tries left     : 5" in sign_pin

    # the other key is still usable; the blocked one is refused as blocked
    code, pem = await pkcs15(
        "--verify-pin", "--auth-id", SIGN_ID, "--pin", SIGN_PIN, "--read-certificate", SIGN_ID
    )
    assert code == 0, pem
    assert der_of(pem) == sign
    code, out = await pkcs15("--verify-pin", "--auth-id", AUTH_ID, "--pin", "1234")
    assert code != 0
    assert "blocked" in out.lower()
