"""The console's officials and action log on real PostgreSQL (and in memory, the same
behaviour): accounts by name, a TOTP step used once even by two sign-ins racing, a name taken
twice refused, the action log append-only (UPDATE and DELETE refused by the table itself);
`renkei officials add` making an account one can sign in with."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pg_env import fresh_database

from monitor import PgSpanStore
from monitor.console import (
    Action,
    ActionLog,
    MemoryActionLog,
    MemoryOfficials,
    Officials,
    PgActionLog,
    PgOfficials,
    new_official,
    totp,
)
from monitor.console.officials import password_ok, totp_step
from monitor.exceptions import OfficialExists
from renkei.cli import main

pytestmark = pytest.mark.postgres
AT = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
async def pg_dsn() -> AsyncIterator[str]:
    async with fresh_database("renkei_console") as dsn:
        async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
            await PgSpanStore(pool).migrate()
        yield dsn


@pytest.fixture(params=["memory", "pg"])
async def stores(
    request: pytest.FixtureRequest, pg_dsn: str
) -> AsyncIterator[tuple[Officials, ActionLog]]:
    if request.param == "memory":
        yield MemoryOfficials(), MemoryActionLog()
        return
    async with asyncpg.create_pool(pg_dsn, min_size=1, max_size=4) as pool:
        async with pool.acquire() as conn:
            await conn.execute("TRUNCATE monitor.official")
        yield PgOfficials(pool), PgActionLog(pool)


async def test_officials(stores: tuple[Officials, ActionLog]) -> None:
    officials, _ = stores
    official, password = new_official("sato", "operator")
    await officials.add(official)
    with pytest.raises(OfficialExists):
        await officials.add(new_official("sato", "auditor")[0])
    found = await officials.get("sato")
    assert found is not None and found.role == "operator" and found.last_step == 0
    assert password_ok(found.password_hash, password)
    assert await officials.get("nobody") is None
    # two sign-ins with one code at once: one wins
    won = await asyncio.gather(*(officials.use_step("sato", 1000) for _ in range(8)))
    assert won.count(True) == 1
    assert not await officials.use_step("sato", 999)  # an older code: never
    assert await officials.use_step("sato", 1001)
    assert not await officials.use_step("nobody", 5000)


async def test_action_log(stores: tuple[Officials, ActionLog]) -> None:
    _, actions = stores
    for i in range(3):
        await actions.append(
            Action(AT + dt.timedelta(seconds=i), "sato", "operator", f"a{i}", "", "ok", "::1")
        )
    recent = await actions.recent(2)
    assert [a.action for a in recent][:2] == ["a2", "a1"]
    assert recent[0].at == AT + dt.timedelta(seconds=2)


async def test_the_action_log_is_append_only(pg_dsn: str) -> None:
    async with asyncpg.create_pool(pg_dsn, min_size=1, max_size=1) as pool:
        await PgActionLog(pool).append(Action(AT, "sato", "auditor", "view", "", "ok", "x"))
        async with pool.acquire() as conn:
            for sql in (
                "UPDATE monitor.console_action SET official = 'someone else'",
                "DELETE FROM monitor.console_action",
            ):
                with pytest.raises(asyncpg.RaiseError, match="append-only"):
                    await conn.execute(sql)
            assert await conn.fetchval("SELECT count(*) FROM monitor.console_action") >= 1


async def test_officials_add_command(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute("DELETE FROM monitor.official WHERE name = 'kato'")
    finally:
        await conn.close()
    # the command runs its own event loop: in a thread, as a shell would run it
    code = await asyncio.to_thread(
        main, ["--db", pg_dsn, "officials", "add", "kato", "--role", "auditor"]
    )
    out = capsys.readouterr().out
    assert code == 0
    password = re.search(r"password \(shown once\): (\S+)", out)
    secret = re.search(r"TOTP secret: ([A-Z2-7]+)", out)
    assert password and secret and "otpauth://totp/" in out
    async with asyncpg.create_pool(pg_dsn, min_size=1, max_size=1) as pool:
        found = await PgOfficials(pool).get("kato")
    assert found is not None and found.role == "auditor"
    assert password_ok(found.password_hash, password.group(1))
    now = time.time()
    assert totp_step(found.totp_secret, totp(secret.group(1), int(now // 30)), now, 0)
    again = await asyncio.to_thread(
        main, ["--db", pg_dsn, "officials", "add", "kato", "--role", "auditor"]
    )
    assert again == 2
    assert "monitor.official_exists" in capsys.readouterr().err
    bad = await asyncio.to_thread(
        main, ["--db", pg_dsn, "officials", "add", "X Y", "--role", "operator"]
    )
    assert bad == 2
    assert "renkei.bad_official" in capsys.readouterr().err
