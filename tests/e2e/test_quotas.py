"""Quotas and back-pressure on RabbitMQ and PostgreSQL, each service its own process.

- One quota holds across two hub processes (their buckets are shared in PostgreSQL): an office
  flooding twenty queries at once gets its burst through, every other one is refused
  ``routing.quota_exceeded`` with a retry-after and recorded; so does its enrollment quota (a
  bucket of its own: J-LIS answers those within it, the rest are refused and recorded).
- A dishonest office: it sends its own query again (a replay: refused, recorded, and it pays a
  token for it, unlike the broker's redelivery), moves its flood to another affair (its
  office's bucket holds too), to a made-up one (refused all the same, and recorded), or
  publishes to the interactive lane (the broker refuses it: only offices whose class is
  interactive may write there).
- Back-pressure: with a tiny bound on the hub's inbound queues and no hub consuming, the
  office's sends are nacked; its node backs off and gives up by the deadline with
  ``office.back_pressure``, or goes through once a hub drains the queue.

The queries carry a token the token service refuses: a query within quota is refused
``token.forged`` (the token comes after the quota), one over it ``routing.quota_exceeded``; so
no provider is needed to tell them apart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from proc_env import as_hub, cli, deployed, office_node, start, stop

from hub.bus import HUB_REQUESTS, INTERACTIVE_EXCHANGE, RK_QUERY, AccessRefused, OutMessage
from hub.node import Answer, EnrollmentRefused, OfficeNode
from hub.node.backoff import Backoff
from hub.numbers import individual_number
from hub.wire import Facts
from renkei.secrets import State

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]
CHILD, TAX = "chiyoda-child", "chiyoda-tax"
TOKEN = "forged-token-" + "f" * 40
QUOTA = "routing.quota_exceeded"
QUOTAS = """
version = "test"
[default]
per_second = 0.001   # no refill while the test runs
burst = 100
[offices.chiyoda-child]
per_second = 0.001
burst = 6
[offices.chiyoda-child.affairs.child_allowance]
per_second = 0.001
burst = 3
[enrollment]
per_second = 0.001
burst = 4
"""
ADMIN = "http://guest:guest@127.0.0.1:15672"


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(QUOTAS, encoding="utf-8")
    async with deployed(tmp_path) as base:
        env = {**base, "RENKEI_QUOTAS": str(quotas), "RENKEI_INBOX_MAX_LENGTH": "2"}
        code, out = await cli(env, "broker", "setup")  # the policies with the tiny bound
        assert code == 0, out
        yield env


async def child(env: dict[str, str], *, retries: bool = False) -> OfficeNode:
    node = await office_node(env, State.load(Path(env["RENKEI_STATE_DIR"]), [CHILD]), CHILD)
    if not retries:
        node.backoff = Backoff(attempts=1)
    return node


async def close(node: OfficeNode | None) -> None:
    if node is not None:
        await node.stop()
        await node.bus.close()


async def ask_many(node: OfficeNode, affair: str, n: int) -> list[Answer]:
    ask = (affair, TAX, ("local_tax",), TOKEN, {"fiscal_year": 2024})
    return list(await asyncio.gather(*(node.ask(*ask) for _ in range(n))))


def codes(answers: list[Answer]) -> Counter[str]:
    return Counter(a.code if a.code == QUOTA else a.code.split(".")[0] for a in answers)


async def consumers(env: dict[str, str], queue: str, wanted: int) -> int:
    """The consumers of ``queue`` once the management API shows ``wanted`` (its statistics lag
    by a few seconds), or what it shows after 30 s."""
    vhost = env["RENKEI_BROKER_VHOST"]
    async with aiohttp.ClientSession() as http:
        for _ in range(60):
            async with http.get(f"{ADMIN}/api/queues/{vhost}/{queue}") as resp:
                found = int((await resp.json()).get("consumers", 0))
            if found == wanted:
                break
            await asyncio.sleep(0.5)
    return found


async def quota_records(env: dict[str, str]) -> Counter[str]:
    conn = await asyncpg.connect(env["RENKEI_DB_URL"])
    try:
        rows = await conn.fetch(
            "SELECT affair, reason FROM records.access_record WHERE requester = $1", CHILD
        )
    finally:
        await conn.close()
    return Counter(r["affair"] for r in rows if r["reason"].startswith(f"{QUOTA}:"))


async def test_one_quota_holds_across_two_hub_processes(deployment: dict[str, str]) -> None:
    env, node = deployment, None
    procs = [await start(env, "token")]
    try:
        procs += [await start(as_hub(env), "hub") for _ in range(2)]
        node = await child(env)
        assert await consumers(env, HUB_REQUESTS, 2) == 2
        # the office's bucket (6): each hub alone would let 6 through, 12 in all
        answers = await ask_many(node, "childcare_benefit", 20)
        assert codes(answers) == Counter({"token": 6, QUOTA: 14})
        over = [a for a in answers if a.code == QUOTA]
        assert all(a.retry_after and 0 < a.retry_after <= 3600 for a in over)
        assert all(a.record_id is not None for a in answers)  # every one recorded
        assert await quota_records(env) == Counter({"childcare_benefit": 14})
    finally:
        await stop(procs)
        await close(node)


async def test_one_enrollment_quota_holds_across_two_hub_processes(
    deployment: dict[str, str],
) -> None:
    """Numbers no one holds, ten at once, through two hub processes: the office's enrollment
    bucket (4) lets four reach J-LIS (not found), the other six are refused with a retry-after
    and recorded; its query bucket is untouched."""
    env, node = deployment, None
    procs = [await start(env, "token"), await start(env, "office", "jlis")]
    try:
        procs += [await start(as_hub(env), "hub") for _ in range(2)]
        node = await child(env)
        node.jlis_seal = State.load(Path(env["RENKEI_STATE_DIR"]), [CHILD]).public["jlis"].seal
        assert await consumers(env, HUB_REQUESTS, 2) == 2
        facts = Facts(name="番号 花子", birth_date="1980-05-05", sex="2", address="千代田区")

        async def guess(n: int) -> str:
            number = individual_number(f"{(n * 7919 + 12345) % 10**11:011d}")
            try:
                await node.enroll(number, facts)  # type: ignore[union-attr]
            except EnrollmentRefused as exc:
                return exc.code
            return "enrolled"

        got = Counter(await asyncio.gather(*(guess(n) for n in range(10))))
        assert got == Counter({"not_found": 4, QUOTA: 6})
        assert await quota_records(env) == Counter({"enrollment": 6})
        assert codes(await ask_many(node, "childcare_benefit", 1)) == Counter({"token": 1})
    finally:
        await stop(procs)
        await close(node)


async def test_a_dishonest_office_is_refused_and_recorded(deployment: dict[str, str]) -> None:
    env, node = deployment, None
    procs = [await start(env, "token")]
    try:
        procs.append(await start(as_hub(env), "hub"))
        node = await child(env)
        # its per-affair bucket (3) holds a flood of that affair
        assert codes(await ask_many(node, "child_allowance", 10)) == Counter({"token": 3, QUOTA: 7})
        # moved to its other affair: the office's bucket (6) holds
        assert codes(await ask_many(node, "childcare_benefit", 10)) == Counter(
            {"token": 6, QUOTA: 4}
        )
        # a made-up affair takes from the office's bucket too, empty by now
        assert codes(await ask_many(node, "made_up_affair", 3)) == Counter({QUOTA: 3})
        assert await quota_records(env) == Counter(
            {"child_allowance": 7, "childcare_benefit": 4, "made_up_affair": 3}
        )
        # the interactive lane: the broker lets only interactive offices (the portal) write it
        with pytest.raises(AccessRefused):
            await node.bus.publish(
                INTERACTIVE_EXCHANGE, RK_QUERY, OutMessage(b"{}", message_id="jump-the-queue")
            )
    finally:
        await stop(procs)
        await close(node)


async def test_an_office_sending_its_query_again_pays_for_the_copy(
    deployment: dict[str, str],
) -> None:
    """The same signed bytes published again by the office are a replay, never the broker's
    redelivery (only the broker sets that mark, and only a redelivery the claim vouches for
    goes without a token): refused ``hub.replayed_query``, recorded, and a token taken — the
    bucket (3) is empty after two queries and the copy, so a third query is over quota."""
    env, node = deployment, None
    procs = [await start(env, "token")]
    try:
        procs.append(await start(as_hub(env), "hub"))
        node = await child(env)
        sent: list[tuple[str, str, OutMessage]] = []
        publish = node.bus.publish

        async def kept(exchange: str, key: str, msg: OutMessage, **kw: Any) -> None:
            sent.append((exchange, key, msg))
            await publish(exchange, key, msg, **kw)

        node.bus.publish = kept  # type: ignore[method-assign]
        assert codes(await ask_many(node, "child_allowance", 2)) == Counter({"token": 2})
        await publish(*sent[0])
        async with asyncio.timeout(10):
            while await replay_records(env) < 1:  # noqa: ASYNC110 - the hub signals nothing
                await asyncio.sleep(0.1)
        assert codes(await ask_many(node, "child_allowance", 1)) == Counter({QUOTA: 1})
    finally:
        await stop(procs)
        await close(node)


async def replay_records(env: dict[str, str]) -> int:
    conn = await asyncpg.connect(env["RENKEI_DB_URL"])
    try:
        found: int = await conn.fetchval(
            "SELECT count(*) FROM records.access_record WHERE requester = $1"
            " AND reason LIKE 'hub.replayed_query:%'",
            CHILD,
        )
    finally:
        await conn.close()
    return found


async def test_a_full_inbox_pushes_back_and_the_node_retries(deployment: dict[str, str]) -> None:
    env = deployment
    node = await child(env, retries=True)
    node.deadline = dt.timedelta(seconds=3)
    procs: list[asyncio.subprocess.Process] = []
    try:
        for n in range(3):  # no hub yet: the inbox (bound 2) fills and refuses
            await node.bus.publish(
                "renkei.hub", RK_QUERY, OutMessage(b"{}", message_id=f"fill-{n}")
            )
        given_up = await ask_many(node, "child_allowance", 1)
        assert given_up[0].code == "office.back_pressure" and given_up[0].attempts > 1
        # now a hub comes while the node backs off: the query goes through
        node.deadline = dt.timedelta(seconds=60)
        pauses: list[float] = []
        second = asyncio.Event()
        sleep = node.sleep

        async def counted(seconds: float) -> None:
            pauses.append(seconds)
            if len(pauses) == 2:
                second.set()
            await sleep(seconds)

        node.sleep = counted
        asking = asyncio.create_task(ask_many(node, "child_allowance", 1))
        await asyncio.wait_for(second.wait(), 30)
        procs.append(await start(env, "token"))
        procs.append(await start(as_hub(env), "hub"))
        [answer] = await asking
        assert answer.code.startswith("token.") and answer.attempts >= 3
    finally:
        await node.stop()
        await node.bus.close()
        await stop(procs)
