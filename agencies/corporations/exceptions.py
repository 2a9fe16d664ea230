"""Errors of the corporate-number registry: one root, each with a stable code."""

from __future__ import annotations

from typing import ClassVar

__all__ = ["BadCorporateNumber", "CorporationError", "InvalidQuery"]


class CorporationError(Exception):
    """Root of every error raised by ``agencies.corporations``."""

    code: ClassVar[str] = "corporations.error"


class InvalidQuery(CorporationError, ValueError):
    """A query that is empty, too long, or holds characters no name or number can contain."""

    code: ClassVar[str] = "corporations.invalid_query"


class BadCorporateNumber(CorporationError, ValueError):
    """Digits given as a corporate number that cannot be one (length or check digit)."""

    code: ClassVar[str] = "corporations.bad_number"
