"""Change events (異動): every office holding a token hears of a change, under its own token,
once, even if it was down when it happened; only the register that keeps the record reports."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from e2e_env import IDS, ON_RECORD, Env, noted_at

from agencies.jlis.registry import Jlis
from agencies.municipality.moving import move_in
from hub.node import EVENTS, OfficeError
from hub.numbers import resident_record_code
from hub.wire import HUB, ChangeEvent, Delivered, Envelope, Refused, encode
from renkei.network import Network

REGISTER = "chiyoda-resident"
CHIYODA = "131016"
EFFECTIVE = dt.date(2025, 3, 1)
HELD_SINCE = dt.datetime(2020, 4, 1, tzinfo=dt.UTC)


async def numbered(net: Network, municipality: str = CHIYODA) -> tuple[str, str]:
    """A resident J-LIS numbers at the municipality's request: (rrc, number)."""
    jlis: Jlis = net.apps["jlis"]
    rrc = resident_record_code(f"{uuid.uuid4().int % 10**10:010d}")
    return rrc, (await jlis.register({rrc: ON_RECORD}, municipality=municipality))[rrc]


async def held_since(env: Env, net: Network, rrc: str, *offices: str) -> None:
    """The operator's bulk load: the offices hold the person since 2020 (the hub dates an
    enrollment itself, at the enrollment)."""
    assert net.directory is not None
    for office in offices:
        await net.directory.enrolled(env.token(rrc, HUB), office, HELD_SINCE)


async def resident(env: Env, net: Network, *holders: str) -> tuple[str, str, dict[str, str]]:
    """A 千代田区 resident held since 2020 by each holder: (rrc, number, office → token)."""
    rrc, number = await numbered(net)
    await held_since(env, net, rrc, *holders)
    return rrc, number, {o: await net.offices[o].enroll(number, ON_RECORD) for o in holders}


async def arrived(
    net: Network, office: str, person: str, change: str | None = None
) -> list[dict[str, str]]:
    """Wait (up to 5 s) until the office kept an event (of that change) about the person."""
    async with asyncio.timeout(5):
        while True:
            got = [e for e in await events(net, office, person) if change in (None, e["change"])]
            if got:
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
    rrc, _, tokens = await resident(env, net, REGISTER, "chiyoda-tax", "nenkin", "kenpo")
    outcome = await net.offices[REGISTER].report_change(tokens[REGISTER], "death", EFFECTIVE)
    assert outcome == Delivered()  # who and how many hold the person: not said
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
    rrc, _, tokens = await resident(env, net, REGISTER, "chiyoda-tax", "nenkin")
    await net.offices["nenkin"].stop()  # the pension service is down
    outcome = await net.offices[REGISTER].report_change(
        tokens[REGISTER], "moved_out", EFFECTIVE, {"to_municipality": "131041"}
    )
    assert outcome == Delivered()  # to chiyoda-tax, nenkin, and 新宿区's register
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
    rrc, number = await numbered(net)
    await held_since(env, net, rrc, REGISTER)
    tax_token = await net.offices["chiyoda-tax"].enroll(number, ON_RECORD)
    event = change_event(env.token(rrc, REGISTER), "household")
    await register.send(encode(event), key="change", message_id=str(event.envelope.message_id))
    await register.send(encode(event), key="change", message_id=str(event.envelope.message_id))
    first = await register.reply()
    assert first.outcome == Delivered()
    assert first.record_id is not None  # the event is an access record, kept once
    again = await register.reply()  # the copy: answered with what was recorded, nothing new
    assert (again.outcome, again.record_id) == (Delivered(), first.record_id)
    await register.no_more_replies()
    assert len(await events(net, "chiyoda-tax", tax_token)) == 1


async def test_only_the_register_that_keeps_the_record_may_report(env: Env) -> None:
    net = await env.network(run=None)
    _, _, tokens = await resident(env, net, REGISTER, "chiyoda-tax")
    stranger = await net.offices[REGISTER].report_change(
        env.token("12345678903", REGISTER), "birth", EFFECTIVE
    )  # a person this register does not keep
    assert isinstance(stranger, Refused) and stranger.code == "hub.not_the_register"
    refused = await net.offices["chiyoda-tax"].report_change(
        tokens["chiyoda-tax"], "death", EFFECTIVE
    )
    assert isinstance(refused, Refused) and refused.code == "hub.not_a_register"
    assert await events(net, "chiyoda-tax", tokens["chiyoda-tax"]) == []


