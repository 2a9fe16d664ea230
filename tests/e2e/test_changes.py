"""Change events (異動): every office holding a token hears of a change, under its own token,
once, even if it was down when it happened."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from e2e_env import IDS, Env

from agencies.framework import EVENTS
from agencies.jlis.numbers import resident_record_code
from agencies.jlis.registry import Jlis
from hub.wire import HUB, ChangeEvent, Delivered, Envelope, Refused, encode
from renkei.network import Network

pytestmark = pytest.mark.integration
REGISTER = "chiyoda-resident"
EFFECTIVE = dt.date(2025, 3, 1)


async def resident(net: Network, *holders: str) -> tuple[str, dict[str, str]]:
    """A resident numbered by J-LIS and enrolled at each holder; (rrc, office → token)."""
    jlis: Jlis = net.apps["jlis"]
    rrc = resident_record_code(f"{uuid.uuid4().int % 10**10:010d}")
    number = (await jlis.register([rrc]))[rrc]
    tokens = {
        o: await net.offices[o].enroll(number, held_since=dt.date(2020, 4, 1)) for o in holders
    }
    return rrc, tokens


async def arrived(net: Network, office: str, person: str) -> list[dict[str, str]]:
    """Wait (up to 5 s) until the office kept an event about the person; return them."""
    async with asyncio.timeout(5):
        while True:
            if got := await events(net, office, person):
                return got
            await asyncio.sleep(0.02)


async def events(net: Network, office: str, person: str) -> list[dict[str, str]]:
    """The change events the office kept about one person (its own token)."""
    store = net.stores[office]
    kept = [dict(await store.get(EVENTS, k) or {}) for k in await store.keys(EVENTS)]
    return [e for e in kept if e["person"] == person]


def change_event(person: str, change: str, *, event_id: uuid.UUID | None = None) -> ChangeEvent:
    now = dt.datetime.now(dt.UTC)
    eid = event_id or uuid.uuid4()
    return ChangeEvent(
        envelope=Envelope(
            message_id=eid,
            correlation_id=eid,
            sender=REGISTER,
            recipient=HUB,
            affair="change_notice",
            issued_at=now,
            deadline=now + dt.timedelta(seconds=5),
            traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
        ),
        person=person,
        change=change,  # type: ignore[arg-type]
        effective=EFFECTIVE,
    )


async def test_a_death_reaches_every_holder_under_its_own_token_and_ends_the_holding(
    env: Env,
) -> None:
    net = await env.network(run=None)
    rrc, tokens = await resident(net, REGISTER, "chiyoda-tax", "nenkin", "kenpo")
    outcome = await net.offices[REGISTER].report_change(tokens[REGISTER], "death", EFFECTIVE)
    assert outcome == Delivered(offices=3)
    for office in ("chiyoda-tax", "nenkin", "kenpo"):
        [event] = await arrived(net, office, tokens[office])
        assert event["person"] == tokens[office]  # the office's own token, never another's
        assert (event["change"], event["effective"], event["origin"]) == (
            "death",
            "2025-03-01",
            REGISTER,
        )
    assert net.directory is not None
    holders = await net.directory.holders(env.token(rrc, HUB))
    assert {h.office for h in holders} == {REGISTER, "chiyoda-tax", "nenkin", "kenpo"}
    assert all(h.until is not None and h.until.date() == EFFECTIVE for h in holders)


async def test_a_move_out_ends_only_the_municipality_and_an_office_that_was_down_catches_up(
    env: Env,
) -> None:
    net = await env.network(run=None)
    rrc, tokens = await resident(net, REGISTER, "chiyoda-tax", "nenkin")
    await net.offices["nenkin"].stop()  # the pension service is down
    outcome = await net.offices[REGISTER].report_change(
        tokens[REGISTER], "moved_out", EFFECTIVE, {"to_municipality": "131041"}
    )
    assert outcome == Delivered(offices=2)
    assert await events(net, "nenkin", tokens["nenkin"]) == []
    await net.offices["nenkin"].start()  # …and back: the event waited in its queue
    got = await arrived(net, "nenkin", tokens["nenkin"])
    assert got[0]["detail"] == {"to_municipality": "131041"}
    assert net.directory is not None
    ends = {h.office: h.until for h in await net.directory.holders(env.token(rrc, HUB))}
    assert ends["nenkin"] is None  # the pension service still holds the person
    assert ends["chiyoda-tax"] is not None and ends[REGISTER] is not None


async def test_a_duplicate_event_is_applied_once(env: Env) -> None:
    net = await env.network(run=[i for i in IDS if i not in ("monitor", REGISTER)])
    register = await env.raw(net, REGISTER)
    jlis: Jlis = net.apps["jlis"]
    rrc = resident_record_code(f"{uuid.uuid4().int % 10**10:010d}")
    number = (await jlis.register([rrc]))[rrc]
    tax_token = await net.offices["chiyoda-tax"].enroll(number)
    event = change_event(env.token(rrc, REGISTER), "household")
    await register.send(encode(event), key="change", message_id=str(event.envelope.message_id))
    await register.send(encode(event), key="change", message_id=str(event.envelope.message_id))
    first = await register.reply()
    assert first.outcome == Delivered(offices=1)
    await asyncio.sleep(0.5)
    assert len(await events(net, "chiyoda-tax", tax_token)) == 1


async def test_nobody_holds_the_person_and_only_a_register_may_report(env: Env) -> None:
    net = await env.network(run=None)
    _, tokens = await resident(net, REGISTER, "chiyoda-tax")
    lonely = await net.offices[REGISTER].report_change(
        env.token("12345678903", REGISTER), "birth", EFFECTIVE
    )
    assert lonely == Delivered(offices=0)
    refused = await net.offices["chiyoda-tax"].report_change(
        tokens["chiyoda-tax"], "death", EFFECTIVE
    )
    assert isinstance(refused, Refused) and refused.code == "hub.not_a_register"
    assert await events(net, "chiyoda-tax", tokens["chiyoda-tax"]) == []
