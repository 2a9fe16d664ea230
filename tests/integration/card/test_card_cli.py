"""`renkei card …` as a desk clerk and a resident run it: issue against `renkei pki`'s HTTP
API, emulate in the vpcd reader, and use the card through PC/SC or in-process."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from pathlib import Path

import pytest
from card_env import (
    AUTH_PIN,
    FACE_PIN,
    OPENSSL,
    REGISTER,
    REGISTERED,
    RESIDENT_DOC,
    SIGN_PIN,
    Ca,
    EmulatorProcess,
    renkei,
    run,
)
from proc_env import READER, require_pcsc

from card_service import CardClient, CardRemoved, PinRule
from card_service.card.layout import JPKI
from card_service.reader.jpki import digest_info
from card_service.reader.pcsc import PcscTransport

pytestmark = pytest.mark.pcsc


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("files")
    (d / "resident.json").write_text(json.dumps(RESIDENT_DOC, ensure_ascii=False))
    (d / "pins.json").write_text(json.dumps({"auth": AUTH_PIN, "sign": SIGN_PIN, "face": FACE_PIN}))
    for name, pin in (("auth", AUTH_PIN), ("sign", SIGN_PIN), ("face", FACE_PIN)):
        (d / f"{name}.pin").write_text(pin + "\n")
    (d / "wrong-sign.pin").write_text("WRONG1\n")
    (d / "doc.txt").write_bytes(b"an application for the child allowance\n")
    return d


async def _issue(ca: Ca, files: Path, state: Path, *extra: str) -> tuple[int, str, str]:
    return await renkei(
        ca.state_dir,
        *("--db", ca.db, "card", "issue", "--register", REGISTER, "--local-id", REGISTERED),
        "--resident",
        str(files / "resident.json"),
        "--pins",
        str(files / "pins.json"),
        "--state",
        str(state),
        "--url",
        ca.url,
        *extra,
    )


@pytest.fixture(scope="module")
async def issued(ca: Ca, files: Path) -> Path:
    require_pcsc()
    state = ca.state_dir / "cards" / "hanako.state"
    code, out, err = await _issue(ca, files, state, "--holder", "desk-0001")
    assert code == 0, err
    assert "card issued" in out and "holder desk-0001" in out
    assert "L=Chiyoda-ku" in out
    return state


async def test_the_state_file_in_process_says_so(ca: Ca, issued: Path) -> None:
    code, out, err = await renkei(ca.state_dir, "card", "info", "--state", str(issued))
    assert code == 0, err
    assert f"no reader: the card state {issued}, run in this process" in err
    assert "authentication PIN: 3 tries left" in out
    assert "JPKI for digital signature" in out


async def test_the_emulated_card_through_the_reader(ca: Ca, files: Path, issued: Path) -> None:
    emu = EmulatorProcess(ca.state_dir, issued)
    await emu.start()
    try:
        code, out, err = await renkei(ca.state_dir, "card", "info")
        assert code == 0, err
        assert f"reader: {READER}" in err
        assert "ATR:          3B E0 00 FF 81 31 FE 45 14" in out
        assert "applications: JPKI, card-face input support, card face" in out
        assert "signature PIN: 5 tries left" in out

        for kind in ("auth", "sign"):
            pin = str(files / f"{kind}.pin")
            args = ["card", "sign", "--key", kind, "--pin-file", pin, str(files / "doc.txt")]
            code, out, err = await renkei(ca.state_dir, *args)
            assert code == 0, err
            sig = files / f"{kind}.sig"
            sig.write_bytes(base64.b64decode(out.strip()))
            cert_args = ["card", "cert", "--key", kind, "-o", str(files / f"{kind}.pem")]
            code, _, err = await renkei(ca.state_dir, *cert_args, "--pin-file", pin)
            assert code == 0, err
            pem = str(files / f"{kind}.pem")
            _, pub, _ = await run(OPENSSL, "x509", "-in", pem, "-pubkey", "-noout")
            (files / f"{kind}.pub.pem").write_text(pub)
            _, verified, _ = await run(
                *(OPENSSL, "dgst", "-sha256", "-verify", str(files / f"{kind}.pub.pem")),
                *("-signature", str(sig), str(files / "doc.txt")),
            )
            assert verified.strip() == "Verified OK"

        face = str(files / "face.pin")
        code, out, err = await renkei(ca.state_dir, "card", "read-text", "--pin-file", face)
        assert code == 0, err
        assert "number:     123456789018" in out
        assert "birth date: 1985-06-15" in out and "sex:        female" in out

        code, _, err = await renkei(ca.state_dir, "card", "info", "--state", str(issued))
        assert code == 2 and "in use by another process" in err
    finally:
        code, err = await emu.stop()
    assert code == 0 and "pulled out after" in err


async def test_a_lock_out_survives_killing_the_emulator(ca: Ca, files: Path) -> None:
    state = ca.state_dir / "cards" / "lockout.state"
    assert (await _issue(ca, files, state))[0] == 0
    wrong = ["card", "sign", "--key", "sign", "--pin-file", str(files / "wrong-sign.pin")]
    doc = str(files / "doc.txt")
    emu = EmulatorProcess(ca.state_dir, state)
    await emu.start()
    try:
        for left in (4, 3):
            code, _, err = await renkei(ca.state_dir, *wrong, doc)
            assert code == 2
            assert f"renkei: card.wrong_pin: wrong signature PIN: {left} tries left" in err
    finally:
        await emu.kill()  # pulled without warning
    await emu.start()
    try:
        for left in ("2 tries", "1 try"):
            code, _, err = await renkei(ca.state_dir, *wrong, doc)
            assert f"{left} left" in err
        code, _, err = await renkei(ca.state_dir, *wrong, doc)
        assert "card.pin_blocked: signature PIN blocked: ask the municipality to reset it" in err
    finally:
        await emu.kill()
    await emu.start()
    try:
        right = ["card", "sign", "--key", "sign", "--pin-file", str(files / "sign.pin"), doc]
        code, _, err = await renkei(ca.state_dir, *right)
        assert code == 2 and "signature PIN blocked" in err
        code, out, _ = await renkei(ca.state_dir, "card", "info")
        assert "signature PIN: BLOCKED" in out
    finally:
        await emu.stop()


async def test_an_emulator_killed_mid_command(ca: Ca, issued: Path) -> None:
    """The real emulator process hangs on a sign command and is killed: the client, waiting
    in pcscd for the answer, is told the card was removed."""
    emu = EmulatorProcess(ca.state_dir, issued)
    await emu.start()
    transport = await asyncio.to_thread(PcscTransport.connect, READER)
    client = CardClient(transport)
    try:
        await asyncio.to_thread(client.select_app, JPKI)
        await asyncio.to_thread(client.verify, 0x0018, PinRule.AUTH, AUTH_PIN)
        await asyncio.to_thread(client.select_ef, 0x0017)
        emu.signal(signal.SIGSTOP)  # the card hangs …
        sign = asyncio.create_task(asyncio.to_thread(client.sign, 0x0017, digest_info(b"x")))
        await asyncio.sleep(1.0)
        assert not sign.done()  # … the client waits for its answer …
        await emu.kill()  # … and the card is pulled out mid-command
        with pytest.raises(CardRemoved, match=f"the card was removed from {READER}"):
            await sign
    finally:
        await asyncio.to_thread(transport.close)
        await emu.kill()


async def test_no_reader_card_falls_back_to_the_default_state(
    ca: Ca, files: Path, tmp_path: Path
) -> None:
    code, _, err = await renkei(tmp_path, "card", "info")
    assert code == 2
    assert "card.no_card: no card in any reader" in err and "no card state at" in err
    state = tmp_path / "card" / "card.state"
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "operator-token").write_text(ca.ca.operator_token)
    code, _, err = await renkei(
        tmp_path,
        *("--db", ca.db, "card", "issue", "--resident", str(files / "resident.json")),
        *("--register", REGISTER, "--local-id", REGISTERED),
        *("--pins", str(files / "pins.json"), "--url", ca.url),
    )
    assert code == 0, err
    assert state.exists()
    code, out, err = await renkei(tmp_path, "card", "info")
    assert code == 0, err
    assert "no card in any reader (readers: " in err and READER in err
    assert f"using the card state {state}, run in this process" in err
    assert "token:        JPKIAPICCTOKEN2" in out


async def test_issue_refuses_bad_input_and_leaves_no_card(
    ca: Ca, files: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(RESIDENT_DOC | {"number": "123456789010"}))
    state = tmp_path / "x.state"
    code, _, err = await renkei(
        ca.state_dir,
        *(
            "--db",
            ca.db,
            "card",
            "issue",
            "--resident",
            str(bad),
            "--pins",
            str(files / "pins.json"),
        ),
        *("--register", REGISTER, "--local-id", REGISTERED),
        *("--state", str(state), "--url", ca.url),
    )
    assert code == 2 and "card.resident: resident: number: has a wrong check digit" in err
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps({"auth": "12345", "sign": SIGN_PIN, "face": FACE_PIN}))
    code, _, err = await _issue(ca, files, state, "--pins", str(pins))
    assert code == 2 and "card.pin_format: the authentication PIN must be 4 digits" in err
    code, _, err = await _issue(ca, files, state, "--url", "http://127.0.0.1:9")
    assert code == 2 and "is not reachable: is `renkei pki serve` running?" in err
    assert not state.exists()


async def test_emulate_without_a_reader_says_what_is_missing(ca: Ca, issued: Path) -> None:
    code, _, err = await renkei(
        ca.state_dir, "card", "emulate", "--state", str(issued), "--port", "9", "--wait", "0"
    )
    assert code == 2
    assert "card.no_card: no vpcd reader at 127.0.0.1:9" in err
