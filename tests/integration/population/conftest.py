"""A fresh PostgreSQL database and deployment state for the bulk-load tests, dropped afterwards.

PostgreSQL is found through ``RENKEI_TEST_PG_DSN`` (default: the local superuser, trust auth).
When it is not reachable, the tests fail with a message saying so; they never skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import asyncpg
import pytest
from population_env import ADMIN_DSN, Deployment

from hub.wire import HUB
from renkei.network import identities, load_rules, migrate
from renkei.secrets import State
from renkei.settings import Settings


@pytest.fixture(scope="module")
async def deployment(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    """`renkei init` and `renkei db migrate` on a database of its own."""
    try:
        admin = await asyncpg.connect(ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {ADMIN_DSN} ({exc!r}); start it with "
            "scripts/services or set RENKEI_TEST_PG_DSN",
            pytrace=False,
        )
    name = f"renkei_population_{uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = urlunsplit(urlsplit(ADMIN_DSN)._replace(path=f"/{name}"))
        state_dir = tmp_path_factory.mktemp("state")
        settings = Settings(_env_file=None, db_url=dsn, state_dir=state_dir)
        registry = load_rules(settings)[1]
        State.generate(identities(registry)).save(state_dir)
        await migrate(dsn, registry, State.load(state_dir, [HUB]).keys[HUB].signing)
        yield Deployment(dsn, state_dir, settings)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
async def pool(deployment: Deployment) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(deployment.dsn, min_size=1, max_size=4) as p:
        yield p
