"""Fixtures of the whole-network flows: ``env`` once per backend (see ``e2e_env``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from e2e_env import IDS, Env, real_env
from portal_env import Pki, serve_pki

from renkei.secrets import State
from renkei.settings import Settings

# the real backend's tests carry its markers: `-m "not rabbitmq and not postgres"` runs the rest
REAL = pytest.param("real", marks=[pytest.mark.rabbitmq, pytest.mark.postgres])


@pytest.fixture(scope="module", params=["memory", REAL])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    if request.param == "memory":
        yield Env("memory", Settings(_env_file=None), State.generate(IDS))
        return
    async for env in real_env():
        yield env


@pytest.fixture
async def env(backend: Env) -> AsyncIterator[Env]:
    yield backend
    await backend.close()


@pytest.fixture(scope="module")
async def pki() -> AsyncIterator[Pki]:
    """A CA with its HTTP endpoints (CRL, OCSP), for the portal's flows."""
    async for served in serve_pki():
        yield served
