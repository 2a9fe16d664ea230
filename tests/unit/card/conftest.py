"""Fixtures of the card's unit tests (see card_helpers)."""

from __future__ import annotations

import pytest
from card_helpers import fresh

from card_service import Card


@pytest.fixture
def card() -> Card:
    """A freshly inserted copy of the session's issued card."""
    return fresh()
