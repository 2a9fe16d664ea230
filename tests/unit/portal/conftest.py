"""Fixtures of the portal's unit tests (see portal_fakes)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from portal_fakes import Env, start


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async for e in start():
        yield e
