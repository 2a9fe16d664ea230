"""docs/operations.md, "Rotating a signing key", run as written: while 児童手当 keeps asking
the tax office, its signing key is rotated, the hub restarted one process at a time, the office
switched to its new key, the old key retired — no query lost, and the old key refused after."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ops_env import ASK, Flow
from proc_env import TAX_YEAR, as_hub, cli, deployed, file_taxpayer, office_node, start, stop

from hub.node import OfficeNode
from renkei.secrets import State

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]
CHILD = "chiyoda-child"


async def restart_hub(env: dict[str, str], hubs: list[asyncio.subprocess.Process]) -> None:
    """The hub's processes one at a time: a new one up (it reads public/ again), then the
    oldest stopped; the others keep answering meanwhile."""
    hubs.append(await start(as_hub(env), "hub"))
    assert await stop([hubs.pop(0)]) == [0]


async def close(node: OfficeNode) -> None:
    await node.stop()
    await node.bus.close()


async def test_an_offices_signing_key_is_rotated_while_queries_flow(tmp_path: Path) -> None:
    async with deployed(tmp_path) as env:
        root = Path(env["RENKEI_STATE_DIR"])
        token = await file_taxpayer(env, ASK[1], CHILD)
        services = [await start(env, "token"), await start(env, "office", ASK[1])]
        hubs = [await start(as_hub(env), "hub")]
        before = State.load(root, [CHILD])  # the office's host: its key before the rotation
        flow = Flow(await office_node(env, before, CHILD), token)
        try:
            await flow.answered(3)
            code, out = await cli(env, "keys", "rotate", CHILD)
            assert code == 0, out
            await restart_hub(env, hubs)  # 1. public/ everywhere: both keys accepted
            await flow.answered(3)  # still signing with the old key
            after = State.load(root, [CHILD])  # 2. the office's host gets its new folder
            assert after.keys[CHILD].to_seed() != before.keys[CHILD].to_seed()
            await close(await flow.swap(await office_node(env, after, CHILD)))
            await flow.answered(3)
            code, out = await cli(env, "keys", "retire", CHILD)  # 3. the old key retired
            assert code == 0, out
            await restart_hub(env, hubs)
            await flow.answered(3)
            await flow.pause()
            statuses = [(a.status, a.code) for a in flow.answers]
            assert statuses == [("ok", "")] * len(flow.answers), "no query lost or refused"
            assert flow.answers[-1].data == {"local_tax": {"fiscal_year": 2024, **TAX_YEAR["2024"]}}

            await close(flow.node)  # someone still holding the retired key
            flow.node = await office_node(env, before, CHILD)
            refused = await flow.node.ask(ASK[0], ASK[1], ASK[2], token, {"fiscal_year": 2024})
            assert (refused.status, refused.code) == ("refused", "wire.bad_signature")
        finally:
            await flow.pause()
            await close(flow.node)
            codes = await stop([*services, *hubs])
        assert codes == [0] * len(codes)
        code, out = await cli(env, "records", "verify")
        assert code == 0, out
        assert "witness: the records still hold the newest head(s)" in out
