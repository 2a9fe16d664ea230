"""A season replayed against the embedded network: the CLI end to end (a minute, a few thousand
messages, logins and applications among them, the loss check passing), and the loss check read
from the network's own stores failing when an access record or a change event is taken away or
doubled there, or an application's receipt, decision or お知らせ taken away; a query stream asks
only about the people its provider holds."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from proc_env import RENKEI

from agencies.applications import COLLECTION
from agencies.municipality.child_claims import CLAIMS
from hub.node import EVENTS
from hub.wire import HUB
from loadtest.accounting import ACCEPTED, MISNAMED, REFUSED, check
from loadtest.driver import replay
from loadtest.schedule import Arrival, make_schedule
from loadtest.season import CARD_KINDS, load_season
from loadtest.stats import Stats
from renkei.exceptions import CommandError
from renkei.network import identities, load_rules
from renkei.replay import close_target, open_target
from renkei.replay_portal import apply, log_in
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
    assert figures["logins_answered"] == figures["logins"] > 0
    assert figures["applications_filed"] == figures["applications_accepted"] > 0
    assert figures["decisions_told"] == figures["applications_processed"] > 0
    assert figures["applications_processed"] == figures["applications_to_process"]
    assert report["by_stream_status"]["child_claims"] == {"ok": figures["applications"]}
    assert report["latency"]["by_stream"]["portal_logins"]["count"] == figures["logins"]
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
        settings, state, season, residents=5000, progress=lambda _: None, freeze=False
    )  # enough movers from 新宿区 for the 転入元's streams
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
        verdict = check(target.ledger, await target.facts(late=0))
        assert any("no access record" in p and str(taken.query_id) in p for p in verdict.problems)
        # written late (a stalled hub records the time-out after its requester gave up): the
        # check waits for it
        asyncio.get_running_loop().call_later(1.0, records.append, taken)
        assert check(target.ledger, await target.facts(late=5)).ok
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
        docs.pop(key + "-again")
        await _applications_checked(target)
    finally:
        await close_target(target)


async def _applications_checked(target: Any) -> None:
    """A claim's receipt, its decision, its お知らせ taken away: each fails the check."""
    assert target.ledger.logins and set(target.ledger.logins.values()) == {ACCEPTED}
    accepted = [a for a, s in target.ledger.applications.items() if s == ACCEPTED]
    assert accepted and set(accepted) == target.ledger.processed
    app = accepted[0]
    child = target.net.stores["chiyoda-child"]._docs
    portal = target.net.stores["myna-portal"]._docs

    async def fails(words: str) -> None:
        verdict = check(target.ledger, await target.facts(settle=0))
        assert any(words in p and app in p for p in verdict.problems), verdict.problems

    receipt = child[COLLECTION].pop(app)
    await fails("accepted but never filed")
    child[COLLECTION][app] = receipt
    claim = child[CLAIMS][app]
    child[CLAIMS][app] = {**claim, "decision": None}
    await fails("never decided")
    child[CLAIMS][app] = claim
    person = target.filed[app][1]
    notices = portal["notices"][person]
    portal["notices"][person] = {"notices": []}
    await fails("never told")
    portal["notices"][person] = notices
    assert check(target.ledger, await target.facts(settle=0)).ok


async def test_a_forged_or_borrowed_card_is_refused_and_a_misnamed_login_caught() -> None:
    """The replay's portal side, as a dishonest resident would try it: a certificate that is
    none, a card naming someone else (the check catches it), an application signed with
    another resident's card (the portal refuses it: J-LIS names the signer)."""
    season = load_season("june-child-allowance")
    settings = Settings(_env_file=None)
    state = State.generate(identities(load_rules(settings)[1]))
    target = await open_target(
        settings, state, season, residents=5000, progress=lambda _: None, freeze=False,
        counts={"child_claims": 3, "portal_logins": 3},
    )  # fmt: skip
    try:
        assert target.cards is not None
        portal = target.net.apps["myna-portal"]
        signers = [target.wallet[p] for p in target.people["child_claims"]]
        mine, theirs = signers[0], signers[1]
        assert (await log_in(target.cards, portal, mine))[0] == ACCEPTED
        forged = dataclasses.replace(mine, auth=b"\x30\x03\x02\x01\x00")
        status, outcome = await log_in(target.cards, portal, forged)
        assert (status, outcome.status) == (REFUSED, "refused")
        status, outcome = await log_in(
            target.cards, portal, dataclasses.replace(mine, person=theirs.person)
        )
        assert status == MISNAMED and outcome.code == "replay.login_misnamed"
        borrowed = dataclasses.replace(mine, sign=theirs.sign, key=theirs.key)
        form = dict(next(t.form for t in season.traffic if t.name == "child_claims"))
        status, outcome = await apply(portal, borrowed, "child_allowance", form, uuid.uuid4())
        assert (status, outcome.code) == (REFUSED, "portal.signer_mismatch")
        status, outcome = await apply(portal, mine, "child_allowance", form, uuid.uuid4())
        assert (status, outcome.status) == (ACCEPTED, "ok")
    finally:
        await close_target(target)


