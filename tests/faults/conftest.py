"""Fixtures of the fault tests: a deployment of their own on the real RabbitMQ and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from faults_env import Deployment, deployment


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment() as made:
        yield made
