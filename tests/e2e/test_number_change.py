"""Numbering as the law does it, on the whole network (both backends): a birth designated and
notified; a number change at the desk (番号法 第7条第2項) — J-LIS generates the next number,
every holder hears of it once under its own token, the tokens stay, the old number is refused
at enrollment, the register bears the new one, the resident gets a new notice, the CA revokes
the card's certificates — and the changes the desk refuses (the dead, no one, the same request
twice), each telling no one."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from e2e_env import Env
from test_changes import events
from test_register_events import (
    HOLDERS,
    RECORD,
    REGISTER,
    ca_with_certificates,
    deployed,
    issue_both,
    jlis_doc,
    on_register,
    revoked,
    settled,
    today,
)

from agencies.jlis.registry import Jlis
from agencies.municipality.numbering import NumberNotice
from agencies.municipality.register_desk import EVENTS_LOG, RegisterDesk, parse
from hub.node import EnrollmentRefused, OfficeError
from hub.wire import Facts
from pki import CaName
from pki.ca.office import PKI_OFFICE, holder_for
from renkei.cli import _parser
from renkei.network import Network

CHIYODA = "131016"


def desk(net: Network, notices: list[NumberNotice]) -> RegisterDesk:
    async def notify(notice: NumberNotice) -> None:
        notices.append(notice)

    return RegisterDesk(
        net.offices[REGISTER], net.stores[REGISTER], net.juki[REGISTER], CHIYODA, notify
    )


async def test_a_birth_is_designated_and_the_resident_notified(env: Env) -> None:
    net = await env.network(run=None)
    await on_register(env, net)
    notices: list[NumberNotice] = []
    born = parse("birth", "RB1", today(), {"name": "高橋 花", "sex": "2", "household": "H1"})
    record = await desk(net, notices).file(born)
    number = net.apps["jlis"].numbers.number_for(record["rrc"], 0)
    assert record["number"] == number  # the 住民票 bears the number J-LIS generated
    [notice] = notices
    assert (notice.name, notice.number, notice.reason, notice.designated) == (
        "高橋 花", number, "出生", today()
    )  # fmt: skip
    assert notice.address == RECORD["address"]


async def test_a_first_entry_from_abroad_is_numbered_designated_and_notified(env: Env) -> None:
    """国外からの転入 of a person never numbered: a new 住民票コード, J-LIS's number, the register
    holds them from the entry (enrolled), the resident gets a notice; the local id once."""
    net = await env.network(run=None)
    notices: list[NumberNotice] = []
    fields = {
        "name": "Smith John", "birth_date": "1990-01-01", "sex": "1",
        "address": RECORD["address"], "from_address": "London, United Kingdom",
        "household": "HE1",
    }  # fmt: skip
    entry = parse("entry", "E1", today(), fields)
    record = await desk(net, notices).file(entry)
    number = net.apps["jlis"].numbers.number_for(record["rrc"], 0)
    assert record["number"] == number and record["relationship"] == "世帯主"
    doc = await jlis_doc(net, record["rrc"])
    assert doc["municipality"] == CHIYODA and [h["reason"] for h in doc["history"]] == [
        "国外からの転入"
    ]
    assert await net.stores[REGISTER].token_of("E1") == env.token(record["rrc"], REGISTER)
    assert await net.stores[REGISTER].get("households", "HE1") == {
        "head": "E1",
        "members": ["E1"],
    }
    [notice] = notices
    assert (notice.reason, notice.number) == ("国外からの転入", number)
    # an office of the municipality enrolls the new resident with the number and four facts
    token = await net.offices["chiyoda-tax"].enroll(number, Facts.of(record))
    assert token == env.token(record["rrc"], "chiyoda-tax")
    with pytest.raises(OfficeError) as again:  # the local id is taken now
        await desk(net, notices).file(parse("entry", "E1", today(), fields))
    assert again.value.code == "register.already_applied" and len(notices) == 1


async def test_a_number_change_reaches_every_holder_once_and_keeps_their_tokens(
    env: Env,
) -> None:
    now = dt.datetime.now(dt.UTC)
    ca, listener = ca_with_certificates(now)
    net = await env.network(run=None, listeners={PKI_OFFICE: listener})
    rrc, old, tokens = await on_register(env, net, *HOLDERS, PKI_OFFICE)
    sig, auth = issue_both(ca, holder_for(tokens[PKI_OFFICE]), rrc, now - dt.timedelta(days=1))
    notices: list[NumberNotice] = []
    change = parse("number", "R1", today(), {"by": "request"})
    record = await desk(net, notices).file(change)
    new = record["number"]
    assert new != old and new == net.apps["jlis"].numbers.number_for(rrc, 1)
    for office in (*HOLDERS, PKI_OFFICE):
        [event] = await settled(net, office, tokens[office], "number_changed")
        assert (event["origin"], event["detail"]) == (REGISTER, {})  # never the number
    # the tokens do not change with the number; the old number is refused at enrollment
    facts = Facts.of(RECORD)
    for office in HOLDERS:
        assert await net.offices[office].enroll(new, facts) == tokens[office]
        with pytest.raises(EnrollmentRefused) as stale:
            await net.offices[office].enroll(old, facts)
        assert stale.value.code == "jlis.number_changed"
    doc = await jlis_doc(net, rrc)
    assert (doc["generation"], doc["changes"]) == (1, [today()])
    assert [h["reason"] for h in doc["history"]] == ["個人番号の変更"]
    kept = await net.stores[REGISTER].get("residents", "R1")
    assert kept is not None and kept["number"] == new and kept["number_changed"] == today()
    [notice] = notices
    assert (notice.number, notice.reason, notice.by) == (new, "個人番号の変更", "本人の請求")
    # the card bears the old number: J-LIS's notice revokes both its certificates
    await revoked(ca, CaName.SIGNATURE, sig.serial)
    await revoked(ca, CaName.AUTHENTICATION, auth.serial)
    # the same request again, under its id or a new one the same day: refused, nothing told
    for again in (change, parse("number", "R1", today(), {"by": "ex_officio"})):
        with pytest.raises(OfficeError) as dup:
            await desk(net, notices).file(again)
        assert dup.value.code == "register.already_applied"
    await asyncio.sleep(0.3)
    for office in HOLDERS:
        told = await events(net, office, tokens[office])
        assert [e["change"] for e in told] == ["number_changed"]
    assert (await jlis_doc(net, rrc))["generation"] == 1 and len(notices) == 1


async def test_a_lost_reply_is_retried_under_its_id_and_changes_the_number_once(
    env: Env,
) -> None:
    net = await env.network(run=None)
    rrc, _, tokens = await on_register(env, net, "nenkin")
    change = parse("number", "R1", today(), {"by": "ex_officio"})
    jlis: Jlis = net.apps["jlis"]
    # J-LIS changed it, and the desk heard nothing more (a crash before the hub was told)
    first = await jlis.change_number(
        rrc, municipality=CHIYODA, on=change.effective, event=str(change.event_id)
    )
    store = net.stores[REGISTER]
    begun = {"kind": "number", "local_id": "R1", "state": "begun", "begun": today()}
    await store.put_many(EVENTS_LOG, [(str(change.event_id), None, begun)])
    record = await desk(net, []).file(change)  # retried under its id
    assert record["number"] == first
    assert (await jlis_doc(net, rrc))["generation"] == 1  # changed once
    [event] = await settled(net, "nenkin", tokens["nenkin"], "number_changed")
    assert event["origin"] == REGISTER


@pytest.mark.parametrize(
    ("local_id", "before", "code", "words"),
    [
        ("NOBODY", None, "register.not_on_register", "no resident 'NOBODY'"),
        ("R1", "death", "register.out_of_order", "no new number for the dead"),
    ],
)
async def test_a_number_change_the_desk_refuses_tells_no_one(
    env: Env, local_id: str, before: str | None, code: str, words: str
) -> None:
    net = await env.network(run=None)
    rrc, _, tokens = await on_register(env, net, "nenkin")
    notices: list[NumberNotice] = []
    if before is not None:
        await desk(net, notices).file(parse(before, "R1", today(), {}))
        await settled(net, "nenkin", tokens["nenkin"], "death")
    with pytest.raises(OfficeError) as refused:
        await desk(net, notices).file(parse("number", local_id, today(), {"by": "request"}))
    assert refused.value.code == code and words in str(refused.value)
    await asyncio.sleep(0.3)
    told = [e["change"] for e in await events(net, "nenkin", tokens["nenkin"])]
    assert "number_changed" not in told and notices == []
    assert (await jlis_doc(net, rrc))["generation"] == 0


async def test_jlis_refusing_tells_no_one_and_the_refusal_stays(env: Env) -> None:
    """The register's record says the resident lives here, J-LIS's that another municipality
    keeps it (a forged or stale record): J-LIS refuses, nothing is told, the event is refused."""
    net = await env.network(run=None)
    rrc, _, tokens = await on_register(env, net, "nenkin")
    jlis: Jlis = net.apps["jlis"]
    doc = await jlis_doc(net, rrc)
    await jlis.store.put_many("residents", [(rrc, None, {**doc, "municipality": "131041"})])
    change = parse("number", "R1", today(), {"by": "request"})
    with pytest.raises(OfficeError) as refused:
        await desk(net, []).file(change)
    assert refused.value.code == "jlis.not_the_municipality"
    logged = await net.stores[REGISTER].get(EVENTS_LOG, str(change.event_id))
    assert logged is not None and logged["state"] == "refused"
    await asyncio.sleep(0.3)
    assert await events(net, "nenkin", tokens["nenkin"]) == []


async def test_the_command_on_the_deployment(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`renkei numbers change` with a broker and a database: the holders hear of it from the
    hub, the notice is a PDF for the post (owner-only), the number is printed nowhere."""
    settings, rrc, old, tokens, net = await deployed(env, tmp_path)
    argv = ["numbers", "change", "--local-id", "R1", "--by", "request"]
    args = _parser().parse_args(argv)
    assert await args.run(settings, args) == 0
    out, err = capsys.readouterr()
    [event] = await settled(net, "nenkin", tokens["nenkin"], "number_changed")
    assert event["origin"] == REGISTER
    check = await env.network(run=["jlis", REGISTER])
    new = check.apps["jlis"].numbers.number_for(rrc, 1)
    record = await check.stores[REGISTER].get("residents", "R1")
    assert record is not None and record["number"] == new
    assert old not in out + err and new not in out + err
    [pdf] = (tmp_path / "notices" / REGISTER).glob("number-notice-R1-*.pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_mode & 0o077 == 0
