"""Fixtures of the fault tests: a deployment of their own on the real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# the e2e network's helpers (``e2e_env``, ``portal_env``), as the e2e tests import them
sys.path.append(str(Path(__file__).parent.parent / "e2e"))

from faults_env import Deployment, deployment


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment() as made:
        yield made
