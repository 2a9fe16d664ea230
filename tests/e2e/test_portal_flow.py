"""The portal on the network: card login through J-LIS, disclosed records, live alerts,
notices, わたしの情報 and signed applications — on both backends, with a real CA over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid

import orjson
import pytest
from cryptography import x509
from e2e_env import Env
from portal_env import (
    CHILD,
    FACTS,
    PORTAL,
    REGISTER,
    Pki,
    Resident,
    application,
    der,
    login,
    network,
    next_entry,
    resident,
)

from agencies.jlis.registry import Jlis
from agencies.municipality.register_desk import EVENTS_LOG
from hub.wire import Delivered
from pki import CaName, sign_document
from portal.exceptions import LoginRefused
from portal.model import AccessEntry, CheckedCertificate
from portal.office import PortalOffice
from renkei.network import Network

# offices of other bodies than the ward (its own would read the register in-house)
WELFARE, PENSION = "tokyo-pref", "nenkin"


async def test_login_history_and_a_live_access_alert(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    r = await resident(net, pki)
    person = await login(r, pki)
    feed = r.portal.subscribe(person)
    # an office of another body asks the register over the network (日本年金機構, r27); the
    # ward's own offices read it in-house (庁内連携), which no access record shows
    pension = env.ring.translate(r.register_token, REGISTER, (PENSION,))[0]
    answer = await net.offices[PENSION].ask(
        "national_pension", REGISTER, ("resident_record",), pension
    )
    assert answer.status == "ok"
    alert = await next_entry(feed)
    while isinstance(alert, AccessEntry) and alert.affair in ("portal_login", "enrollment"):
        alert = await next_entry(feed)  # the login's own, the enrollments before it
    assert isinstance(alert, AccessEntry)
    assert (alert.requester, alert.provider, alert.record_id) == (
        PENSION,
        REGISTER,
        answer.record_id,
    )
    history = (await r.portal.history(person)).entries
    asked = [h for h in history if h.requester == PENSION and h.affair != "enrollment"]
    assert [h.record_id for h in asked] == [answer.record_id]
    # named by the registry and the legal table; an office's access, not the portal's own
    assert (asked[0].requester_name, asked[0].affair_name, asked[0].item_names) == (
        "日本年金機構",
        "国民年金法による給付の支給又は保険料の徴収",
        ("住民票関係情報",),
    )
    assert not asked[0].own and not alert.own
    assert any(h.requester == PORTAL and h.affair == "portal_login" for h in history)
    assert await r.portal.verify_record(person, answer.record_id)
    assert await r.portal.verify_record(person, uuid.uuid4()) is None  # not theirs / none


async def test_records_flagged_not_to_disclose_are_neither_shown_nor_alerted(
    env: Env, pki: Pki
) -> None:
    net = await network(env, pki)
    r = await resident(net, pki)
    person = await login(r, pki)
    feed = r.portal.subscribe(person)
    # 生活保護 (row r08: the governor's, for a 町村 without a 福祉事務所) is an affair the law
    # lets withhold its records, for a while
    welfare = env.ring.translate(r.register_token, REGISTER, (WELFARE,))[0]
    asked = ("public_assistance", REGISTER, ("resident_record",), welfare)
    hidden = await net.offices[WELFARE].ask(*asked, not_disclosed=True)
    assert hidden.status == "ok"
    # the same access without the flag, after it: its alert must arrive (live push works), and
    # the hidden one's would have come first
    shown = await net.offices[WELFARE].ask(*asked)
    assert shown.status == "ok"
    alerted: list[object] = []  # record ids, in order of arrival (a notice has none)
    while shown.record_id not in alerted:
        alerted.append(getattr(await next_entry(feed), "record_id", None))
    alerted += [getattr(feed.get_nowait(), "record_id", None) for _ in range(feed.qsize())]
    assert hidden.record_id not in alerted
    history = {h.record_id for h in (await r.portal.history(person)).entries}
    assert shown.record_id in history and hidden.record_id not in history


async def test_a_notice_reaches_the_portal_under_its_own_token(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    r = await resident(net, pki)
    person = await login(r, pki)
    feed = r.portal.subscribe(person)
    notice = {"title": "児童手当の認定", "body": "認定しました。"}
    assert isinstance(await net.offices[CHILD].notify(r.child_token, PORTAL, notice), Delivered)
    pushed = await next_entry(feed)
    while isinstance(pushed, AccessEntry):  # the login's own record
        pushed = await next_entry(feed)
    assert (pushed.title, pushed.office, pushed.read) == ("児童手当の認定", CHILD, False)
    listed = await r.portal.notices(person)
    assert [n.notice_id for n in listed] == [pushed.notice_id]
    assert await r.portal.mark_read(person, pushed.notice_id)
    assert (await r.portal.notices(person))[0].read
    # kept in the portal's own store: a restarted portal still lists it, read
    again = PortalOffice(r.portal.node, r.portal.registry, r.portal.table, r.portal.signer_of)
    assert [(n.notice_id, n.read) for n in await again.notices(person)] == [
        (pushed.notice_id, True)
    ]
    assert not await r.portal.mark_read("another-person", pushed.notice_id)


async def test_notices_go_only_to_the_portal(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    r = await resident(net, pki)
    outcome = await net.offices[CHILD].notify(r.child_token, REGISTER, {"title": "t", "body": "b"})
    assert outcome.status == "refused"
    assert outcome.code == "hub.not_a_portal"  # type: ignore[union-attr]


async def test_my_information_is_fetched_through_the_hub(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    r = await resident(net, pki)
    person = await login(r, pki)
    shown = {o.office: o for o in await r.portal.my_info(person)}
    (record,) = shown[REGISTER].items
    assert (record.name, record.model, record.values["name"]) == (
        "住民票関係情報",  # the legal table's name, flagged there as a model
        True,
        FACTS.name,
    )
    assert not shown[REGISTER].unavailable
    # 児童手当 holds the resident but provides no item: listed, not asked (no rule to ask it)
    assert shown[CHILD].no_rule and not shown[CHILD].items
    assert await r.portal.resident_name(person) == FACTS.name
    history = (await r.portal.history(person)).entries
    asked = [h for h in history if h.affair == "self_information"]
    assert {h.provider for h in asked} == {REGISTER}  # never the office with nothing to ask
    assert all(h.own and h.requester_name == "マイナポータル" for h in asked)


async def test_a_signed_tax_return_is_accepted_only_if_it_verifies(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    r = await resident(net, pki)
    person = await login(r, pki)
    form = {"fiscal_year": "2025", "income": "5000000", "deductions": "480000"}
    signed = application(r, "tax_return", form)
    ok = await r.portal.submit(person, "tax_return", form, signed)
    assert (ok.status, ok.office, ok.office_name) == ("accepted", "nta", "国税庁 麹町税務署")
    assert ok.detail.startswith("nta-")
    again = await r.portal.submit(person, "tax_return", form, signed)
    assert (again.status, again.detail) == ("accepted", ok.detail)  # the same: its receipt
    other = {"kind": "tax_return", "application_id": ok.ref, "form": {**form, "income": "1"}}
    dup = await r.portal.submit(person, "tax_return", form, sign(orjson.dumps(other), r))
    assert (dup.status, dup.detail.split(":")[0]) == ("refused", "nta.duplicate")
    tampered = bytearray(application(r, "tax_return", form))
    tampered[-5] ^= 1
    bad = await r.portal.submit(person, "tax_return", form, bytes(tampered))
    assert (bad.status, bad.detail.split(":")[0]) == ("refused", "nta.signature_invalid")
    wrong_kind = await r.portal.submit(person, "tax_return", form, application(r, "moving", form))
    assert wrong_kind.detail.startswith("nta.not_an_application")
    assert [a.status for a in await r.portal.applications(person)] == [
        "refused",
        "refused",
        "refused",
        "accepted",
        "accepted",
    ]


def sign(document: bytes, r: Resident) -> bytes:
    return sign_document(document, r.sign, r.sign_key)


async def test_a_moving_application_must_be_signed_by_the_resident(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    r = await resident(net, pki)
    other = await resident(net, pki, dataclasses.replace(FACTS, name="別人 太郎"))
    person = await login(r, pki)
    form = {
        "to_address": "東京都新宿区西新宿二丁目8番1号",
        "to_municipality": "131041",
        "moving_date": (dt.date.today() + dt.timedelta(days=1)).isoformat(),  # after the card
    }
    theirs = await r.portal.submit(person, "moving", form, application(other, "moving", form))
    assert theirs.detail.startswith("portal.signer_mismatch")  # J-LIS named someone else
    undated = {k: v for k, v in form.items() if k != "moving_date"}
    bad = await r.portal.submit(person, "moving", undated, application(r, "moving", undated))
    assert bad.detail.startswith("office.bad_application")
    far = {**form, "moving_date": (dt.date.today() + dt.timedelta(days=60)).isoformat()}
    early = await r.portal.submit(person, "moving", far, application(r, "moving", far))
    assert early.detail.startswith("office.move_out_refused")  # a 転出届 is at most 30 days ahead
    mine = await r.portal.submit(person, "moving", form, application(r, "moving", form))
    assert mine.status == "accepted", mine.detail
    # the one-stop: the filed move out went to every holder — J-LIS revokes the signature
    # certificate (a move does), the new municipality's register holds the notice
    async with asyncio.timeout(5):
        while pki.ca.status(CaName.SIGNATURE, r.sign.serial_number)[1] is None:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert pki.ca.status(CaName.AUTHENTICATION, r.auth.serial_number)[1] is None
    # and J-LIS's 本人確認情報 keeps the 転出 in its history, as a move out filed at the desk
    jlis: Jlis = net.apps["jlis"]
    rrc = await jlis_code(net, r)
    doc = await jlis.store.get("residents", rrc)
    assert doc is not None
    assert [(h["reason"], h["effective"]) for h in doc["history"]] == [
        ("転出", form["moving_date"])
    ]
    record = await net.stores[REGISTER].get("residents", f"r-{rrc}")
    assert record is not None and record["move_out"] == form["moving_date"]
    logged = await net.stores[REGISTER].get(EVENTS_LOG, record["event"])
    assert logged is not None and logged["state"] == "applied"


async def jlis_code(net: Network, r: Resident) -> str:
    found = await net.stores[REGISTER].by_token("residents", r.register_token)
    assert found is not None
    return str(found[1]["rrc"])


async def test_a_child_allowance_claim_reaches_the_child_allowance_office(
    env: Env, pki: Pki
) -> None:
    net = await network(env, pki)
    r = await resident(net, pki)
    person = await login(r, pki)
    form = {"child_name": "番号 一郎", "child_birth_date": "2024-05-01", "bank_account": "0001-1"}
    claim = await r.portal.submit(
        person, "child_allowance", form, application(r, "child_allowance", form)
    )
    assert (claim.status, claim.office) == ("accepted", CHILD)
    kept = await net.stores[CHILD].keys("applications")
    assert len(kept) == 1


async def test_an_office_down_is_named_on_my_information(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    r = await resident(net, pki, also=("chiyoda-tax",))
    person = await login(r, pki)
    await net.offices["chiyoda-tax"].stop()  # it holds the resident, and is down
    shown = {o.office: o for o in await r.portal.my_info(person)}
    assert shown["chiyoda-tax"].unavailable.startswith("timed_out")
    assert shown[REGISTER].items  # the others still answer
    # only the offices that hold the resident (the portal itself aside); those the portal
    # has no rule to ask are named, not asked
    assert set(shown) == {REGISTER, "chiyoda-tax", CHILD, "jlis-pki"}
    assert {o for o, data in shown.items() if data.no_rule} == {CHILD, "jlis-pki"}


async def test_revoked_certificates_neither_log_in_nor_sign(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    r = await resident(net, pki)
    person = await login(r, pki)
    auth_serial, sign_serial = r.auth.serial_number, r.sign.serial_number
    pki.ca.revoke(CaName.SIGNATURE, sign_serial, x509.ReasonFlags.cessation_of_operation)
    form = {"fiscal_year": "2025", "income": "1", "deductions": "0"}
    late = await r.portal.submit(person, "tax_return", form, application(r, "tax_return", form))
    assert late.detail.startswith("jlis.certificate_revoked")  # J-LIS, asked who signed
    pki.ca.revoke(CaName.AUTHENTICATION, auth_serial, x509.ReasonFlags.cessation_of_operation)
    with pytest.raises(LoginRefused, match="revoked"):
        await login(r, pki)
    checked = CheckedCertificate(der(r.auth), auth_serial, r.auth.not_valid_after_utc)
    with pytest.raises(LoginRefused, match=r"jlis\.certificate_revoked"):
        await r.portal.identify(checked)  # J-LIS refuses too, whatever the portal checked