async def test_the_moving_one_stop_follows_the_person_to_the_new_municipality(env: Env) -> None:
    net = await env.network(run=None)
    rrc, number, tokens = await resident(env, net, REGISTER, "chiyoda-tax", "nenkin", "kenpo")
    # 1. the move out is filed at 千代田区 and reaches the holders and 新宿区's register
    told = await net.offices[REGISTER].report_change(
        tokens[REGISTER], "moved_out", EFFECTIVE, {"to_municipality": "131041"}
    )
    assert told == Delivered()  # chiyoda-tax, nenkin, kenpo, shinjuku-resident
    new_token = env.token(rrc, "shinjuku-resident")
    await arrived(net, "shinjuku-resident", new_token)
    # 2. the move in at 新宿区 completes it
    done = await move_in(
        net.offices["shinjuku-resident"],
        net.stores["shinjuku-resident"],
        number=number,
        local_id="S1",
        resident={
            "name": "高橋 翼",
            "birth_date": "1990-05-05",
            "sex": "1",
            "address": "東京都新宿区西新宿二丁目8番1号",
            "household": "SH1",
            "relationship": "世帯主",
        },
        previous_address=ON_RECORD.address,
        effective=EFFECTIVE,
        noted=noted_at(net, rrc),
    )
    assert (done.token, done.from_office) == (new_token, REGISTER)
    moved_in = [
        e for e in await arrived(net, "nenkin", tokens["nenkin"]) if e["change"] == "moved_in"
    ]
    assert len(moved_in) <= 1
    # 3. the directory follows the person
    assert net.directory is not None
    now = {h.office: h.until for h in await net.directory.holders(env.token(rrc, HUB))}
    assert now["shinjuku-resident"] is None and now["nenkin"] is None
    assert now[REGISTER] is not None and now["chiyoda-tax"] is not None


@pytest.mark.parametrize(
    ("numbered_in", "held", "code"),
    [
        ("131041", False, "municipality.no_move_out"),  # 新宿区's own: no move out reached it
        (CHIYODA, True, "hub.not_resident_here"),  # 千代田区 keeps the record: no token at all
    ],
)
async def test_a_move_in_without_a_move_out_is_refused(
    env: Env, numbered_in: str, held: bool, code: str
) -> None:
    net = await env.network(run=None)
    rrc, number = await numbered(net, numbered_in)
    if held:
        await held_since(env, net, rrc, REGISTER)
    with pytest.raises(OfficeError) as refused:
        await move_in(
            net.offices["shinjuku-resident"],
            net.stores["shinjuku-resident"],
            number=number,
            local_id="S2",
            resident=RESIDENT,
            previous_address=ON_RECORD.address,
            effective=EFFECTIVE,
            noted=noted_at(net, rrc),
        )
    assert refused.value.code == code


async def test_after_a_move_the_hub_asks_the_municipality_that_held_the_record_then(
    env: Env,
) -> None:
    """Moved away mid-year: 1 January decides the tax office; today decides the register. The
    asker is 日本年金機構 (another body: 千代田区's own offices read 千代田区's in-house)."""
    net = await env.network(run=None)
    rrc, number, tokens = await resident(env, net, REGISTER, "chiyoda-tax", "nenkin")
    year = {"2025": {"total_income": 3_300_000, "municipal_income_levy": 150_000}}
    await net.stores["chiyoda-tax"].put_many(
        "taxpayers", [("TM", tokens["chiyoda-tax"], {"name": "x", "years": year})]
    )
    await net.offices[REGISTER].report_change(
        tokens[REGISTER], "moved_out", EFFECTIVE, {"to_municipality": "131041"}
    )
    await arrived(net, "shinjuku-resident", env.token(rrc, "shinjuku-resident"))
    await move_in(
        net.offices["shinjuku-resident"],
        net.stores["shinjuku-resident"],
        number=number,
        local_id="S3",
        resident=RESIDENT,
        previous_address=ON_RECORD.address,
        effective=EFFECTIVE,
        noted=noted_at(net, rrc),
    )
    pension, asked = net.offices["nenkin"], tokens["nenkin"]
    tax = await pension.ask("national_pension", HUB, ("local_tax",), asked, {"fiscal_year": 2025})
    assert tax.status == "ok" and tax.data is not None  # 1 Jan 2025: still 千代田区's taxpayer
    assert tax.data["local_tax"]["total_income"] == 3_300_000
    home = await pension.ask("national_pension", HUB, ("resident_record",), asked)
    assert home.status == "ok" and home.data is not None  # today: 新宿区's resident
    assert home.data["resident_record"]["address"].startswith("東京都新宿区")
    later = await pension.ask("national_pension", HUB, ("local_tax",), asked, {"fiscal_year": 2026})
    assert later.status == "not_found"  # 新宿区 assesses 2026 but holds no tax record yet
    assert "shinjuku-tax" in later.reason or "chiyoda-tax" in later.reason


async def test_after_a_death_no_office_is_found_for_later_dates(env: Env) -> None:
    net = await env.network(run=None)
    _, _, tokens = await resident(env, net, REGISTER, "chiyoda-tax", "chiyoda-child")
    await net.offices[REGISTER].report_change(tokens[REGISTER], "death", EFFECTIVE)
    child = net.offices["chiyoda-child"]
    answer = await child.ask(
        "child_allowance", HUB, ("local_tax",), tokens["chiyoda-child"], {"fiscal_year": 2026}
    )
    assert answer.status == "not_found"
    assert "2026-01-01" in answer.reason


RESIDENT = {
    "name": "高橋 翼",
    "birth_date": "1990-05-05",
    "sex": "1",
    "address": "東京都新宿区西新宿二丁目8番1号",
    "household": "SH1",
    "relationship": "世帯主",
}
