"""Every register event at the municipal desk (``renkei register``), on the whole network: each
reaches J-LIS's 本人確認情報 and every holder, under its own token, once; the CA revokes what the
law says; bad, duplicate, out-of-order and foreign events are refused and change nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from e2e_env import Env
from portal_env import FACTS, WHERE
from test_changes import arrived, events, held_since, numbered

from agencies.jlis.registry import Jlis
from agencies.municipality.moving import MovedOut
from agencies.municipality.register_desk import EVENTS_LOG, Filing, RegisterDesk, parse
from hub.node import ApplicationRefused, OfficeError
from hub.wire import HUB, Facts, Refused
from pki import CaName, CertificationAuthority, CertKind, Endpoints, Hierarchy, Issued
from pki.ca.office import PKI_OFFICE, CaListener, holder_for
from renkei.cli import _parser
from renkei.network import Network
from renkei.settings import Settings

CHIYODA, SHINJUKU = "131016", "131041"
REGISTER, NEW_REGISTER = "chiyoda-resident", "shinjuku-resident"
HOLDERS = ("chiyoda-tax", "nenkin", "kenpo")
RECORD = {
    "name": "高橋 翼",
    "birth_date": "1990-05-05",
    "sex": "1",
    "address": "東京都千代田区九段南一丁目2番1号",
    "household": "H1",
    "relationship": "世帯主",
}
TOLD_AS = {
    "name": "name_changed",
    "address": "address_changed",
    "move_out": "moved_out",
    "death": "death",
    "household": "household",
}


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def desk(net: Network, office: str = REGISTER, municipality: str = CHIYODA) -> RegisterDesk:
    return RegisterDesk(net.offices[office], net.stores[office], net.juki[office], municipality)


async def on_register(env: Env, net: Network, *holders: str) -> tuple[str, str, dict[str, str]]:
    """A 千代田区 resident ``R1`` (head of ``H1``) on the register, held since 2020 by it and
    the holders: (rrc, number, office → token)."""
    rrc, number = await numbered(net)
    facts = Facts.of(RECORD)
    await held_since(env, net, rrc, REGISTER, *holders)
    tokens = {o: await net.offices[o].enroll(number, facts) for o in (REGISTER, *holders)}
    store = net.stores[REGISTER]
    await store.put_many("residents", [("R1", tokens[REGISTER], {**RECORD, "rrc": rrc})])
    await store.put_many("households", [("H1", None, {"head": "R1", "members": ["R1"]})])
    return rrc, number, tokens


async def jlis_doc(net: Network, rrc: str) -> Mapping[str, Any]:
    doc = await net.apps["jlis"].store.get("residents", rrc)
    assert doc is not None
    return dict(doc)


async def settled(net: Network, office: str, token: str, change: str) -> list[dict[str, str]]:
    """The office's events of that change about the person, once they came and a while later
    (a second copy would have come by then)."""
    await arrived(net, office, token, change)
    await asyncio.sleep(0.3)
    return [e for e in await events(net, office, token) if e["change"] == change]


@pytest.mark.parametrize(
    ("kind", "fields", "change", "reason"),
    [
        ("name", {"name": "佐藤 翼"}, "name_changed", "氏名変更"),
        ("address", {"address": "東京都千代田区麹町一丁目1番1号"}, "address_changed", "転居"),
        ("household", {"household": "H2", "head": "1"}, "household", None),
        ("death", {}, "death", "死亡"),
        ("move_out", {"to_municipality": SHINJUKU}, "moved_out", "転出"),
    ],
)
async def test_each_event_reaches_jlis_and_every_holder_once(
    env: Env, kind: str, fields: dict[str, str], change: str, reason: str | None
) -> None:
    net = await env.network(run=None)
    rrc, _, tokens = await on_register(env, net, *HOLDERS)
    record = await desk(net).file(parse(kind, "R1", today(), fields))
    for office in HOLDERS:
        [event] = await settled(net, office, tokens[office], change)
        assert (event["effective"], event["origin"]) == (today(), REGISTER)
        assert set(event["detail"]) <= {"to_municipality"}  # what and when, never content
    doc = await jlis_doc(net, rrc)
    noted = [(h["reason"], h["effective"]) for h in doc.get("history", [])]
    assert noted == ([] if reason is None else [(reason, today())])
    assert doc["facts"] == Facts.of(record).model_dump()  # J-LIS follows the register
    kept = await net.stores[REGISTER].get("residents", "R1")
    assert kept == record


async def test_a_household_change_moves_the_resident_between_households(env: Env) -> None:
    net = await env.network(run=None)
    await on_register(env, net)
    store = net.stores[REGISTER]
    await store.put_many("residents", [("R2", None, {**RECORD, "relationship": "妻"})])
    await store.put_many("households", [("H1", None, {"head": "R1", "members": ["R1", "R2"]})])
    joins = parse("household", "R1", today(), {"household": "H8", "relationship": "子"})
    with pytest.raises(OfficeError) as headless:  # no such household, and not its head
        await desk(net).file(joins)
    assert headless.value.code == "register.not_on_register"
    leaves = parse("household", "R1", today(), {"household": "H9", "head": "1"})
    with pytest.raises(OfficeError, match="name its new head among R2"):  # before any telling
        await desk(net).file(leaves)
    fields = {"household": "H9", "head": "1", "relationships": "R2=世帯主"}
    await desk(net).file(parse("household", "R1", today(), fields))
    assert await store.get("households", "H1") == {"head": "R2", "members": ["R2"]}
    r2 = await store.get("residents", "R2")
    assert r2 is not None and r2["relationship"] == "世帯主"  # 続柄 follows the new head
    assert await store.get("households", "H9") == {"head": "R1", "members": ["R1"]}
    back = parse("household", "R1", today(), {"household": "H1", "relationship": "夫"})
    assert (await desk(net).file(back))["relationship"] == "夫"  # joins R2's household
    assert await store.get("households", "H1") == {"head": "R2", "members": ["R2", "R1"]}
    assert await store.get("households", "H9") == {"head": None, "members": []}
    # R1 heads H1 again: R2's 続柄 is to R1 now, as the filing says
    heads = {"household": "H1", "head": "1", "relationships": "R2=妻"}
    assert (await desk(net).file(parse("household", "R1", today(), heads)))["relationship"] == (
        "世帯主"
    )
    assert await store.get("households", "H1") == {"head": "R1", "members": ["R2", "R1"]}
    r2 = await store.get("residents", "R2")
    assert r2 is not None and r2["relationship"] == "妻"


async def test_a_birth_is_numbered_by_jlis_and_held_by_the_register(env: Env) -> None:
    net = await env.network(run=None)
    await on_register(env, net)
    born = parse("birth", "RB1", today(), {"name": "高橋 花", "sex": "2", "household": "H1"})
    record = await desk(net).file(born)
    doc = await jlis_doc(net, record["rrc"])
    assert doc["municipality"] == CHIYODA and doc["facts"]["name"] == "高橋 花"
    assert [h["reason"] for h in doc["history"]] == ["出生"]
    store = net.stores[REGISTER]
    token = await store.token_of("RB1")
    assert token is not None and token == env.token(record["rrc"], REGISTER)
    home = await store.get("households", "H1")
    assert home is not None and home["members"] == ["R1", "RB1"]
    assert net.directory is not None  # the register holds the child from the birth
    held = await net.directory.holders(env.token(record["rrc"], HUB))
    assert [h.office for h in held if h.until is None] == [REGISTER]
    number = net.apps["jlis"].numbers.number_for(record["rrc"], 0)
    assert await net.offices["chiyoda-tax"].enroll(number, Facts.of(record))  # numbered, once
    with pytest.raises(OfficeError) as again:
        await desk(net).file(parse("birth", "RB1", today(), dict(born.fields)))
    assert again.value.code == "register.already_applied"


async def test_a_move_out_then_the_move_in_at_the_new_desk(env: Env) -> None:
    """転出 at 千代田区, 転入 at 新宿区 — the one visit (転入時1回だけ): the holders hear both,
    J-LIS's record follows, the resident has their holder at the new register."""
    net = await env.network(run=None)
    rrc, number, tokens = await on_register(env, net, "nenkin")
    await desk(net).file(parse("move_out", "R1", today(), {"to_municipality": SHINJUKU}))
    await arrived(net, NEW_REGISTER, env.token(rrc, NEW_REGISTER), "moved_out")
    fields = {**RECORD, "address": "東京都新宿区西新宿二丁目8番1号", "household": "SH1"}
    fields["from_address"] = RECORD["address"]
    fields.pop("relationship")
    move_in = parse("move_in", "S1", today(), {**fields, "number": number})
    new = desk(net, NEW_REGISTER, SHINJUKU)
    record = await new.file(move_in)
    assert record["rrc"] == rrc
    [event] = await settled(net, "nenkin", tokens["nenkin"], "moved_in")
    assert event["origin"] == NEW_REGISTER
    doc = await jlis_doc(net, rrc)
    assert doc["municipality"] == SHINJUKU and doc["facts"]["address"].startswith("東京都新宿区")
    assert [h["reason"] for h in doc["history"]] == ["転出", "転入"]
    assert await net.stores[NEW_REGISTER].token_of("S1") == env.token(rrc, NEW_REGISTER)
    assert await net.stores[NEW_REGISTER].get("households", "SH1") == {
        "head": "S1",
        "members": ["S1"],
    }
    with pytest.raises(OfficeError) as late:  # 千代田区 has no say any more
        await desk(net).file(parse("name", "R1", today(), {"name": "佐藤 翼"}))
    assert late.value.code == "register.out_of_order"


