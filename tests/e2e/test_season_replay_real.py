"""A season replayed against the real network: RabbitMQ and PostgreSQL, the population written
by `renkei population generate`, the token service, the hub, the CA and the portal as their own
processes, the other offices (the holders of the people whose changes are reported) on the same
broker, and `renkei season replay --broker --db --portal` as a process of its own playing the
season's senders and the portal's residents over HTTP (their cards from the deployment's CA).
The loss check reads the access records, the offices' stores and the dead-letter queue; an
application taken out of the office's store, or filed there a second time, fails it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from proc_env import as_hub, cli, deployed, free_port, start, stop

from agencies.applications import COLLECTION
from hub.node import EVENTS, schema_for
from loadtest.accounting import ACCEPTED, check
from loadtest.schedule import Arrival
from loadtest.season import load_season
from renkei.network import load_rules, open_network, with_juki
from renkei.pki_checks import signatures_on_disk
from renkei.replay import close_target, open_target, senders
from renkei.replay_web import PortalWeb
from renkei.secrets import State
from renkei.settings import Settings

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]
SEASON = "june-child-allowance"
SLOW = 120  # seconds a process may take to start on a busy machine
CHILD = "chiyoda-child"  # takes the 児童手当 認定請求 (and is one of the season's senders)


def _settings(env: dict[str, str]) -> Settings:
    return Settings(
        broker_url=env["RENKEI_BROKER_URL"],
        broker_vhost=env["RENKEI_BROKER_VHOST"],
        broker_user_prefix=env["RENKEI_BROKER_USER_PREFIX"],
        db_url=env["RENKEI_DB_URL"],
        state_dir=Path(env["RENKEI_STATE_DIR"]),
        tracing=False,
        _env_file=None,
    )


async def test_the_june_season_replayed_on_rabbitmq_and_postgres(tmp_path: Path) -> None:
    season = load_season(SEASON)
    async with deployed(tmp_path) as env:
        code, out = await cli(
            env, "population", "generate", "--residents", "5000", "--workers", "0"
        )  # enough movers from 新宿区 for the 転入元's streams
        assert code == 0, out
        settings = _settings(env)
        pki, portal = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
        procs = [
            await start(env, "token", within=SLOW),
            await start(as_hub(env), "hub", within=SLOW),
        ]
        try:
            procs.append(
                await start(env, "serve", "--port", pki.rsplit(":", 1)[1], command="pki",
                            ready=b"CA serving", within=SLOW)
            )  # fmt: skip
            procs.append(
                await start(env, "serve", "--port", portal.rsplit(":", 1)[1],
                            "--public-url", portal, command="portal", ready=b"portal:",
                            within=SLOW)
            )  # fmt: skip
            played = {*senders(season, web=True), "myna-portal", "jlis-pki"}  # the processes'
            codes = [p.stem for p in (settings.state_dir / "public").glob("*.pub")]
            others = [
                c
                for c in codes
                if c not in played and c not in ("hub", "token", "monitor", "replayer")
            ]
            net = await open_network(
                settings,
                State.load(settings.state_dir, with_juki(load_rules(settings)[1], others)),
                run=others,
                signatures=signatures_on_disk(settings.state_dir),
            )
            try:
                code, out = await cli(
                    env,
                    "season", "replay", SEASON, "--rate", "15", "--duration", "20s",
                    "--portal", portal, "--pki", pki, "--reports", str(tmp_path / "reports"),
                    within=300,
                )  # fmt: skip
                assert code == 0, out
                await _filed_once_or_caught(settings, season, portal, pki)
                await _moved_online_and_lost_cards(settings, portal, pki)
            finally:
                await net.aclose()
        finally:
            assert await stop(procs) == [0, 0, 0, 0]
    assert "loss check: nothing lost" in out
    (folder,) = (tmp_path / "reports").iterdir()
    report = json.loads((folder / "report.json").read_text())
    assert report["run"]["network"] == "RabbitMQ and PostgreSQL"
    assert report["run"]["hub_processes"] >= 1
    assert report["run"]["portal"] == portal
    figures = report["loss"]["figures"]
    assert figures["access_records_for_them"] == figures["queries_sent"] > 100
    assert figures["change_deliveries_kept"] == figures["change_deliveries_expected"]
    assert figures["logins_answered"] == figures["logins"] > 0
    assert figures["applications_filed"] == figures["applications_accepted"] > 0
    assert figures["decisions_told"] == figures["applications_processed"] > 0
    assert figures["applications_processed"] == figures["applications_to_process"]
    by_stream = report["by_stream_status"]
    assert by_stream["child_claims"] == {"ok": figures["applications"]}
    assert by_stream["portal_logins"] == {"ok": figures["logins"]}
    assert set(by_stream["portal_history"]) == {"ok"}
    assert "office.chiyoda-child.replies" in report["queues"]["depth"]
    assert {"portal", "pki"} <= set(report["processes"]["rss_mb"])


async def _moved_online_and_lost_cards(settings: Settings, portal: str, pki: str) -> None:
    """The spring season's kinds at the portal process: two 転出届 filed (signed) and followed
    through — filed once by 千代田区's register (run here, with its link to J-LIS), the move
    out kept once by every holder and by 新宿区's register, the signature certificate on the
    CA's CRL — and two cards reported lost, refused at login as expected; the mover still logs
    in (the authentication certificate survives a 転出). The move out taken from 新宿区's
    register fails the check."""
    season = load_season("spring-moves").without(frozenset({"query", "change", "portal_page"}))
    register = ["chiyoda-resident"]
    operator = (settings.state_dir / "pki" / "operator-token").read_text().strip()
    offices = await open_network(
        settings,
        State.load(settings.state_dir, with_juki(load_rules(settings)[1], register)),
        run=register,
        signatures=signatures_on_disk(settings.state_dir),
    )
    target = await open_target(
        settings,
        State.load(settings.state_dir, ["token"]),
        season,
        progress=lambda _: None,
        freeze=False,
        counts={"moving_online": 2, "lost_card_logins": 2, "portal_logins": 1},
        web=PortalWeb(portal, pki, operator),
    )
    pool = await asyncpg.create_pool(settings.db_url, min_size=1, max_size=2)
    try:
        streams = [t.name for t in season.traffic]
        moving, lost = streams.index("moving_online"), streams.index("lost_card_logins")
        for n in range(2):
            assert (await target.send(Arrival(0.0, moving, n))).status == "ok"
            assert (await target.send(Arrival(0.0, lost, 10 + n))).code == "replay.login_refused"
        verdict = check(target.ledger, await target.facts())
        assert verdict.ok, verdict.problems
        figures = verdict.figures
        assert figures["signatures_revoked"] == figures["signatures_to_revoke"] == 2
        assert figures["logins_revoked_refused"] == figures["logins_revoked"] == 2
        assert figures["applications_filed"] == figures["applications_accepted"] == 2
        assert target.web is not None
        mover = target.web.cards[target.people["moving_online"][0]]
        assert (await target.web.log_in(mover))[0] == ACCEPTED
        event = next(e for e, h in target.ledger.events.items() if "shinjuku-resident" in h)
        docs = f"{schema_for('shinjuku-resident')}.docs"
        where = f"FROM {docs} WHERE collection = $1 AND key = $2"
        row = await pool.fetchrow(f"SELECT token, doc {where}", EVENTS, event)
        await pool.execute(f"DELETE {where}", EVENTS, event)
        verdict = check(target.ledger, await target.facts(settle=0))
        assert any(f"{event}@shinjuku-resident" in p for p in verdict.problems), verdict.problems
        await pool.execute(
            f"INSERT INTO {docs} (collection, key, token, doc) VALUES ($1, $2, $3, $4)",
            EVENTS, event, row["token"], row["doc"],
        )  # fmt: skip
    finally:
        await pool.close()
        await close_target(target)
        await offices.aclose()


async def _filed_once_or_caught(settings: Settings, season: Any, portal: str, pki: str) -> None:
    """Two 認定請求 filed at the portal process; the check passes, then fails when one's receipt
    is taken out of the office's store, and when it is filed there a second time (another
    row bearing its id). The season's senders run here now (the replayer has ended)."""
    claims = season.without(frozenset({"query", "change", "portal_page", "portal_login"}))
    mine = senders(season, web=True)
    operator = (settings.state_dir / "pki" / "operator-token").read_text().strip()
    offices = await open_network(
        settings,
        State.load(settings.state_dir, with_juki(load_rules(settings)[1], mine)),
        run=mine,
        signatures=signatures_on_disk(settings.state_dir),
    )
    target = await open_target(
        settings,
        State.load(settings.state_dir, ["token"]),
        claims,
        progress=lambda _: None,
        freeze=False,
        counts={"child_claims": 2},
        web=PortalWeb(portal, pki, operator),
    )
    pool = await asyncpg.create_pool(settings.db_url, min_size=1, max_size=2)
    try:
        for n in range(2):
            assert (await target.send(Arrival(0.0, 0, n))).status == "ok"
        assert set(target.ledger.applications.values()) == {ACCEPTED}
        verdict = check(target.ledger, await target.facts())
        assert verdict.ok, verdict.problems
        app = sorted(target.ledger.applications)[0]
        docs = f"{schema_for(CHILD)}.docs"
        where = f"FROM {docs} WHERE collection = $1 AND key = $2"
        row = await pool.fetchrow(f"SELECT token, doc {where}", COLLECTION, app)
        await pool.execute(f"DELETE {where}", COLLECTION, app)  # lost
        verdict = check(target.ledger, await target.facts(settle=0))
        assert any("never filed" in p and app in p for p in verdict.problems), verdict.problems
        for key in (app, f"{app}-again"):  # back, and filed a second time
            await pool.execute(
                f"INSERT INTO {docs} (collection, key, token, doc) VALUES ($1, $2, $3, $4)",
                COLLECTION, key, row["token"], row["doc"],
            )  # fmt: skip
        verdict = check(target.ledger, await target.facts(settle=0))
        assert any("more than once" in p and app in p for p in verdict.problems), verdict.problems
    finally:
        await pool.close()
        await close_target(target)
        await offices.aclose()
