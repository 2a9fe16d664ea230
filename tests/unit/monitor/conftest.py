"""Fixtures of the monitor console's unit tests (see console_fakes)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from console_fakes import Env, start


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async for e in start():
        yield e