async def test_a_move_in_dated_before_the_move_out_is_refused_and_nothing_noted(
    env: Env,
) -> None:
    net = await env.network(run=None)
    rrc, number, _ = await on_register(env, net)
    now = dt.datetime.now(dt.UTC).date()
    yesterday, before = (now - dt.timedelta(days=n) for n in (1, 3))
    await desk(net).file(parse("move_out", "R1", str(yesterday), {"to_municipality": SHINJUKU}))
    await arrived(net, NEW_REGISTER, env.token(rrc, NEW_REGISTER), "moved_out")
    fields = {k: v for k, v in RECORD.items() if k != "relationship"}
    fields |= {"household": "SH3", "number": number, "from_address": RECORD["address"]}
    with pytest.raises(OfficeError) as refused:
        await desk(net, NEW_REGISTER, SHINJUKU).file(parse("move_in", "S3", str(before), fields))
    assert refused.value.code == "municipality.move_in_before_move_out"
    assert await net.stores[NEW_REGISTER].get("residents", "S3") is None
    assert [h["reason"] for h in (await jlis_doc(net, rrc))["history"]] == ["転出"]


async def test_a_move_in_before_the_move_out_is_refused_and_nothing_kept(env: Env) -> None:
    net = await env.network(run=None)
    rrc, number, _ = await on_register(env, net, "nenkin")
    fields = {k: v for k, v in RECORD.items() if k != "relationship"}
    fields |= {"household": "SH2", "number": number, "from_address": RECORD["address"]}
    filing = parse("move_in", "S2", today(), fields)
    with pytest.raises(OfficeError) as refused:
        await desk(net, NEW_REGISTER, SHINJUKU).file(filing)
    assert refused.value.code == "hub.not_resident_here"  # 千代田区 keeps the record
    assert await net.stores[NEW_REGISTER].get("residents", "S2") is None
    doc = await jlis_doc(net, rrc)
    assert doc["municipality"] == CHIYODA and doc.get("history", []) == []


