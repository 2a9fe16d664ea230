"""Shared helpers of the token tests: one master secret, office codes, valid codes."""

from __future__ import annotations

from hub.numbers import resident_record_code

MASTER = bytes(range(100, 132))
CITY, PENSION, TAX = "city-13101", "pension", "tax-office-01"


def rrc(base: int) -> str:
    """A valid resident-record code, as J-LIS makes them (the token service checks them alike)."""
    return resident_record_code(f"{base:010d}")
