"""The encrypted card state: survives a restart, refuses the wrong key, an altered file and a
second user, and makes every counter change durable before the answer leaves."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from card_helpers import AUTH_PIN, SELECT_JPKI, fresh_state, select_ef, verify
from structlog.testing import capture_logs

from card_service import (
    Card,
    CardState,
    CardStore,
    LocalTransport,
    PersistentCard,
    StateFileError,
    StateKey,
)


def _tx(t: LocalTransport | PersistentCard, apdu: str) -> int:
    return int.from_bytes(t.transmit(bytes.fromhex(apdu))[-2:], "big")


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "card.state"
    CardStore.create(path, fresh_state(), StateKey.beside(path)).close()
    return path


def test_the_file_is_encrypted_and_its_key_is_private(state_file: Path) -> None:
    raw = state_file.read_bytes()
    assert raw.startswith(b"RKCARD\x00\x01")
    assert b"JPKIAPICCTOKEN2" not in raw and b"123456789018" not in raw
    key = state_file.with_name("card.state.key")
    assert key.stat().st_mode & 0o777 == 0o600
    assert state_file.stat().st_mode & 0o777 == 0o600


def test_wrong_pins_and_the_lock_out_survive_a_restart(state_file: Path) -> None:
    key = StateKey.beside(state_file)
    for expected in (0x63C2, 0x63C1):
        t = LocalTransport.open(state_file, key)
        _tx(t, SELECT_JPKI)
        _tx(t, select_ef(0x0018))
        assert _tx(t, verify("0000")) == expected
        t.close()  # the card is pulled after every try
    t = LocalTransport.open(state_file, key)
    _tx(t, SELECT_JPKI)
    _tx(t, select_ef(0x0018))
    assert _tx(t, verify("0000")) == 0x63C0
    t.close()
    t = LocalTransport.open(state_file, key)
    _tx(t, SELECT_JPKI)
    _tx(t, select_ef(0x0018))
    assert _tx(t, verify(AUTH_PIN)) == 0x6983
    assert _tx(t, "00 20 00 80") == 0x63C0  # the tries-left query: none left
    t.close()


def test_the_counter_is_saved_before_the_answer_leaves() -> None:
    saved: list[bytes] = []
    card = PersistentCard(Card(fresh_state()), lambda s: saved.append(s.to_bytes()))
    _tx(card, SELECT_JPKI)
    _tx(card, select_ef(0x0018))
    assert saved == []  # nothing durable changed
    assert _tx(card, verify("0000")) == 0x63C2
    assert len(saved) == 1
    assert (
        CardState.from_bytes(saved[0])
        .apps[bytes.fromhex("D392F000260100000001")]
        .pins[0x0018]
        .tries_left
        == 2
    )


def test_a_failed_save_answers_memory_failure_not_the_result() -> None:
    def broken(_: CardState) -> None:
        raise StateFileError("disk full")

    card = PersistentCard(Card(fresh_state()), broken)
    _tx(card, SELECT_JPKI)
    _tx(card, select_ef(0x0018))
    assert _tx(card, verify(AUTH_PIN)) == 0x9000  # no change, nothing to save
    assert _tx(card, verify("0000")) == 0x6581


def test_a_second_process_is_kept_out(state_file: Path) -> None:
    key = StateKey.beside(state_file)
    first = LocalTransport.open(state_file, key)
    with pytest.raises(StateFileError, match="in use by another process"):
        LocalTransport.open(state_file, key)
    first.close()
    LocalTransport.open(state_file, key).close()


def test_wrong_key_altered_file_and_missing_file(state_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    other.write_text(os.urandom(32).hex())
    other.chmod(0o600)
    with pytest.raises(StateFileError, match="wrong key, or the file was altered"):
        CardStore.open(state_file, StateKey(key_file=other))
    raw = bytearray(state_file.read_bytes())
    raw[-1] ^= 1
    state_file.write_bytes(bytes(raw))
    with pytest.raises(StateFileError, match="wrong key, or the file was altered"):
        CardStore.open(state_file, StateKey.beside(state_file))
    with pytest.raises(StateFileError, match="no card state"):
        CardStore.open(tmp_path / "nothing", StateKey.beside(state_file))
    (tmp_path / "junk").write_bytes(b"junk")
    with pytest.raises(StateFileError, match="not a card state file"):
        CardStore.open(tmp_path / "junk", StateKey.beside(state_file))


def test_a_readable_key_file_is_refused(state_file: Path) -> None:
    key = state_file.with_name("card.state.key")
    key.chmod(0o644)
    with pytest.raises(StateFileError, match="readable by others"):
        CardStore.open(state_file, StateKey.beside(state_file))


def test_a_card_is_never_overwritten(state_file: Path) -> None:
    with pytest.raises(StateFileError, match="refusing to overwrite"):
        CardStore.create(state_file, fresh_state(), StateKey.beside(state_file))


def test_a_password_instead_of_a_key_file(tmp_path: Path) -> None:
    path = tmp_path / "pw.state"
    CardStore.create(path, fresh_state(), StateKey(password=b"correct horse")).close()
    assert not path.with_name("pw.state.key").exists()
    store, state = CardStore.open(path, StateKey(password=b"correct horse"))
    store.close()
    assert state.operational
    with pytest.raises(StateFileError, match="wrong key"):
        CardStore.open(path, StateKey(password=b"wrong"))
    with pytest.raises(StateFileError, match="protected by a password"):
        CardStore.open(path, StateKey.beside(path))
    assert "correct horse" not in repr(StateKey(password=b"correct horse"))


def test_a_malformed_state_inside_a_good_envelope() -> None:
    for raw in (b"[]", b"{}", b'{"format": 2}', b'{"format": 1, "apps": 3}', b"\xff"):
        with pytest.raises(StateFileError):
            CardState.from_bytes(raw)


JPKI_AID = "d392f000260100000001"


def _edited(change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = json.loads(fresh_state().to_bytes())
    change(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d.update(operational="false"), "operational"),  # was read as True
        (lambda d: d["apps"][JPKI_AID]["pins"]["0018"].__setitem__(2, 300), "pins.0018.2"),
        (lambda d: d["apps"][JPKI_AID]["pins"]["0018"].__setitem__(2, "3"), "pins.0018.2"),
        (lambda d: d["apps"][JPKI_AID]["pins"]["0018"].__setitem__(2, -1), "pins.0018.2"),
        (lambda d: d["apps"][JPKI_AID]["pins"]["0018"].append(0), "pins.0018"),
        (lambda d: d["apps"][JPKI_AID]["files"].__setitem__("0006", "not base64!"), "files.0006"),
        (lambda d: d["apps"][JPKI_AID]["files"].__setitem__("6", "AA=="), "files.6"),
        (lambda d: d["apps"][JPKI_AID]["files"].__setitem__("12345", "AA=="), "files.12345"),
        (lambda d: d["apps"][JPKI_AID].update(admin=True), "admin"),
        (lambda d: d.update(serial=["X"]), "serial"),
        (lambda d: d.update(format=2), "format"),
        (lambda d: d["apps"].update(zz={"files": {}, "keys": {}, "pins": {}}), "apps.zz"),
    ],
    ids=[
        "operational-text", "tries-300", "tries-text", "tries-negative", "pin-4-items",
        "not-base64", "short-id", "long-id", "extra-key", "serial-list", "format-2", "aid",
    ],
)  # fmt: skip
def test_a_state_breaking_a_rule_is_refused_by_name(
    change: Callable[[dict[str, Any]], None], where: str
) -> None:
    with pytest.raises(StateFileError, match=rf"card state is malformed \((apps\.\w+\.)?{where}"):
        CardState.from_bytes(_edited(change))


def test_the_state_reads_back_as_written() -> None:
    state = fresh_state()
    again = CardState.from_bytes(state.to_bytes())
    assert again.to_bytes() == state.to_bytes()
    assert (again.serial, again.operational) == (state.serial, True)


def test_logs_never_carry_a_pin_or_an_apdu() -> None:
    def broken(_: CardState) -> None:
        raise StateFileError("disk full")

    card = PersistentCard(Card(fresh_state()), broken)
    with capture_logs() as logs:
        _tx(card, SELECT_JPKI)
        _tx(card, select_ef(0x0018))
        _tx(card, verify("0000"))
    assert [e["event"] for e in logs] == ["card state not saved; answering 65 81"]
    text = repr(logs)
    assert "0000" not in text and "30303030" not in text and "disk full" in text
