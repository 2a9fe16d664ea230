"""What tests that start renkei processes or use the card reader share (importable from every
test folder: tests/conftest.py puts this folder on sys.path)."""

from __future__ import annotations

import socket

import pytest

from card_service.reader.pcsc import card_present, list_readers

__all__ = ["CODE", "READER", "free_port", "require_pcsc"]

READER = "Virtual PCD 00 00"  # vsmartcard-vpcd's first slot
CODE = "import sys; from renkei.cli import main; sys.exit(main())"  # `python -c CODE args…`


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def require_pcsc() -> None:
    """Fail (never skip) when the PC/SC stack is missing or busy, saying what to start."""
    try:
        readers = list_readers()
    except Exception as exc:
        pytest.fail(f"PC/SC is not available ({exc}): start pcscd (scripts/services)")
    if READER not in readers:
        pytest.fail(f"no {READER!r} reader (readers: {readers}): install vsmartcard-vpcd")
    if card_present(READER):
        pytest.fail(f"a card is already in {READER}: stop the other emulator first")
