"""A season replayed against the real network: RabbitMQ and PostgreSQL, the population written
by `renkei population generate`, the token service and the hub as their own processes, the
other offices (the holders of the people whose changes are reported) on the same broker, and
`renkei season replay --broker --db` as a process of its own playing the season's senders. The
loss check reads the access records, the offices' stores and the dead-letter queue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from proc_env import as_hub, cli, deployed, start, stop

from loadtest.season import load_season
from renkei.network import open_network
from renkei.secrets import State
from renkei.settings import Settings

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


async def test_the_june_season_replayed_on_rabbitmq_and_postgres(tmp_path: Path) -> None:
    season = load_season("june-child-allowance")
    async with deployed(tmp_path) as env:
        code, out = await cli(
            env, "population", "generate", "--residents", "5000", "--workers", "0"
        )  # enough movers from 新宿区 for the 転入元's streams
        assert code == 0, out
        settings = Settings(
            broker_url=env["RENKEI_BROKER_URL"],
            broker_vhost=env["RENKEI_BROKER_VHOST"],
            broker_user_prefix=env["RENKEI_BROKER_USER_PREFIX"],
            db_url=env["RENKEI_DB_URL"],
            state_dir=Path(env["RENKEI_STATE_DIR"]),
            tracing=False,
            _env_file=None,
        )
        senders = set(season.offices())
        codes = [p.stem for p in (Path(env["RENKEI_STATE_DIR"]) / "public").glob("*.pub")]
        others = [
            c
            for c in codes
            if c not in senders and c not in ("hub", "token", "monitor", "replayer")
        ]
        procs = [await start(env, "token"), await start(as_hub(env), "hub")]
        net = await open_network(settings, State.load(settings.state_dir, others), run=others)
        try:
            code, out = await cli(
                env,
                "season", "replay", "june-child-allowance", "--rate", "15", "--duration", "20s",
                "--reports", str(tmp_path / "reports"),
            )  # fmt: skip
        finally:
            await net.aclose()
            assert await stop(procs) == [0, 0]
    assert code == 0, out
    assert "loss check: nothing lost" in out
    assert "on the real network without child_claims, portal_logins" in out  # no CA to card
    (folder,) = (tmp_path / "reports").iterdir()
    report = json.loads((folder / "report.json").read_text())
    assert report["run"]["network"] == "RabbitMQ and PostgreSQL"
    assert report["run"]["hub_processes"] >= 1
    figures = report["loss"]["figures"]
    assert figures["access_records_for_them"] == figures["queries_sent"] > 100
    assert figures["change_deliveries_kept"] == figures["change_deliveries_expected"]
    assert "office.chiyoda-child.replies" in report["queues"]["depth"]
