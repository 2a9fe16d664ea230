"""A dishonest office with its own keys and broker password, against the register facts.

Change events (異動) are taken only from the register that keeps the person's record now, dated
within its holding; enrollment (符号取得) is dated by the hub, refused to a municipality's office
for a person whose record is kept elsewhere, rate-limited, and every attempt is recorded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import orjson
from e2e_env import IDS, ON_RECORD, Env, RawOffice, envelope, noted_at

from agencies.jlis.registry import Jlis
from agencies.municipality.moving import move_in
from hub.numbers import individual_number, resident_record_code
from hub.routing.finish import record_key
from hub.wire import (
    HUB,
    JLIS,
    ChangeEvent,
    Enroll,
    Enrolled,
    Presented,
    Refused,
    Reply,
    encode,
    seal,
)
from renkei.network import Network

CHIYODA, SHINJUKU = "131016", "131041"
REGISTER, CHILD, TAX = "chiyoda-resident", "chiyoda-child", "chiyoda-tax"
PENSION = "nenkin"  # asks the ward's offices as another body (the ward's own are in-house)
RESIDENT = {
    "name": "高橋 翼",
    "birth_date": "1990-05-05",
    "sex": "1",
    "address": "東京都千代田区九段南一丁目2番1号",
    "household": "CH1",
    "relationship": "世帯主",
}


def run_but(*played: str) -> list[str]:
    """Every service but the offices the test plays by hand (and the monitor)."""
    return [i for i in IDS if i not in ("monitor", *played)]


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


async def numbered(net: Network, municipality: str) -> tuple[str, str]:
    """A resident J-LIS numbers at ``municipality``'s request: (rrc, number)."""
    jlis: Jlis = net.apps["jlis"]
    rrc = resident_record_code(f"{uuid.uuid4().int % 10**10:010d}")
    return rrc, (await jlis.register({rrc: ON_RECORD}, municipality=municipality))[rrc]


async def enroll(env: Env, office: RawOffice, number: str, **added: str) -> Reply:
    """The office presents a number; ``added``: fields put into the message as sent."""
    msg = Enroll(
        envelope=envelope(office.code, JLIS, "enrollment"),
        number=seal(
            Presented(number=number, facts=ON_RECORD).model_dump_json().encode(),
            env.state.public[JLIS].seal,
        ),
    )
    body = encode(msg)
    if added:
        body = orjson.dumps({**orjson.loads(body), **added})
    await office.send(body, key="enroll", message_id=str(msg.envelope.message_id))
    return await office.reply()


async def report(
    office: RawOffice,
    person: str,
    change: str,
    effective: dt.date,
    detail: dict[str, str] | None = None,
) -> Reply:
    msg = ChangeEvent(
        envelope=envelope(office.code, HUB, "change_notice"),
        person=person,
        change=change,  # type: ignore[arg-type]
        effective=effective,
        detail=detail or {},
    )
    await office.send(encode(msg), key="change", message_id=str(msg.envelope.message_id))
    return await office.reply()


def refused(reply: Reply, code: str) -> bool:
    return isinstance(reply.outcome, Refused) and reply.outcome.code == code


async def open_holdings(env: Env, net: Network, rrc: str) -> dict[str, bool]:
    assert net.directory is not None
    return {h.office: h.until is None for h in await net.directory.holders(env.token(rrc, HUB))}


async def test_a_ward_the_person_left_cannot_report_their_death(env: Env) -> None:
    net = await env.network(run=run_but("shinjuku-resident"))
    ward = await env.raw(net, "shinjuku-resident")
    rrc, number = await numbered(net, SHINJUKU)
    first = await enroll(env, ward, number)  # 新宿区 kept the record first, lawfully
    assert isinstance(first.outcome, Enrolled)
    ward_token = first.outcome.token
    pension_token = await net.offices["nenkin"].enroll(number, ON_RECORD)
    moved = await report(ward, ward_token, "moved_out", today(), {"to_municipality": CHIYODA})
    assert moved.outcome.model_dump() == {"status": "delivered"}  # who and how many: not said
    await move_in(
        net.offices[REGISTER],
        net.stores[REGISTER],
        number=number,
        local_id="M1",
        resident=RESIDENT,
        previous_address=ON_RECORD.address,
        effective=today(),
        noted=noted_at(net, rrc, CHIYODA),
    )
    await net.offices[CHILD].enroll(number, ON_RECORD)

    forged = await report(ward, ward_token, "death", dt.date(2000, 1, 1))

    assert refused(forged, "hub.not_the_register"), forged.outcome
    held = await open_holdings(env, net, rrc)
    assert held == {"shinjuku-resident": False, "nenkin": True, REGISTER: True, CHILD: True}
    # the lawful question (another body's: 千代田区's own offices read it in-house) is answered:
    # nothing was ended
    home = await net.offices["nenkin"].ask(
        "national_pension", HUB, ("resident_record",), pension_token
    )
    assert home.status == "ok", home
    assert net.records is not None
    [seen] = [
        r
        for r in await net.records.for_person(env.token(rrc, HUB))
        if r.query_id == record_key("shinjuku-resident", forged.envelope.correlation_id)
    ]  # the resident sees the attempt
    assert (seen.affair, seen.items, seen.outcome) == ("change_notice", ("death",), "refused")
    assert seen.record_id == forged.record_id


