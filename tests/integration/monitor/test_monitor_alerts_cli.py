"""``renkei monitor alerts`` on real PostgreSQL: the open alerts listed; an auditor's
acknowledgement taken; an operator's, a malformed and an unknown one refused with their code."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import orjson
import pytest
from pg_env import fresh_database

from monitor import Finding, PgAlertStore, PgSpanStore

pytestmark = pytest.mark.postgres
T0 = dt.datetime(2026, 10, 14, 14, 0, tzinfo=dt.UTC)


async def _seed(dsn: str) -> str:
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        await PgSpanStore(pool).migrate()
        store = PgAlertStore(pool)
        f = Finding("off_hours", "chiyoda-child", "notice", T0, "chiyoda-child asked at 23:00")
        a, _ = await store.raise_(f)
        await store.raise_(f)
        return a.id


@pytest.fixture
def seeded() -> Iterator[tuple[str, str]]:
    async def make() -> Any:
        cm = fresh_database("renkei_alerts_cli")
        dsn = await cm.__aenter__()
        return cm, dsn, await _seed(dsn)

    loop = asyncio.new_event_loop()
    cm, dsn, alert_id = loop.run_until_complete(make())
    try:
        yield dsn, alert_id
    finally:
        loop.run_until_complete(cm.__aexit__(None, None, None))
        loop.close()


def test_alerts_listed_and_acknowledged_by_an_auditor_only(
    renkei: Any, seeded: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn, alert_id = seeded
    code, out, err = renkei("--db", dsn, "monitor", "alerts")
    assert code == 0, err
    assert alert_id in out and "off_hours" in out and "×2" in out and "1 alert(s) open" in err
    monkeypatch.setenv("RENKEI_MONITOR_AUDITORS", '["sato"]')
    code, _, err = renkei("--db", dsn, "monitor", "alerts", "--ack", alert_id, "--by", "tanaka")
    assert (code, "monitor.ack_refused") == (2, err.split(":")[1].strip()), err
    code, _, err = renkei("--db", dsn, "monitor", "alerts", "--ack", "1; DROP", "--by", "sato")
    assert code == 2 and "monitor.bad_ack" in err
    forged = str(uuid.uuid4())
    code, _, err = renkei("--db", dsn, "monitor", "alerts", "--ack", forged, "--by", "sato")
    assert code == 2 and "monitor.unknown_alert" in err
    code, _, err = renkei("--db", dsn, "monitor", "alerts", "--ack", alert_id)
    assert code == 2 and "renkei.usage" in err
    code, out, err = renkei("--db", dsn, "monitor", "alerts", "--ack", alert_id, "--by", "sato")
    assert code == 0 and "acknowledged by sato" in out, err
    code, out, err = renkei("--db", dsn, "monitor", "alerts")
    assert code == 0 and out == "" and "0 alert(s) open" in err
    code, out, _ = renkei("--db", dsn, "monitor", "alerts", "--all", "--json")
    (line,) = out.splitlines()
    assert orjson.loads(line)["acked_by"] == "sato"
    code, _, err = renkei("monitor", "alerts")
    assert code == 2 and "renkei.no_database" in err