async def test_a_query_stream_asks_about_the_people_its_provider_holds() -> None:
    """The movers a ward's offices ask the 転入元 about, the 広域連合's insured of each ward:
    each stream's people are the sender's that the provider holds (the hub's directory), so
    the replay sends no query bound to be answered not_found; a provider holding none of them
    is refused before anything is sent."""
    season = load_season("summer-notices").without(CARD_KINDS)
    settings = Settings(_env_file=None)
    state = State.generate(identities(load_rules(settings)[1]))
    target = await open_target(
        settings, state, season, residents=5000, progress=lambda _: None, freeze=False
    )
    try:
        for t in season.traffic:
            if t.kind != "query":
                continue
            people = target.people[t.name]
            hub = [target.ring.translate(p, t.office, (HUB,))[0] for p in people]
            assert await target.directory.held_by(str(t.provider), hub) == set(hub), t.name
            mine = await target.net.stores[t.office].keys(t.collection)
            if t.provider != "nenkin":  # every 65+ of the care office has a pension
                assert 0 < len(people) < len(mine), t.name  # the filter took some away
        nobody = season.traffic[0].model_copy(update={"provider": "chiyoda-childrearing"})
        bad = season.model_copy(update={"traffic": (nobody, *season.traffic[1:])})
        with pytest.raises(CommandError, match="holds none of chiyoda-nhi's 'insured'"):
            await open_target(
                settings, state, bad, residents=500, progress=lambda _: None, freeze=False
            )
    finally:
        await close_target(target)


async def test_a_move_out_filed_online_is_followed_through_and_a_lost_card_refused() -> None:
    """The spring season's 転出届 filed in the portal (signed): filed once by the register,
    its move out kept once by every holder and by 新宿区's register, the signature certificate
    revoked (a second application with it is refused) — taking the move out away from the
    register moved to fails the check. A card reported lost is refused at every login, as
    expected; the mover still logs in (a 転出 leaves the authentication certificate valid)."""
    season = load_season("spring-moves").without(frozenset({"query", "change", "portal_page"}))
    streams = [t.name for t in season.traffic]
    settings = Settings(_env_file=None)
    state = State.generate(identities(load_rules(settings)[1]))
    target = await open_target(
        settings, state, season, residents=5000, progress=lambda _: None, freeze=False,
        counts={"moving_online": 2, "lost_card_logins": 2, "portal_logins": 2},
    )  # fmt: skip
    try:
        moving, lost = streams.index("moving_online"), streams.index("lost_card_logins")
        movers, losers = target.people["moving_online"], target.people["lost_card_logins"]
        assert not {*movers, *losers} & {*target.people["portal_logins"]}
        for n in range(2):
            assert (await target.send(Arrival(0.0, moving, n))).status == "ok"
            assert (await target.send(Arrival(0.0, lost, 10 + n))).code == "replay.login_refused"
        verdict = check(target.ledger, await target.facts())
        assert verdict.ok, verdict.problems
        figures = verdict.figures
        assert figures["signatures_revoked"] == figures["signatures_to_revoke"] == 2
        assert figures["logins_revoked_refused"] == figures["logins_revoked"] == 2
        assert figures["applications_filed"] == 2
        events = {e: h for e, h in target.ledger.events.items() if "shinjuku-resident" in h}
        assert len(events) == 2 and all(len(h) > 2 for h in events.values())

        portal = target.net.apps["myna-portal"]
        mover = target.wallet[movers[0]]
        form = {**next(t.form for t in season.traffic if t.name == "moving_online")}
        form["moving_date"] = dt.datetime.now(dt.UTC).date().isoformat()
        status, outcome = await apply(portal, mover, "moving", form, uuid.uuid4())
        assert (status, outcome.code) == (REFUSED, "jlis.certificate_revoked")
        assert (await log_in(target.cards, portal, mover))[0] == ACCEPTED  # type: ignore[arg-type]

        event = next(iter(events))
        docs = target.net.stores["shinjuku-resident"]._docs[EVENTS]  # type: ignore[attr-defined]
        kept = docs.pop(event)
        verdict = check(target.ledger, await target.facts(settle=0))
        assert any(f"{event}@shinjuku-resident" in p for p in verdict.problems), verdict.problems
        docs[event] = kept
    finally:
        await close_target(target)
