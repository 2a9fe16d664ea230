"""A dishonest office with its own keys and broker password, nothing more (issue 11, 4 and 6):
it hides its queries from the resident, or replays them. Each attack is refused, recorded, and
never reaches the provider; the lawful withholding is recorded with its basis and its end, and
an operator can lift it. On both backends; ``chiyoda-child`` and the others are played by hand.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from e2e_env import Env, RawOffice
from test_query_flow import ask, person, query, records_of

from agencies.jlis.numbers import generate_rrc
from hub.bus import Delivery
from hub.records import AccessRecord, digest, disclose, verify_store
from hub.routing.finish import record_key, replay_key
from hub.wire import Answered, ForwardedQuery, Query, Refused, Reply, TimedOut, decode, encode
from hub.wire import open_sealed as unseal
from renkei.network import Network

# two wards: the ward's own offices read each other in-house (庁内連携), not over the network
CHILD, TAX, WELFARE, PORTAL = "chiyoda-child", "shinjuku-tax", "chiyoda-welfare", "myna-portal"
RENKEI = str(Path(sys.executable).with_name("renkei"))


def variant(q: Query, *, affair: str = "", params: Any = None, **changes: Any) -> Query:
    """``q`` with other envelope fields (``issued_at``, ``deadline``), affair, parameters or
    flags (``not_disclosed``): the office signs whatever it likes."""
    envelope = {k: changes.pop(k) for k in ("issued_at", "deadline") if k in changes}
    if affair:
        envelope["affair"] = affair
    if params is not None:
        changes["params"] = params
    return q.model_copy(update={"envelope": q.envelope.model_copy(update=envelope), **changes})


async def refusal(office: RawOffice, q: Query) -> Refused:
    await ask(office, q)
    reply = await office.reply()
    assert isinstance(reply.outcome, Refused), reply.outcome
    assert reply.envelope.correlation_id == q.envelope.message_id
    return reply.outcome


async def record_under(net: Network, key: uuid.UUID) -> bool:
    assert net.records is not None
    return key in await net.records.exists([key])


async def forwarded_to(env: Env, net: Network, office: str) -> asyncio.Queue[ForwardedQuery]:
    """What the hub forwards to ``office``, read from its queue with its own credentials."""
    found: asyncio.Queue[ForwardedQuery] = asyncio.Queue()

    async def keep(d: Delivery) -> None:
        msg = decode(d.body)
        if isinstance(msg, ForwardedQuery):
            await found.put(msg)
        await d.ack()

    await (await env.connect(net, office)).consume(f"office.{office}.in", keep)
    return found


async def portal_sees(env: Env, portal: RawOffice, rrc: str) -> set[str]:
    """The record ids the resident's やりとり履歴 shows: the portal's disclosure query."""
    q = query(
        env.token(rrc, PORTAL), sender=PORTAL, provider="hub", items=("access_records",), params={}
    )
    await ask(portal, variant(q, affair="disclosure"))
    reply = await portal.reply()
    assert isinstance(reply.outcome, Answered), reply.outcome
    data = orjson.loads(unseal(reply.outcome.payload, env.state.keys[PORTAL].sealing))
    return {r["record_id"] for r in data["access_records"]}


# ---- 4. non-disclosure (不開示) by law only ---------------------------------------------------


async def test_an_office_cannot_hide_a_query_the_law_does_not_let_it_withhold(env: Env) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    rrc = await person(env, net, 41)
    hidden = variant(query(env.token(rrc, CHILD)), not_disclosed=True)  # child_allowance
    refused = await refusal(child, hidden)
    assert refused.code == "routing.not_withholdable" and "r01" in refused.reason
    assert net.records is not None
    [record] = await net.records.for_person(env.token(rrc, "hub"))  # shown to the resident
    assert record.outcome == "refused" and record.reason.startswith("routing.not_withholdable")
    assert all(c.record_id != record.record_id for c in await net.records.flag_changes())


async def test_the_portal_cannot_withhold_a_record_either(env: Env) -> None:
    net = await env.network()
    portal = await env.raw(net, PORTAL)
    rrc = await person(env, net, 42)
    asked = query(
        env.token(rrc, PORTAL), sender=PORTAL, provider="hub", items=("access_records",), params={}
    )
    refused = await refusal(portal, variant(asked, affair="disclosure", not_disclosed=True))
    assert refused.code == "routing.not_withholdable"
    [record] = await records_of(env, net, rrc)
    assert not record.not_disclosed


async def lift(env: Env, net: Network, record: AccessRecord, tmp_path: Path) -> None:
    """The operator's `renkei records disclose` (on the embedded backend, what it calls)."""
    why = "the investigation is closed"
    if env.kind == "memory":
        assert net.records is not None
        await disclose(net.records, record.record_id, actor="oversight", reason=why)
        return
    env.state.save(tmp_path)
    cli_env = {
        **os.environ,
        "RENKEI_DB_URL": env.settings.db_url or "",
        "RENKEI_STATE_DIR": str(tmp_path),
    }
    args = ("records", "disclose", str(record.record_id), "--reason", why, "--by", "oversight")
    proc = await asyncio.create_subprocess_exec(
        RENKEI, *args, env=cli_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()
    assert "disclosed" in out.decode()


async def test_a_lawful_withholding_has_a_basis_and_an_end_and_can_be_lifted(
    env: Env, tmp_path: Path
) -> None:
    net = await env.network()
    welfare = await env.raw(net, WELFARE)  # 生活保護: row r08 lets it withhold, for a year
    portal = await env.raw(net, PORTAL)
    rrc = await person(env, net, 43)
    asked = query(env.token(rrc, WELFARE), sender=WELFARE, provider=TAX)
    await ask(welfare, variant(asked, affair="public_assistance", not_disclosed=True))
    reply = await welfare.reply()
    assert isinstance(reply.outcome, Answered), reply.outcome
    assert str(reply.record_id) not in await portal_sees(env, portal, rrc)
    [record] = [r for r in await records_of(env, net, rrc) if r.requester == WELFARE]
    assert record.record_id == reply.record_id and record.not_disclosed
    assert record.withheld_until == record.asked_at + dt.timedelta(days=365)
    assert "r08" in record.withheld_reason and "生活保護法" in record.withheld_reason
    assert net.records is not None
    [flagged] = [c for c in await net.records.flag_changes() if c.record_id == record.record_id]
    assert (flagged.not_disclosed, flagged.withheld_until) == (True, record.withheld_until)
    # the hub lifts it when its period ends: read then, the record is the resident's to see
    hub_token = env.token(rrc, "hub")
    later = await net.records.for_person(hub_token, at=record.withheld_until)
    assert record.record_id in {r.record_id for r in later}
    # an operator (or the oversight commission) lifts it now, recorded and signed
    await lift(env, net, record, tmp_path)
    assert str(record.record_id) in await portal_sees(env, portal, rrc)
    *_, lifted = await net.records.flag_changes()
    assert (lifted.record_id, lifted.not_disclosed, lifted.actor) == (
        record.record_id,
        False,
        "oversight",
    )
    assert lifted.reason == "the investigation is closed"
    assert (await verify_store(net.records, env.state.public["hub"].verify)).ok


# ---- 6. replays -----------------------------------------------------------------------------


async def test_a_query_id_reaches_the_provider_once_whatever_is_replayed(env: Env) -> None:
    net = await env.network(run=("hub", "token", "jlis"))  # the tax office: its queue, read here
    child = await env.raw(net, CHILD)
    tax = await forwarded_to(env, net, TAX)
    q = query(env.token(generate_rrc(random.Random(44)), CHILD), deadline=1.5)
    resigned = variant(q, params={"fiscal_year": 2023})  # other parameters, signed anew
    for copy in (q, q, resigned):
        await ask(child, copy)
    replies: list[Reply] = [await child.reply() for _ in range(3)]
    refusals = [r.outcome for r in replies if isinstance(r.outcome, Refused)]
    assert [r.code for r in refusals] == ["hub.replayed_query"] * 2
    assert sum(isinstance(r.outcome, TimedOut) for r in replies) == 1  # the first, unanswered
    forwarded = await tax.get()
    assert forwarded.envelope.correlation_id == q.envelope.message_id
    assert forwarded.params == q.params
    assert tax.empty(), "a copy reached the provider"
    for body in (encode(q), encode(resigned)):  # each replay is recorded on its own
        assert await record_under(net, replay_key(CHILD, q.envelope.message_id, digest(body)))


async def test_a_copy_after_the_answer_is_refused_and_the_answer_stands(env: Env) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    rrc = await person(env, net, 45)
    q = query(env.token(rrc, CHILD))
    await ask(child, q)
    assert isinstance((await child.reply()).outcome, Answered)
    now = dt.datetime.now(dt.UTC)
    later = variant(q, issued_at=now, deadline=now + dt.timedelta(seconds=5), params={})
    assert (await refusal(child, later)).code == "hub.replayed_query"
    [record] = await records_of(env, net, rrc)
    assert record.outcome == "ok"


@pytest.mark.parametrize(
    ("issued_at", "code"),
    [
        (dt.datetime(2005, 4, 1, tzinfo=dt.UTC), "hub.stale_request"),
        (dt.datetime(2099, 4, 1, tzinfo=dt.UTC), "hub.future_request"),
    ],
)
async def test_issued_at_must_be_near_the_hub_clock(
    env: Env, issued_at: dt.datetime, code: str
) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    rrc = await person(env, net, 46)
    deadline = max(issued_at, dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=5)
    q = variant(query(env.token(rrc, CHILD)), issued_at=issued_at, deadline=deadline)
    refused = await refusal(child, q)
    assert refused.code == code and str(issued_at.year) in refused.reason
    assert await record_under(net, record_key(CHILD, q.envelope.message_id))


async def test_a_deadline_beyond_the_cap_is_refused(env: Env) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    rrc = await person(env, net, 47)
    now = dt.datetime.now(dt.UTC)
    q = variant(query(env.token(rrc, CHILD)), deadline=now + dt.timedelta(hours=1))
    assert (await refusal(child, q)).code == "hub.deadline_too_far"
    assert await record_under(net, record_key(CHILD, q.envelope.message_id))


async def test_two_hub_workers_forward_a_query_id_once(env: Env) -> None:
    if env.kind == "memory":
        pytest.skip("each embedded network has its own in-process broker: workers share nothing")
    net = await env.network(run=("hub", "token", "jlis"))
    await env.network(run=("hub",))  # a second worker on the same broker and database
    child = await env.raw(net, CHILD)
    tax = await forwarded_to(env, net, TAX)
    q = query(env.token(generate_rrc(random.Random(48)), CHILD), deadline=2)
    copies = [q] + [variant(q, params={"fiscal_year": 2000 + n}) for n in range(7)]
    for copy in copies:
        await ask(child, copy)
    replies = [await child.reply() for _ in copies]
    refused = [r.outcome.code for r in replies if isinstance(r.outcome, Refused)]
    assert refused == ["hub.replayed_query"] * 7
    await tax.get()
    assert tax.empty(), "a copy reached the provider"