async def test_a_duplicate_event_is_applied_once_and_a_retry_completes_once(env: Env) -> None:
    net = await env.network(run=None)
    rrc, _, tokens = await on_register(env, net, "nenkin")
    filing = parse("name", "R1", today(), {"name": "佐藤 翼"})
    renamed = await desk(net).file(filing)
    with pytest.raises(OfficeError) as dup:
        await desk(net).file(filing)
    assert dup.value.code == "register.already_applied"
    # a retry of an event whose reply was lost: begun in the log, the record not yet written
    retry = Filing("address", "R1", filing.effective, uuid.uuid4(), {"address": "新住所"})
    store = net.stores[REGISTER]
    await desk(net).file(retry)
    begun = {"kind": "address", "local_id": "R1", "state": "begun"}
    await store.put_many(EVENTS_LOG, [(str(retry.event_id), None, begun)])
    await store.put_many("residents", [("R1", tokens[REGISTER], renamed)])
    again = await desk(net).file(retry)  # the hub answers the copy with what it recorded
    assert again["address"] == "新住所"
    # begun and recorded, the log not finished: the retry only finishes the log
    await store.put_many(EVENTS_LOG, [(str(retry.event_id), None, begun)])
    assert await desk(net).file(retry) == again
    logged = await store.get(EVENTS_LOG, str(retry.event_id))
    assert logged is not None and logged["state"] == "applied"
    assert len(await settled(net, "nenkin", tokens["nenkin"], "name_changed")) == 1
    assert len(await settled(net, "nenkin", tokens["nenkin"], "address_changed")) == 1
    doc = await jlis_doc(net, rrc)
    assert [h["reason"] for h in doc["history"]] == ["氏名変更", "転居"]
    with pytest.raises(OfficeError) as other:  # the same id for another event
        await desk(net).file(Filing("death", "R1", filing.effective, retry.event_id))
    assert other.value.code == "register.already_applied"


