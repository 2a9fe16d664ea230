"""docs/operations.md, "Adding an office", run as written against RabbitMQ and PostgreSQL:
the registry entry, `renkei init` (the new identity's files only), `broker setup`, `db
migrate`, the hub restarted one process at a time with the new registry and public/ — and
the new office answers a query."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path

import pytest
from ops_env import ASK
from proc_env import TAX_YEAR, as_hub, cli, deployed, file_taxpayer, office_node, start, stop

from renkei.secrets import State

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]
CHILD, NEW = "chiyoda-child", "shibuya-tax"
ENTRY = """
[offices.shibuya-tax]
name_ja = "渋谷区 税務課"
name_en = "Shibuya City, taxation division"
kind = "municipality"
municipality = "131130"
affairs = ["local_tax_assessment"]
provides = ["local_tax"]
roles = ["local_tax"]
"""


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def test_a_new_office_joins_a_running_network_and_answers(tmp_path: Path) -> None:
    async with deployed(tmp_path) as env:
        root = Path(env["RENKEI_STATE_DIR"])
        services = [await start(env, "token")]
        hubs = [await start(as_hub(env), "hub")]
        try:
            # 1. the registry entry, in the operator's copy of the registry
            registry = tmp_path / "offices.toml"
            packaged = resources.files("hub.routing") / "offices.toml"
            registry.write_text(packaged.read_text(encoding="utf-8") + ENTRY, encoding="utf-8")
            new_env = {**env, "RENKEI_OFFICES": str(registry)}
            # 2. its keys and password: init writes what is missing and nothing else
            before = files(root)
            code, out = await cli(new_env, "init")
            assert (code, out) == (0, f"3 files written under {root} (existing ones kept)\n")
            after = files(root)
            assert {k: v for k, v in after.items() if k in before} == before
            assert sorted(set(after) - set(before)) == [
                f"public/{NEW}.pub",
                f"{NEW}/broker-password",
                f"{NEW}/private-key",
            ]
            # 3. its broker user, queues and permissions; 4. its schema
            for step in (("broker", "setup"), ("db", "migrate")):
                code, out = await cli(new_env, *step)
                assert code == 0, out
            token = await file_taxpayer(env, NEW, CHILD)
            child = await office_node(env, State.load(root, [CHILD]), CHILD)
            ask = (ASK[0], NEW, ASK[2], token, {"fiscal_year": 2024})
            try:
                unknown = await child.ask(*ask)  # the hub has not read the new registry yet
                assert (unknown.status, unknown.code) == ("refused", "routing.unknown_provider")
                # 5. the office runs; 6. the hub's processes one at a time, new registry
                services.append(await start(new_env, "office", NEW))
                hubs.append(await start(as_hub(new_env), "hub"))
                assert await stop([hubs.pop(0)]) == [0]
                answers = await asyncio.gather(*(child.ask(*ask) for _ in range(3)))
            finally:
                await child.stop()
                await child.bus.close()
            assert [(a.status, a.code) for a in answers] == [("ok", "")] * 3
            assert answers[0].data == {"local_tax": {"fiscal_year": 2024, **TAX_YEAR["2024"]}}
        finally:
            codes = await stop([*services, *hubs])
        assert codes == [0] * len(codes)
        code, out = await cli(new_env, "records", "verify")
        assert code == 0, out
