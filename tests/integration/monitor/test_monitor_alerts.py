"""The alert store, in memory and on real PostgreSQL alike: one open alert per rule and
subject with repeats counted, acknowledged by an auditor only; malformed, forged and unknown
acknowledgements refused, changing nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pg_env import fresh_database

from monitor import (
    AckRefused,
    AlertStore,
    AlreadyAcknowledged,
    BadAck,
    Finding,
    MemoryAlertStore,
    PgAlertStore,
    PgSpanStore,
    UnknownAlert,
)

pytestmark = pytest.mark.postgres
T0 = dt.datetime(2026, 10, 14, 1, 0, tzinfo=dt.UTC)
AUDITORS = {"sato (auditor)"}


def is_auditor(name: str) -> bool:
    return name in AUDITORS


def finding(rule: str = "off_hours", subject: str = "chiyoda-child", minutes: int = 0) -> Finding:
    at = T0 + dt.timedelta(minutes=minutes)
    ids = (str(uuid.UUID(int=minutes)),)
    return Finding(rule, subject, "notice", at, f"{subject} asked at {at}", {"record_ids": ids})


@pytest.fixture(scope="module")
async def pg_dsn() -> AsyncIterator[str]:
    async with fresh_database("renkei_alerts") as dsn:
        yield dsn


@pytest.fixture(params=["memory", "pg"])
async def store(request: pytest.FixtureRequest, pg_dsn: str) -> AsyncIterator[AlertStore]:
    if request.param == "memory":
        yield MemoryAlertStore()
        return
    async with asyncpg.create_pool(pg_dsn, min_size=1, max_size=4) as pool:
        await PgSpanStore(pool).migrate()  # the schema monitor, alerts included
        async with pool.acquire() as conn:
            await conn.execute("TRUNCATE monitor.alert")
        yield PgAlertStore(pool)


async def test_one_open_alert_per_rule_and_subject_repeats_counted(store: AlertStore) -> None:
    first, fresh = await store.raise_(finding())
    again, fresh2 = await store.raise_(finding(minutes=5))
    other, fresh3 = await store.raise_(finding(subject="chiyoda-tax"))
    rule, fresh4 = await store.raise_(finding(rule="not_held"))
    assert (fresh, fresh2, fresh3, fresh4) == (True, False, True, True)
    assert again.id == first.id and again.count == 2
    assert again.first_at == T0 and again.last_at == T0 + dt.timedelta(minutes=5)
    assert again.facts == {"record_ids": (str(uuid.UUID(int=5)),)}  # the newest finding's
    assert {a.id for a in await store.open()} == {first.id, other.id, rule.id}
    assert (await store.open())[0].id == first.id  # newest last finding first


async def test_an_auditor_acknowledges_and_the_next_finding_opens_a_new_alert(
    store: AlertStore,
) -> None:
    a, _ = await store.raise_(finding())
    at = T0 + dt.timedelta(hours=1)
    done = await store.acknowledge(a.id, by="sato (auditor)", at=at, is_auditor=is_auditor)
    assert (done.acked_by, done.acked_at, done.open) == ("sato (auditor)", at, False)
    assert await store.open() == []
    b, fresh = await store.raise_(finding(minutes=90))
    assert fresh and b.id != a.id and b.count == 1
    assert {x.id for x in await store.recent()} == {a.id, b.id}
    got = await store.get(a.id)
    assert got is not None and got.acked_by == "sato (auditor)"


async def test_an_operator_may_not_acknowledge(store: AlertStore) -> None:
    a, _ = await store.raise_(finding())
    with pytest.raises(AckRefused, match="not an auditor") as err:
        await store.acknowledge(a.id, by="tanaka (operator)", at=T0, is_auditor=is_auditor)
    assert err.value.code == "monitor.ack_refused"
    assert [x.id for x in await store.open()] == [a.id]


@pytest.mark.parametrize(
    ("alert_id", "by", "at"),
    [
        ("not-an-id", "sato (auditor)", T0),
        ("", "sato (auditor)", T0),
        (None, "sato (auditor)", T0),
        ("x" * 10_000, "sato (auditor)", T0),
        ("{12345678-1234-5678-1234-567812345678}"[:36], "sato (auditor)", T0),
        ("OPEN", "", T0),
        ("OPEN", "   ", T0),
        ("OPEN", "sato\n(auditor)", T0),
        ("OPEN", "a" * 65, T0),
        ("OPEN", None, T0),
        ("OPEN", "sato (auditor)", dt.datetime(2026, 10, 14, 10)),  # naive
        ("OPEN", "sato (auditor)", "2026-10-14T10:00Z"),
    ],
)
async def test_malformed_acknowledgements_are_refused(
    store: AlertStore, alert_id: object, by: object, at: object
) -> None:
    a, _ = await store.raise_(finding())
    with pytest.raises(BadAck) as err:
        await store.acknowledge(
            a.id if alert_id == "OPEN" else alert_id,  # type: ignore[arg-type]
            by=by,  # type: ignore[arg-type]
            at=at,  # type: ignore[arg-type]
            is_auditor=is_auditor,
        )
    assert err.value.code == "monitor.bad_ack"
    assert [x.id for x in await store.open()] == [a.id]


async def test_unknown_forged_and_repeated_acknowledgements(store: AlertStore) -> None:
    a, _ = await store.raise_(finding())
    forged = str(uuid.uuid4())  # well-formed, but no alert of ours
    with pytest.raises(UnknownAlert):
        await store.acknowledge(forged, by="sato (auditor)", at=T0, is_auditor=is_auditor)
    await store.acknowledge(a.id.upper(), by="sato (auditor)", at=T0, is_auditor=is_auditor)
    with pytest.raises(AlreadyAcknowledged, match="sato"):
        await store.acknowledge(a.id, by="sato (auditor)", at=T0, is_auditor=is_auditor)


async def test_concurrent_findings_share_one_open_alert(store: AlertStore) -> None:
    raised = await asyncio.gather(*(store.raise_(finding(minutes=i)) for i in range(20)))
    assert sum(fresh for _, fresh in raised) == 1
    (alert,) = await store.open()
    assert alert.count == 20