async def test_the_register_cannot_date_a_death_outside_its_holding(env: Env) -> None:
    net = await env.network(run=run_but(REGISTER))
    register = await env.raw(net, REGISTER)
    rrc, number = await numbered(net, CHIYODA)
    enrolled = await enroll(env, register, number)
    assert isinstance(enrolled.outcome, Enrolled)
    for office in (TAX, "nenkin"):
        await net.offices[office].enroll(number, ON_RECORD)

    for effective in (dt.date(2000, 1, 1), today() + dt.timedelta(days=400)):
        reply = await report(register, enrolled.outcome.token, "death", effective)
        assert refused(reply, "hub.bad_effective_date"), (effective, reply.outcome)

    assert await open_holdings(env, net, rrc) == {REGISTER: True, TAX: True, "nenkin": True}
    assert net.records is not None
    outcomes = [
        (r.requester, r.outcome)
        for r in await net.records.for_person(env.token(rrc, HUB))
        if r.affair == "change_notice"
    ]
    assert outcomes == [(REGISTER, "refused"), (REGISTER, "refused")]
    died = await report(register, enrolled.outcome.token, "death", today())  # a true one
    assert died.outcome.status == "delivered"
    assert not any((await open_holdings(env, net, rrc)).values())


async def test_another_wards_offices_can_neither_enroll_a_resident_nor_back_date(
    env: Env,
) -> None:
    net = await env.network(run=run_but("shinjuku-tax", "shinjuku-resident"))
    tax_ward = await env.raw(net, "shinjuku-tax")
    register_ward = await env.raw(net, "shinjuku-resident")
    rrc, number = await numbered(net, CHIYODA)
    assert net.directory is not None
    for office in (REGISTER, TAX):  # the operator's bulk load: 千代田区's since 2020
        since = dt.datetime(2020, 4, 1, tzinfo=dt.UTC)
        await net.directory.enrolled(env.token(rrc, HUB), office, since)
    tokens = {o: await net.offices[o].enroll(number, ON_RECORD) for o in (REGISTER, TAX, CHILD)}
    pension = await net.offices[PENSION].enroll(number, ON_RECORD)  # asks as another body
    nxt = today().year + 1
    years = {
        str(y): {"total_income": 3_000_000 + y, "municipal_income_levy": 1} for y in (2025, nxt)
    }
    await net.stores[TAX].put_many(
        "taxpayers", [("T1", tokens[TAX], {"name": "x", "years": years})]
    )

    backdated = await enroll(env, tax_ward, number, held_since="2019-01-01")
    plain = await enroll(env, tax_ward, number)
    registered = await enroll(env, register_ward, number)

    assert backdated.outcome.status == "error" and backdated.outcome.code == "wire.malformed"
    for reply in (plain, registered):
        assert refused(reply, "hub.not_resident_here"), reply.outcome
        assert "chiyoda" not in reply.outcome.reason  # the refusal names no holder
    holdings = {REGISTER: True, TAX: True, CHILD: True, PENSION: True}
    assert await open_holdings(env, net, rrc) == holdings
    for year in (2025, nxt):  # 1 January of each: 千代田区 alone held the record
        tax = await net.offices[PENSION].ask(
            "national_pension", HUB, ("local_tax",), pension, {"fiscal_year": year}
        )
        assert tax.status == "ok", tax
    assert net.records is not None
    tried = {
        (r.requester, r.outcome, r.items)
        for r in await net.records.for_person(env.token(rrc, HUB))
        if r.affair == "enrollment"
    }
    number_item = ("individual_number",)
    assert tried == {
        ("shinjuku-tax", "refused", number_item),
        ("shinjuku-resident", "refused", number_item),
        (REGISTER, "ok", number_item),
        (TAX, "ok", number_item),
        (CHILD, "ok", number_item),
        (PENSION, "ok", number_item),
    }


async def test_enrollment_is_rate_limited_per_office_and_every_try_recorded(
    env: Env, tmp_path: Path
) -> None:
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(
        'version = "t"\n[default]\nper_second = 1000\nburst = 1000\n'
        "[enrollment]\nper_second = 0.001\nburst = 3\n",
        encoding="utf-8",
    )
    slow = env.settings.model_copy(update={"quotas": quotas})
    net = await env.network(run=run_but("nenkin"), settings=slow)
    pension = await env.raw(net, "nenkin")
    guesses = [individual_number(f"{uuid.uuid4().int % 10**11:011d}") for _ in range(5)]

    replies = [await enroll(env, pension, n) for n in guesses]

    assert [r.outcome.status for r in replies] == ["not_found"] * 3 + ["refused"] * 2
    assert all(refused(r, "routing.quota_exceeded") for r in replies[3:])
    assert all(isinstance(r.outcome, Refused) and r.outcome.retry_after for r in replies[3:])
    keys = {record_key("nenkin", r.envelope.correlation_id): r.record_id for r in replies}
    assert net.records is not None
    kept = {r.query_id: r async for r in net.records.iter_all() if r.query_id in keys}
    assert {k: r.record_id for k, r in kept.items()} == keys  # each try, on the record
    assert all((r.affair, r.person) == ("enrollment", "") for r in kept.values())
    _, number = await numbered(net, CHIYODA)
    assert await net.offices[TAX].enroll(number, ON_RECORD)  # another office's bucket is its own
