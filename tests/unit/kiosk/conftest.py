"""Fixtures of the kiosk's unit tests: the card's unit tests' issued card (``card_helpers``), in
memory, and the real centre API over a fake network (``kiosk_helpers``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "card"))  # card_helpers: one issued card

import pytest
from card_helpers import fresh

from card_service import Card


@pytest.fixture
def card() -> Card:
    """A freshly inserted copy of the session's issued card (issued outside the event loop)."""
    return fresh()
