"""Without pyscard (the optional `card` extra) the card service still imports; a reader asked
for says what to install, and the default card state runs in-process instead."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from card_helpers import fresh_state

from card_service import CardStore, NoCard, PcscMissing, StateKey, open_card
from card_service.reader import pcsc


@pytest.fixture
def no_pyscard(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without pyscard: importing smartcard fails, nothing imported before."""
    monkeypatch.setitem(sys.modules, "smartcard", None)
    monkeypatch.setattr(pcsc, "scard", pcsc._Pyscard())


@pytest.mark.usefixtures("no_pyscard")
def test_a_reader_by_name_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(PcscMissing) as caught:
        open_card(
            reader="Virtual PCD 00 00", state=None, default_state=tmp_path / "none",
            key_for=StateKey.beside,
        )  # fmt: skip
    assert caught.value.code == "card.no_pcsc"
    assert "apt-get install pcscd vsmartcard-vpcd libpcsclite-dev" in caught.value.message
    assert "pip install 'renkei[card]'" in caught.value.message


@pytest.mark.usefixtures("no_pyscard")
def test_no_reader_asked_for_runs_the_default_state_in_process(tmp_path: Path) -> None:
    path = tmp_path / "card.state"
    CardStore.create(path, fresh_state(), StateKey.beside(path)).close()
    transport, note = open_card(
        reader=None, state=None, default_state=path, key_for=StateKey.beside
    )
    try:
        assert "PC/SC is not installed here" in note and f"using the card state {path}" in note
        assert transport.transmit(bytes.fromhex("00A4040C0AD392F000260100000001")) == b"\x90\x00"
    finally:
        transport.close()


@pytest.mark.usefixtures("no_pyscard")
def test_and_without_a_default_state_both_ways_out_are_named(tmp_path: Path) -> None:
    with pytest.raises(NoCard) as caught:
        open_card(reader=None, state=None, default_state=tmp_path / "x", key_for=StateKey.beside)
    assert "pip install 'renkei[card]'" in caught.value.message
    assert "renkei card issue" in caught.value.message