async def test_nothing_follows_a_death(env: Env) -> None:
    net = await env.network(run=None)
    _, _, tokens = await on_register(env, net, "nenkin")
    await desk(net).file(parse("death", "R1", today(), {}))
    for kind, fields in (("name", {"name": "x"}), ("death", {})):
        with pytest.raises(OfficeError) as after:
            await desk(net).file(parse(kind, "R1", today(), fields))
        assert after.value.code == "register.out_of_order"
    # the register's own record bypassed: the hub refuses too, the holding ended
    outcome = await net.offices[REGISTER].report_change(
        tokens[REGISTER], "name_changed", dt.date.fromisoformat(today())
    )
    assert isinstance(outcome, Refused) and outcome.code == "hub.not_the_register"
    assert len(await settled(net, "nenkin", tokens["nenkin"], "death")) == 1
    assert [e["change"] for e in await events(net, "nenkin", tokens["nenkin"])] == ["death"]


async def test_a_municipality_cannot_tell_of_a_resident_it_does_not_hold(env: Env) -> None:
    """A dishonest 新宿区 writes a 千代田区 resident into its own register (with the token it
    would have for them) and files a change: the hub refuses it, no holder hears of it, J-LIS
    notes nothing, and 新宿区's forged record stays as it was."""
    net = await env.network(run=None)
    rrc, _, tokens = await on_register(env, net, "nenkin")
    forged = {**RECORD, "rrc": rrc, "household": "SH1"}
    shinjuku = net.stores[NEW_REGISTER]
    await shinjuku.put_many("residents", [("F1", env.token(rrc, NEW_REGISTER), forged)])
    for kind, fields in (("name", {"name": "偽 名"}), ("death", {})):
        with pytest.raises(OfficeError) as refused:
            await desk(net, NEW_REGISTER, SHINJUKU).file(parse(kind, "F1", today(), fields))
        assert refused.value.code == "register.not_delivered"
        assert "does not keep this person's resident record" in str(refused.value)
    assert await shinjuku.get("residents", "F1") == forged
    used = [await shinjuku.get(EVENTS_LOG, k) for k in await shinjuku.keys(EVENTS_LOG)]
    assert [u["state"] for u in used if u and u["local_id"] == "F1"] == ["refused", "refused"]
    await asyncio.sleep(0.3)
    assert await events(net, "nenkin", tokens["nenkin"]) == []
    assert (await jlis_doc(net, rrc)).get("history", []) == []


def ca_with_certificates(
    now: dt.datetime,
) -> tuple[CertificationAuthority, CaListener]:
    ca = CertificationAuthority(
        Hierarchy.generate(now - dt.timedelta(days=2)),
        holder_key=b"h" * 32,
        endpoints=Endpoints("http://127.0.0.1:9"),
    )
    return ca, CaListener(ca)


