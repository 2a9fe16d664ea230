"""A season replayed against the embedded network: the CLI end to end (a minute, a few thousand
messages, the loss check passing), and the loss check read from the network's own stores
failing when an access record or a change event is taken away or doubled there."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from proc_env import RENKEI

from hub.node import EVENTS
from loadtest.accounting import check
from loadtest.driver import replay
from loadtest.schedule import make_schedule
from loadtest.season import load_season
from loadtest.stats import Stats
from renkei.network import identities, load_rules
from renkei.replay import close_target, open_target
from renkei.secrets import State
from renkei.settings import Settings


def _read_report(reports: Path) -> tuple[dict[str, Any], str]:
    (folder,) = reports.iterdir()
    return json.loads((folder / "report.json").read_text()), (folder / "report.html").read_text()


async def test_the_june_season_replayed_embedded_loses_nothing(tmp_path: Path) -> None:
    """`renkei season replay` as its own process (it runs a whole network and freezes the
    garbage collector, as every service does: not in the test process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
    proc = await asyncio.create_subprocess_exec(
        RENKEI, "season", "replay", "june-child-allowance", "--rate", "50", "--duration", "40s",
        "--residents", "3000", "--reports", str(tmp_path),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    raw, _ = await asyncio.wait_for(proc.communicate(), 600)
    out = raw.decode()
    assert proc.returncode == 0, out
    assert "loss check: nothing lost" in out
    report, page = _read_report(tmp_path)
    assert report["loss"]["ok"]
    assert report["run"]["scheduled"] > 1800
    assert sum(report["statuses"].values()) == report["run"]["scheduled"]
    figures = report["loss"]["figures"]
    assert figures["queries_sent"] >= report["run"]["scheduled"] * 0.9
    assert figures["access_records_for_them"] == figures["queries_sent"]
    assert figures["change_deliveries_kept"] == figures["change_deliveries_expected"] > 0
    assert set(report["latency"]["by_stream"]) == {
        t.name for t in load_season("june-child-allowance").traffic
    }
    assert report["processes"]["rss_mb"]
    assert page.count("data:image/png;base64,") >= 6
    assert "nothing lost" in page


async def test_the_loss_check_reads_the_stores_and_fails_on_what_is_missing_or_doubled() -> None:
    season = load_season("june-child-allowance")
    settings = Settings(_env_file=None)
    state = State.generate(identities(load_rules(settings)[1]))
    target = await open_target(
        settings, state, season, residents=2000, progress=lambda _: None, freeze=False
    )
    try:
        schedule = make_schedule(season, duration=8, day_seconds=240, rate=40, start_hour=9, seed=4)
        stats = Stats(
            tuple(t.name for t in season.traffic), tuple(t.office for t in season.traffic), 1.0
        )
        await replay(schedule, target.send, stats)
        assert check(target.ledger, await target.facts()).ok
        assert target.ledger.events, "the schedule should hold change events"

        records = target.net.records._records  # type: ignore[union-attr]  # injected loss
        taken = records.pop(len(records) // 2)
        verdict = check(target.ledger, await target.facts())
        assert any("no access record" in p and str(taken.query_id) in p for p in verdict.problems)
        records.append(taken)
        records.append(dataclasses.replace(taken))  # and doubled
        verdict = check(target.ledger, await target.facts())
        assert any("more than one access record" in p for p in verdict.problems)
        records.pop()
        assert check(target.ledger, await target.facts()).ok

        marker, holders = next((m, h) for m, h in target.ledger.events.items() if h)
        office = sorted(holders)[0]
        docs = target.net.stores[office]._docs[EVENTS]  # type: ignore[attr-defined]
        key = next(k for k, d in docs.items() if d["detail"].get("replay") == marker)
        kept = docs.pop(key)
        verdict = check(target.ledger, await target.facts())
        assert any("never applied" in p and f"{marker}@{office}" in p for p in verdict.problems)
        docs[key] = kept
        docs[key + "-again"] = kept  # the same event applied a second time
        verdict = check(target.ledger, await target.facts())
        assert any("more than once" in p and f"{marker}@{office}" in p for p in verdict.problems)
    finally:
        await close_target(target)
