"""A 児童手当 認定請求 filed in the portal, processed: at filing the office reads the household
and its ward's tax figures in-house (庁内連携) or asks the hub for the municipality of 1 January
(添付書類の省略), decides, keeps the decision with the claim and tells the resident in お知らせ —
on both backends, with a real CA over HTTP.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from typing import Any

from e2e_env import Env
from portal_env import (
    CHILD,
    FACTS,
    PORTAL,
    REGISTER,
    Pki,
    Resident,
    application,
    login,
    network,
    resident,
)

from agencies.municipality.child_claims import CLAIMS, PENDING
from agencies.municipality.in_house import ATENA
from hub.wire import HUB, Delivered, Refused
from portal.model import NoticeEntry
from renkei.network import Network

TAX, ELSEWHERE = "chiyoda-tax", "shinjuku-tax"
HELD_SINCE = dt.datetime(2020, 4, 1, tzinfo=dt.UTC)
CHILD_BIRTH = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=365)).isoformat()  # 1 year
FORM = {"child_name": "番号 一郎", "child_birth_date": CHILD_BIRTH, "bank_account": "0001-1"}


async def with_child(net: Network, r: Resident) -> str:
    """The resident's household at the register: them and a child. Returns the register's key
    (``r-`` and the resident-record code)."""
    store = net.stores[REGISTER]
    found = await store.by_token("residents", r.register_token)
    assert found is not None
    key, record = found
    child = {
        **record,
        "name": FORM["child_name"],
        "birth_date": CHILD_BIRTH,
        "sex": "1",
        "relationship": "子",
    }
    await store.put_many("residents", [(f"{key}-c", None, child)])
    members = {"head": key, "members": [key, f"{key}-c"]}
    await store.put_many("households", [(record["household"], None, members)])
    return key


def fiscal_year() -> int:
    today = dt.datetime.now(dt.UTC).date()
    return today.year if today.month >= 6 else today.year - 1


async def taxed_here(net: Network, key: str) -> None:
    """The ward's tax office assessed them for the year: its record names the register's."""
    taxpayer = {"name": "番号 花子", "years": {str(fiscal_year()): {"total_income": 3_000_000}}}
    await net.stores[TAX].put_many("taxpayers", [("t-1", None, {**taxpayer, ATENA: key})])


async def taxed_elsewhere(env: Env, net: Network, rrc: str) -> None:
    """新宿区 assessed them (they lived there on 1 January, held since 2020); the ward did not."""
    assert net.directory is not None
    await net.directory.enrolled(env.token(rrc, HUB), ELSEWHERE, HELD_SINCE)
    taxpayer = {"name": "番号 花子", "years": {str(fiscal_year()): {"total_income": 3_000_000}}}
    await net.stores[ELSEWHERE].put_many(
        "taxpayers", [("s-1", env.token(rrc, ELSEWHERE), taxpayer)]
    )


async def notice_of(r: Resident, person: str, seconds: float = 20) -> NoticeEntry:
    async with asyncio.timeout(seconds):
        while not (notices := await r.portal.notices(person)):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    [notice] = notices
    return notice


async def claim_at(
    net: Network, before: set[str], seconds: float = 20, status: str = ""
) -> dict[str, Any]:
    """The claim filed since ``before`` (the office's claims then: the real backend's store
    lasts the module), once it has ``status``."""
    async with asyncio.timeout(seconds):
        while True:
            new = set(await net.stores[CHILD].keys(CLAIMS)) - before
            if new:
                [key] = new
                claim = await net.stores[CHILD].get(CLAIMS, key)
                if claim is not None and (not status or claim["status"] == status):
                    return claim
            await asyncio.sleep(0.05)


async def claimant(env: Env, pki: Pki, *, moved_in: bool = False) -> tuple[Network, Resident, str]:
    """A resident with a child of 1 in their household, logged in; taxed by the ward, or (moved
    in after 1 January) by 新宿区."""
    net = await network(env, pki)
    # a name of their own: the office finds the claimant on the register by who signed, and
    # the real backend's register keeps the module's other residents
    r = await resident(net, pki, dataclasses.replace(FACTS, name=f"番号 {uuid.uuid4().hex[:8]}"))
    key = await with_child(net, r)
    if moved_in:
        await taxed_elsewhere(env, net, key[2:])
    else:
        await taxed_here(net, key)
    return net, r, await login(r, pki)


async def claims_now(net: Network) -> set[str]:
    return set(await net.stores[CHILD].keys(CLAIMS))


async def test_a_claim_is_decided_in_house_and_the_resident_told(env: Env, pki: Pki) -> None:
    net, r, person = await claimant(env, pki)
    signed = application(r, "child_allowance", FORM)
    before = await claims_now(net)
    filed = await r.portal.submit(person, "child_allowance", FORM, signed)
    assert (filed.status, filed.office) == ("accepted", CHILD)
    notice = await notice_of(r, person)
    assert notice.office == CHILD and notice.title == "児童手当の認定のお知らせ"
    assert "月額 15,000円" in notice.body and "月分から支給します" in notice.body
    claim = await claim_at(net, before, status="認定")
    assert claim["told"] and claim["decision"]["monthly_yen"] == 15_000
    # the same signed claim again: its receipt again (it was filed), decided once, told once
    again = await r.portal.submit(person, "child_allowance", FORM, signed)
    assert (again.status, again.detail) == ("accepted", filed.detail)
    await asyncio.sleep(0.3)
    assert len(await r.portal.notices(person)) == 1
    assert len(await claims_now(net)) == len(before) + 1
    # 庁内連携: the ward's own register and tax office were read in-house, not asked over
    # the network — no query, no access record (やりとり履歴 shows none)
    history = (await r.portal.history(person)).entries
    assert [h for h in history if h.affair == "child_allowance"] == []
    assert claim["queries"] == []


async def test_the_tax_of_another_municipality_is_asked_and_an_office_down_waits(
    env: Env, pki: Pki
) -> None:
    net, r, person = await claimant(env, pki, moved_in=True)
    net.offices[CHILD].deadline = dt.timedelta(seconds=1)
    await net.offices[ELSEWHERE].stop()
    before = await claims_now(net)
    filed = await r.portal.submit(
        person, "child_allowance", FORM, application(r, "child_allowance", FORM)
    )
    assert filed.status == "accepted"
    claim = await claim_at(net, before)
    async with asyncio.timeout(15):
        while claim["attempts"] < 1:
            await asyncio.sleep(0.1)
            claim = await claim_at(net, before)
    assert claim["status"] == PENDING and claim["decision"] is None, claim
    assert "timed_out" in claim["reason"]
    assert await r.portal.notices(person) == []  # nothing decided on missing data
    # the 申請 page says 審査中, and why (no お知らせ for it)
    async with asyncio.timeout(10):
        while "timed_out" not in (shown := (await r.portal.applications(person))[0]).reason:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert (shown.status, shown.progress, shown.office) == ("accepted", "審査中", CHILD)
    # another office holding the resident cannot say anything of the claim
    forged = {"ref": shown.ref, "state": "却下", "reason": ""}
    assert isinstance(
        await net.offices[REGISTER].notify(r.register_token, PORTAL, forged), Delivered
    )
    await net.offices[ELSEWHERE].start()  # back: the retry decides
    notice = await notice_of(r, person, seconds=30)
    assert notice.title == "児童手当の認定のお知らせ"
    [decided] = await r.portal.applications(person)
    assert (decided.progress, decided.reason) == ("認定", "")
    # the network case: 新宿区's tax office, found by the hub, in the resident's やりとり履歴
    history = (await r.portal.history(person)).entries
    asked = {(h.requester, h.provider, h.items) for h in history if h.affair == "child_allowance"}
    assert (CHILD, ELSEWHERE, ("local_tax",)) in asked


async def test_a_claim_for_someone_the_office_does_not_hold_goes_nowhere(
    env: Env, pki: Pki
) -> None:
    net = await network(env, pki, without=CHILD)
    r = await resident(net, pki)  # not enrolled at the child-allowance office
    person = await login(r, pki)
    filed = await r.portal.submit(
        person, "child_allowance", FORM, application(r, "child_allowance", FORM)
    )
    assert filed.status == "refused" and "holds this person" in filed.detail


async def test_an_office_cannot_notify_a_resident_it_does_not_hold(env: Env, pki: Pki) -> None:
    """A dishonest office with a token of its own for the person (as one that held them once
    would have) but no holding: the hub refuses the notice, the portal shows nothing."""
    net = await network(env, pki)
    r = await resident(net, pki)  # held by the register and the child office, not the tax office
    person = await login(r, pki)
    found = await net.stores[REGISTER].by_token("residents", r.register_token)
    assert found is not None
    forged = {
        "title": "児童手当の認定のお知らせ",
        "body": "認定しました。月額 30,000円",
        "ref": "x",
    }
    outcome = await net.offices[TAX].notify(env.token(found[0][2:], TAX), PORTAL, forged)
    assert isinstance(outcome, Refused) and outcome.code == "hub.not_a_holder"
    await asyncio.sleep(0.2)
    assert await r.portal.notices(person) == []


async def test_a_malformed_or_oversized_claim_is_refused_and_nothing_opened(
    env: Env, pki: Pki
) -> None:
    """The office checks the form itself (the portal's pages check it too, but the signed
    document is what arrives): a field too long, one missing, a huge one."""
    net = await network(env, pki)
    r = await resident(net, pki)
    person = await login(r, pki)
    before = await claims_now(net)
    receipts = await net.stores[CHILD].keys("applications")
    for form in (
        {**FORM, "child_name": "長" * 61},
        {k: v for k, v in FORM.items() if k != "bank_account"},
        {**FORM, "bank_account": "1" * 5_000},  # (the wire seals at most 48 KiB)
    ):
        filed = await r.portal.submit(
            person, "child_allowance", form, application(r, "child_allowance", form)
        )
        assert filed.status == "refused", filed
    assert await claims_now(net) == before
    assert await net.stores[CHILD].keys("applications") == receipts


async def test_a_notice_sent_again_is_kept_once_per_office_and_ref(env: Env, pki: Pki) -> None:
    """An office that could not confirm a notice sends it again: the portal keeps one per
    office and ``ref``; another office's notice with the same ref is its own."""
    net = await network(env, pki)
    r = await resident(net, pki)  # held by the register and the child office
    person = await login(r, pki)
    notice = {"title": "児童手当の認定のお知らせ", "body": "認定しました。", "ref": "claim-1"}
    for _ in range(2):
        assert isinstance(await net.offices[CHILD].notify(r.child_token, PORTAL, notice), Delivered)
    other = await net.offices[REGISTER].notify(r.register_token, PORTAL, notice)
    assert isinstance(other, Delivered)
    async with asyncio.timeout(5):
        while len(kept := await r.portal.notices(person)) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    kept = await r.portal.notices(person)
    assert sorted(n.office for n in kept) == sorted([REGISTER, CHILD])
