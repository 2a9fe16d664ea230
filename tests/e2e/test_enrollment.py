"""Enrollment (符号取得): a number presented once, through J-LIS, becomes the office's own token,
dated by the hub and recorded under the person."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from e2e_env import ON_RECORD, Env

from agencies.jlis.registry import Jlis
from hub.node import EnrollmentRefused, OfficeNode
from hub.numbers import resident_record_code
from hub.wire import HUB, Facts
from renkei.network import Network


async def child_node(env: Env, net: Network) -> OfficeNode:
    node = OfficeNode(
        code="chiyoda-child",
        bus=await env.connect(net, "chiyoda-child"),
        keys=env.state.keys["chiyoda-child"],
        hub=env.state.public[HUB],
        jlis_seal=env.state.public["jlis"].seal,
    )
    await node.start()
    net._closers.append(node.stop)
    return node


async def test_enrollment_gives_the_office_its_own_token_and_a_directory_entry(env: Env) -> None:
    net = await env.network()
    jlis: Jlis = net.apps["jlis"]
    rrc = resident_record_code(f"{uuid.uuid4().int % 10**10:010d}")
    number = (await jlis.register({rrc: ON_RECORD}, municipality="131016"))[rrc]
    node = await child_node(env, net)
    before = dt.datetime.now(dt.UTC)
    token = await node.enroll(number, ON_RECORD)
    assert token == env.token(rrc, "chiyoda-child")
    assert net.directory is not None
    [entry] = await net.directory.holders(env.token(rrc, HUB))
    assert entry.office == "chiyoda-child"
    assert before <= entry.since <= dt.datetime.now(dt.UTC)  # held from the enrollment
    assert net.records is not None
    [record] = await net.records.for_person(env.token(rrc, HUB))
    assert (record.requester, record.provider, record.affair, record.outcome) == (
        "chiyoda-child",
        "jlis",
        "enrollment",
        "ok",
    )
    # a number changed on leak: the old one stops working, the new one gives the same token
    new_number = await jlis.change_number(
        rrc, municipality="131016", on=dt.date(2024, 7, 1), event="leak-1"
    )
    with pytest.raises(EnrollmentRefused, match="replaced on 2024-07-01") as refused:
        await node.enroll(number, ON_RECORD)
    assert refused.value.code == "jlis.number_changed"
    assert await node.enroll(new_number, ON_RECORD) == token


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("123456789018", "not_found"),  # a valid number that J-LIS never issued
        ("123456789017", "jlis.bad_check_digit"),
        ("12345", "jlis.malformed_number"),
    ],
)
async def test_enrollment_refusals_are_explained(env: Env, number: str, code: str) -> None:
    net = await env.network()
    node = await child_node(env, net)
    with pytest.raises(EnrollmentRefused) as refused:
        await node.enroll(number, ON_RECORD)
    assert refused.value.code == code, refused.value
    assert str(refused.value)


async def test_the_hub_finds_the_office_that_held_the_record(env: Env) -> None:
    """A query addressed to the hub goes to the office enrolled for the person on the date (of
    another ward: the asker's own ward's offices are in-house, never found on the network)."""
    net = await env.network(run=None)
    jlis: Jlis = net.apps["jlis"]
    rrc = resident_record_code(f"{uuid.uuid4().int % 10**10:010d}")
    number = (await jlis.register({rrc: ON_RECORD}, municipality="131016"))[rrc]
    child = net.offices["chiyoda-child"]
    assert net.directory is not None  # the operator's bulk load: taxed by 新宿区 since April 2019
    since = dt.datetime(2019, 4, 1, tzinfo=dt.UTC)
    await net.directory.enrolled(env.token(rrc, HUB), "shinjuku-tax", since)
    tax_token = env.token(rrc, "shinjuku-tax")  # 新宿区's, from the same bulk load
    year = {"2024": {"total_income": 4_000_000, "municipal_income_levy": 180_000}}
    await net.stores["shinjuku-tax"].put_many(
        "taxpayers", [("T9", tax_token, {"name": "x", "years": year})]
    )
    token = await child.enroll(number, ON_RECORD)
    found = await child.ask("child_allowance", HUB, ("local_tax",), token, {"fiscal_year": 2024})
    assert found.status == "ok", found
    assert found.data == {"local_tax": {"fiscal_year": 2024, **year["2024"]}}
    before = await child.ask("child_allowance", HUB, ("local_tax",), token, {"fiscal_year": 2019})
    assert before.status == "not_found"  # 1 January 2019 is before the office held the record
    assert "2019-01-01" in before.reason


async def test_a_dishonest_office_enrolling_with_made_up_facts_is_refused_and_recorded(
    env: Env,
) -> None:
    """番号法 第16条: the number is checked against J-LIS's 本人確認情報. An office that holds
    a number but not the person (made-up or another resident's facts) gets no token; the
    attempt is on the resident's record, and a lawful enrollment afterwards still works."""
    net = await env.network()
    jlis: Jlis = net.apps["jlis"]
    rrc = resident_record_code(f"{uuid.uuid4().int % 10**10:010d}")
    number = (await jlis.register({rrc: ON_RECORD}, municipality="131016"))[rrc]
    node = await child_node(env, net)
    made_up = Facts(
        name="山田 花子", address="東京都千代田区麹町一丁目1番1号", birth_date="1970-01-01", sex="2"
    )
    with pytest.raises(EnrollmentRefused) as refused:
        await node.enroll(number, made_up)
    assert refused.value.code == "hub.identity_mismatch"
    for name in ("氏名", "住所", "生年月日", "性別"):
        assert name in str(refused.value)
    assert ON_RECORD.name not in str(refused.value) and ON_RECORD.address not in str(refused.value)
    one_off = ON_RECORD.model_copy(update={"birth_date": "1990-05-06"})
    with pytest.raises(EnrollmentRefused, match="生年月日") as birth:
        await node.enroll(number, one_off)
    assert "氏名" not in str(birth.value)
    assert net.directory is not None
    assert await net.directory.holders(env.token(rrc, HUB)) == []  # held by nobody
    assert net.records is not None
    seen = [
        (r.requester, r.affair, r.outcome)
        for r in await net.records.for_person(env.token(rrc, HUB))
    ]  # the resident sees both attempts
    assert seen == [("chiyoda-child", "enrollment", "refused")] * 2
    assert await node.enroll(number, ON_RECORD) == env.token(rrc, "chiyoda-child")