def issue_both(
    ca: CertificationAuthority, holder: str, rrc: str, issued: dt.datetime
) -> tuple[Issued, Issued]:
    """A card's signature and authentication certificates, the 住民票コード given (as the
    市町村長's issuance application gives it)."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    sig = ca.issue(CertKind.SIGNATURE, key, holder, WHERE, FACTS, code=rrc, not_before=issued)
    auth = ca.issue(CertKind.AUTHENTICATION, key, holder, WHERE, code=rrc, not_before=issued)
    return sig, auth


async def revoked(ca: CertificationAuthority, ca_name: CaName, serial: int) -> None:
    """Wait (up to 5 s) until the CA has revoked the certificate."""
    async with asyncio.timeout(5):
        while True:
            if ca.status(ca_name, serial)[1] is not None:
                return
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("kind", "fields", "signature", "authentication"),
    [
        ("name", {"name": "佐藤 翼"}, True, False),
        ("address", {"address": "東京都千代田区麹町一丁目1番1号"}, True, False),
        ("move_out", {"to_municipality": SHINJUKU}, True, False),
        ("death", {}, True, True),
        ("household", {"household": "H2", "head": "1"}, False, False),
    ],
)
async def test_the_ca_revokes_what_the_law_says_when_it_learns_of_the_event(
    env: Env, kind: str, fields: dict[str, str], signature: bool, authentication: bool
) -> None:
    now = dt.datetime.now(dt.UTC)
    ca, listener = ca_with_certificates(now)
    net = await env.network(run=None, listeners={PKI_OFFICE: listener})
    rrc, _, tokens = await on_register(env, net, PKI_OFFICE)
    sig, auth = issue_both(ca, holder_for(tokens[PKI_OFFICE]), rrc, now - dt.timedelta(days=1))
    on = today()
    if kind == "move_out":  # filed ahead: revoked at filing (REGISTER-FACTS §1.4)
        on = (now.date() + dt.timedelta(days=20)).isoformat()
    await desk(net).file(parse(kind, "R1", on, fields))
    await settled(net, PKI_OFFICE, tokens[PKI_OFFICE], TOLD_AS[kind])
    if signature:  # from J-LIS's 異動等失効情報 over 住基ネット, not from the hub's event
        await revoked(ca, CaName.SIGNATURE, sig.serial)
    sig_revoked = ca.status(CaName.SIGNATURE, sig.serial)[1]
    auth_revoked = ca.status(CaName.AUTHENTICATION, auth.serial)[1]
    assert (sig_revoked is not None, auth_revoked is not None) == (signature, authentication)
    if sig_revoked is not None:  # recorded when the CA learned of it, not on the move's date
        assert sig_revoked.revoked_at.date() <= dt.datetime.now(dt.UTC).date()


async def deployed(env: Env, tmp_path: Path) -> tuple[Settings, str, str, dict[str, str], Network]:
    """For a desk command on the deployment (the real backend only): its settings (the state
    saved in ``tmp_path``), ``R1`` on the register held by ``nenkin`` (rrc, number, tokens),
    and the deployment's other services running."""
    if env.kind != "real":
        pytest.skip("the embedded default is tests/unit/cli/test_register_command.py's")
    env.state.save(tmp_path)
    settings = env.settings.model_copy(update={"state_dir": tmp_path})
    setup_net = await env.network(run=["hub", "token", "jlis", REGISTER, "nenkin"])
    rrc, number, tokens = await on_register(env, setup_net, "nenkin")
    await setup_net.aclose()
    # the deployment's other services: J-LIS in a process of its own, on 住基ネット
    net = await env.network(run=["hub", "token", "jlis", "nenkin"])
    return settings, rrc, number, tokens, net


