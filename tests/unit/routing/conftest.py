from __future__ import annotations

import pytest

from hub.routing import legal, offices


@pytest.fixture(scope="session")
def table() -> legal.LegalTable:
    return legal.load_default()


@pytest.fixture(scope="session")
def registry(table: legal.LegalTable) -> offices.Registry:
    return offices.load_default(table)