async def test_the_desk_command_on_the_deployment(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`renkei register` with a broker and a database: the register in the command's process,
    on the store the deployment keeps, J-LIS asked over 住基ネット; the holders hear of it
    from the hub."""
    settings, rrc, _, tokens, net = await deployed(env, tmp_path)
    args = _parser().parse_args(
        ["register", "name", "--local-id", "R1", "--effective", today(), "--name", "佐藤 翼"]
    )
    assert await args.run(settings, args) == 0
    printed = re.search(r"^\{$.*?^\}$", capsys.readouterr().out, re.M | re.S)  # logs around it
    assert printed is not None and json.loads(printed[0])["name"] == "佐藤 翼"
    [event] = await settled(net, "nenkin", tokens["nenkin"], "name_changed")
    assert event["origin"] == REGISTER
    check = await env.network(run=["jlis", REGISTER])
    assert [h["reason"] for h in (await jlis_doc(check, rrc))["history"]] == ["氏名変更"]
    record = await check.stores[REGISTER].get("residents", "R1")
    assert record is not None and record["name"] == "佐藤 翼"


async def test_a_move_out_filed_online_then_the_one_visit_at_the_new_desk(env: Env) -> None:
    """引越しワンストップ: the 転出 filed in the portal (the old register's ``MovedOut``, as the
    portal's application reaches it), then the one visit: the 転入 at 新宿区's desk. The
    resident's record is then 新宿区's, which the network finds for an office asking."""
    net = await env.network(run=None)
    rrc, number, tokens = await on_register(env, net, "nenkin", "chiyoda-child")
    filed = {"moving_date": today(), "to_municipality": SHINJUKU}
    app = str(uuid.uuid4())
    await MovedOut(net.offices[REGISTER], desk(net))(app, tokens[REGISTER], "moving", filed)
    await arrived(net, NEW_REGISTER, env.token(rrc, NEW_REGISTER), "moved_out")
    # J-LIS heard the 転出 as from the desk: its history, and the record's last event
    [noted] = (await jlis_doc(net, rrc))["history"]
    assert (noted["reason"], noted["effective"]) == ("転出", today())
    record = await net.stores[REGISTER].get("residents", "R1")
    assert record is not None and record["event"] == noted["event"]
    again = MovedOut(net.offices[REGISTER], desk(net))
    await again(app, tokens[REGISTER], "moving", filed)  # the same application: done once
    [noted] = (await jlis_doc(net, rrc))["history"]
    with pytest.raises(ApplicationRefused, match="filed a move out"):  # another: out of order
        await again(str(uuid.uuid4()), tokens[REGISTER], "moving", filed)
    fields = {k: v for k, v in RECORD.items() if k != "relationship"}
    fields |= {"address": "東京都新宿区西新宿二丁目8番1号", "household": "SH4", "number": number}
    fields["from_address"] = RECORD["address"]
    await desk(net, NEW_REGISTER, SHINJUKU).file(parse("move_in", "S4", today(), fields))
    [event] = await settled(net, "nenkin", tokens["nenkin"], "moved_in")
    assert event["origin"] == NEW_REGISTER
    child = net.offices["chiyoda-child"]
    home = await child.ask("child_allowance", HUB, ("resident_record",), tokens["chiyoda-child"])
    assert home.status == "ok" and home.data is not None
    assert home.data["resident_record"]["address"].startswith("東京都新宿区")
    doc = await jlis_doc(net, rrc)
    assert doc["municipality"] == SHINJUKU
    assert [h["reason"] for h in doc["history"]] == ["転出", "転入"]


async def test_a_record_without_its_code_tells_nothing_and_a_jlis_refusal_stays_begun(
    env: Env,
) -> None:
    net = await env.network(run=None)
    rrc, _, tokens = await on_register(env, net, "nenkin")
    store = net.stores[REGISTER]
    record = await store.get("residents", "R1")
    assert record is not None
    bare = {k: v for k, v in record.items() if k != "rrc"}
    await store.put_many("residents", [("R1", tokens[REGISTER], bare)])
    first = parse("name", "R1", today(), {"name": "佐藤 翼"})
    with pytest.raises(OfficeError) as no_code:
        await desk(net).file(first)
    assert no_code.value.code == "register.bad_filing"
    await asyncio.sleep(0.3)
    assert await events(net, "nenkin", tokens["nenkin"]) == []  # nothing was told
    logged = await store.get(EVENTS_LOG, str(first.event_id))
    assert logged is not None and logged["state"] == "refused"
    # J-LIS refusing after the network was told: not complete, not refused — begun
    await store.put_many("residents", [("R1", tokens[REGISTER], record)])
    jlis: Jlis = net.apps["jlis"]
    doc = await jlis_doc(net, rrc)
    await jlis.store.put_many("residents", [(rrc, None, {**doc, "municipality": SHINJUKU})])
    second = parse("name", "R1", today(), {"name": "佐藤 翼"})
    with pytest.raises(OfficeError) as half:
        await desk(net).file(second)
    assert half.value.code == "register.unconfirmed" and "jlis.not_the_municipality" in str(
        half.value
    )
    logged = await store.get(EVENTS_LOG, str(second.event_id))
    assert logged is not None and logged["state"] == "begun"
    assert await store.get("residents", "R1") == record  # the register's record unchanged
