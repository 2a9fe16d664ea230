"""児童手当 認定請求: the rule from 2024-10 (``decide``), the claim's decision (``decide_claim``),
its notice, the form the office takes, and the processing (``Claims``) with a faked node.

From 2024-10-01 (module docstring of ``child_allowance``, a model): paid to the first 31 March
after the 18th birthday; 15,000 yen a month under 3, 10,000 from 3, 30,000 for the third and
later child, the order counted among children up to the first 31 March after the 22nd birthday;
no income limit. A claim filed in a month is paid from the next month, at that month's rule.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from agencies.applications import COLLECTION as RECEIPTS
from agencies.applications import SignedApplications, Signer
from agencies.municipality import child_claims
from agencies.municipality.child_allowance import ChildAllowance, decide
from agencies.municipality.child_claims import (
    APPLICANTS,
    CLAIMS,
    PENDING,
    Claims,
    check_form,
    decide_claim,
    first_of_next_month,
    notice_for,
)
from agencies.municipality.in_house import InHouse
from hub.node import Answer, ApplicationRefused, MemoryStore
from hub.wire import Delivered, TimedOut

ON = dt.date(2027, 1, 1)  # the first month paid of a claim filed in December 2026
RICH = 50_000_000  # yen: no income limit any more


def kids(*births: str) -> list[dict[str, str]]:
    members = [{"name": "番号 花子", "relationship": "世帯主", "birth_date": "1985-03-03"}]
    members += [
        {"name": f"番号 子{i}", "relationship": "子", "birth_date": b}
        for i, b in enumerate(births, start=1)
    ]
    return members


# ---- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "monthly"),
    [
        ("2026-12-31", 15_000),  # born last month
        ("2024-01-02", 15_000),  # 2, turning 3 tomorrow
        ("2024-01-01", 10_000),  # 3 on the first of the month
        ("2023-12-31", 10_000),  # 3
        ("2020-06-01", 10_000),  # primary school
    ],
)
def test_under_3_gets_15000_and_from_3_10000(birth: str, monthly: int) -> None:
    assert decide(kids(birth), 0, ON)[:3] == ("eligible", monthly, 1)


@pytest.mark.parametrize(
    ("birth", "paid"),
    [
        ("2008-04-02", True),  # 18 in April 2026: paid to 31 March 2027 (高校生年代)
        ("2008-04-01", False),  # 18 on 31 March 2026 by law: paid to that day
        ("2007-12-01", False),  # 19
    ],
)
def test_paid_to_the_first_31_march_after_18(birth: str, paid: bool) -> None:
    expected = ("eligible", 10_000, 1) if paid else ("no_child", 0, 0)
    assert decide(kids(birth), 0, ON)[:3] == expected


def test_the_third_child_gets_30000_at_any_age_paid() -> None:
    # 16, 12, 1: the youngest is the third; the 16-year-old (high school) is paid too
    assert decide(kids("2010-05-01", "2014-05-01", "2025-06-01"), 0, ON)[:3] == (
        "eligible",
        10_000 + 10_000 + 30_000,
        3,
    )


def test_a_child_of_19_to_22_counts_in_the_order_but_is_not_paid() -> None:
    # 20 (university, under 22 on 1 April 2026), then 10 and 5: the 5-year-old is the third
    status, monthly, n, reason = decide(kids("2006-05-01", "2016-05-01", "2021-05-01"), 0, ON)
    assert (status, monthly, n) == ("eligible", 10_000 + 30_000, 2)
    assert reason == "2 child(ren) paid for, 3 counted in the order"


def test_a_child_over_22_no_longer_counts_in_the_order() -> None:
    # 22 on 1 April 2026 (born 2004-04-01: 22 by law on 31 March 2026): not counted
    assert decide(kids("2004-04-01", "2016-05-01", "2021-05-01"), 0, ON)[:3] == (
        "eligible",
        20_000,
        2,
    )
    assert decide(kids("2004-04-02", "2016-05-01", "2021-05-01"), 0, ON)[:2] == (
        "eligible",
        40_000,
    )


def test_income_changes_nothing_since_the_reform() -> None:
    household = kids("2016-05-01", "2025-05-01")
    assert decide(household, RICH, ON) == decide(household, 0, ON)
    assert decide(household, RICH, dt.date(2024, 9, 1))[0] == "ineligible"  # before it


def test_only_children_already_born_count() -> None:
    assert decide(kids("2027-03-01"), 0, ON)[0] == "no_child"


# ---- the claim's decision and its notice ----------------------------------------------------

FORM = {"child_name": "番号 子2", "child_birth_date": "2025-05-01", "bank_account": "0001-1"}
FILED = dt.date(2026, 12, 6)


SIGNER = {"name": "番号 花子", "birth_date": "1985-03-03"}  # the claimant, 世帯主


def record(*births: str) -> dict[str, Any]:
    return {**SIGNER, "household": kids(*births)}


def test_a_claim_is_paid_from_the_next_month() -> None:
    assert first_of_next_month(FILED) == ON
    assert first_of_next_month(dt.date(2027, 1, 31)) == dt.date(2027, 2, 1)
    verdict = decide_claim(record("2016-05-01", "2025-05-01"), FORM, FILED, SIGNER)
    assert (verdict.status, verdict.monthly_yen, verdict.from_month, verdict.children) == (
        "認定",
        10_000 + 15_000,
        ON,
        2,
    )
    notice = notice_for(verdict, "app-1")
    assert notice["title"] == "児童手当の認定のお知らせ"
    assert "月額 25,000円" in notice["body"] and "2027年1月分から" in notice["body"]
    assert notice["ref"] == "app-1"


def test_a_claimant_the_register_does_not_keep_is_rejected() -> None:
    verdict = decide_claim(None, FORM, FILED, SIGNER)
    assert (verdict.status, verdict.monthly_yen) == ("却下", 0)
    assert "住民票" in notice_for(verdict, "a")["body"]


def test_a_child_not_in_the_household_is_rejected() -> None:
    other = {**FORM, "child_birth_date": "2025-05-02"}  # the name matches, the birth date not
    verdict = decide_claim(record("2016-05-01", "2025-05-01"), other, FILED, SIGNER)
    assert verdict.status == "却下" and "世帯にいません" in verdict.reason
    notice = notice_for(verdict, "a")
    assert notice["title"] == "児童手当の却下のお知らせ" and verdict.reason in notice["body"]


def test_a_child_past_the_age_is_rejected() -> None:
    form = {**FORM, "child_name": "番号 子1", "child_birth_date": "2007-05-01"}
    verdict = decide_claim(record("2007-05-01"), form, FILED, SIGNER)
    assert verdict.status == "却下" and "18歳" in verdict.reason


def test_the_childs_name_is_compared_as_a_name() -> None:
    household = record("2025-05-01")
    household["household"][1]["name"] = "番号 \ufa19"  # 神 (compatibility ideograph)
    form = {**FORM, "child_name": "番号 神", "child_birth_date": "2025-05-01"}  # U+795E
    assert decide_claim(household, form, FILED, SIGNER).status == "認定"


def test_a_claim_signed_by_someone_else_than_the_claimant_is_rejected() -> None:
    """A dishonest filer (the portal is an office too): the register's claimant is not who
    signed."""
    other = {**SIGNER, "birth_date": "1985-03-04"}
    verdict = decide_claim(record("2016-05-01", "2025-05-01"), FORM, FILED, other)
    assert verdict.status == "却下" and "署名した人" in verdict.reason
    assert decide_claim(record("2016-05-01", "2025-05-01"), FORM, FILED, SIGNER).status == "認定"


def test_claims_before_the_reform_are_not_decided_by_this_rule() -> None:
    with pytest.raises(ValueError, match="2024-10-01"):
        decide_claim(record("2020-01-01"), FORM, dt.date(2024, 8, 1), SIGNER)


@pytest.mark.parametrize(
    "form",
    [
        {k: v for k, v in FORM.items() if k != "bank_account"},  # a field missing
        {**FORM, "extra": "x"},  # a field more
        {**FORM, "child_name": 1},  # not a text
        {**FORM, "child_name": ""},  # empty
        {**FORM, "child_name": "長" * 61},  # too long
        {**FORM, "bank_account": "1" * 41},
        {**FORM, "child_birth_date": "2025-02-30"},  # no such day
        {**FORM, "child_birth_date": "20250501"},
    ],
    ids=["missing", "extra", "not-text", "empty", "long-name", "long-account", "no-day", "format"],
)
def test_a_malformed_form_is_refused(form: dict[str, Any]) -> None:
    with pytest.raises(ApplicationRefused) as caught:
        check_form("chiyoda-child", form)
    assert caught.value.code == "chiyoda_child.not_an_application"


# ---- processing, with a faked node --------------------------------------------------------


class Node:
    """The child office's node: only the hub is asked over the network, for the tax figures of
    the municipality of 1 January (``tax`` says how it answers: ok, down, a final refusal, a
    quota's refusal); notices are counted (``notice`` says how they fail)."""

    code = "chiyoda-child"

    def __init__(self) -> None:
        self.tax = "ok"
        self.notice = "delivered"
        self.asked: list[str] = []
        self.notices: list[tuple[str, str, Mapping[str, str]]] = []
        self.progress: list[Mapping[str, str]] = []

    async def ask(
        self,
        affair: str,
        provider: str,
        items: tuple[str, ...],
        token: str,
        params: Mapping[str, int] | None = None,
    ) -> Answer:
        self.asked.append(provider)
        qid, rid = uuid.uuid4(), uuid.uuid4()
        if self.tax == "ok":
            return Answer(qid, "ok", {"local_tax": {"total_income": 1}}, record_id=rid)
        if self.tax == "refused":  # the law will not change its mind
            return Answer(qid, "refused", None, "routing.no_row", "no row", record_id=rid)
        if self.tax == "quota":  # it may pass later
            return Answer(qid, "refused", None, "routing.quota_exceeded", "", rid, retry_after=1)
        return Answer(qid, "timed_out", reason="no reply before the deadline", record_id=rid)

    async def notify(self, person: str, portal: str, notice: Mapping[str, str]) -> Any:
        if self.notice != "delivered":
            return TimedOut(reason="no reply to the notice before the deadline")
        if "title" not in notice:  # the claim's progress, for the 申請 page
            self.progress.append(notice)
        else:
            self.notices.append((person, portal, notice))
        return Delivered()


SIGNED = Signer(SIGNER["name"], SIGNER["birth_date"], b"{}", dt.datetime.now(dt.UTC))


async def ward(*, resident: bool = True) -> InHouse:
    """The ward's in-house link: its register keeps the claimant's household (a child of 2016
    and one of 2025) unless ``resident`` is false; its tax office has no figures for the
    claimant (moved in after 1 January: the hub is asked)."""
    register = MemoryStore()
    members = [(f"R{i}", m) for i, m in enumerate(kids("2016-05-01", "2025-05-01"), start=1)]
    if resident:
        home = {"household": "H1", "sex": "1", "address": "東京都千代田区"}
        await register.put_many("residents", [(k, None, {**m, **home}) for k, m in members])
        household = {"head": "R1", "members": [k for k, _ in members]}
        await register.put_many("households", [("H1", None, household)])
    return InHouse("131016", register, MemoryStore())


async def claims(node: Node, *, resident: bool = True) -> tuple[Claims, MemoryStore]:
    store = MemoryStore()
    link = await ward(resident=resident)
    office = ChildAllowance(node, store, in_house=link)  # type: ignore[arg-type]
    return Claims(office, "myna-portal", retry=0.01, retry_max=0.02), store


async def filed_by_hand(node: Node, app_id: str, person: str) -> tuple[Claims, MemoryStore]:
    """A claim filed, its retries left to the test (it calls ``process``)."""
    c, store = await claims(node)
    c.retry = c.retry_max = 3600.0
    await c.filed(app_id, person, FORM, SIGNED)
    return c, store


async def settled(c: Claims) -> None:
    async with asyncio.timeout(2):
        while c._tasks:  # noqa: ASYNC110 - the test waits for the background work
            await asyncio.sleep(0.005)


async def test_a_claim_is_fetched_decided_kept_and_told_once() -> None:
    node = Node()
    c, store = await claims(node)
    await c.filed("app-1", "T1", FORM, SIGNED)
    await c.filed("app-1", "T1", FORM, SIGNED)  # the same claim again: one claim, one notice
    await settled(c)
    claim = await store.get(CLAIMS, "app-1")
    assert claim is not None and claim["status"] == "認定" and claim["told"]
    assert claim["decision"]["monthly_yen"] == 25_000
    assert len(claim["queries"]) == 1  # the record id of the network query
    assert node.asked == ["hub"]  # the household in-house, the tax of 1 January over the network
    [(person, portal, notice)] = node.notices
    assert (person, portal, notice["ref"]) == ("T1", "myna-portal", "app-1")
    assert await store.by_token(APPLICANTS, "T1") is not None  # the claimant is an applicant
    assert await c.process("app-1") is True and len(node.notices) == 1


@pytest.mark.parametrize(
    ("how", "said"),
    [("down", "timed_out"), ("quota", "routing.quota_exceeded")],  # a quota's refusal may pass
    ids=["timed-out", "quota"],
)
async def test_a_failed_query_leaves_the_claim_pending_and_it_is_retried(
    how: str, said: str
) -> None:
    node = Node()
    node.tax = how
    c, store = await filed_by_hand(node, "app-2", "T2")
    async with asyncio.timeout(2):
        while not node.asked:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    await asyncio.sleep(0.01)
    claim = await store.get(CLAIMS, "app-2")
    assert claim is not None and claim["status"] == PENDING and claim["decision"] is None
    assert said in claim["reason"] and claim["attempts"] == 1
    assert node.notices == []  # nothing decided on missing data, nothing told
    node.tax = "ok"
    assert await c.process("app-2") is True
    claim = await store.get(CLAIMS, "app-2")
    assert claim is not None and claim["status"] == "認定" and claim["attempts"] == 2
    assert len(node.notices) == 1
    await c.close()


async def test_a_notice_not_delivered_is_sent_again_the_decision_kept() -> None:
    node = Node()
    node.notice = "down"
    c, store = await filed_by_hand(node, "app-3", "T3")
    assert await c.process("app-3") is False
    claim = await store.get(CLAIMS, "app-3")
    assert claim is not None and claim["status"] == "認定" and not claim["told"]
    assert "timed_out" in claim["notice_error"]
    asked = len(node.asked)
    node.notice = "delivered"
    assert await c.process("app-3") is True
    assert len(node.asked) == asked  # decided once: not fetched again
    assert len(node.notices) == 1
    await c.close()


async def test_a_claimant_the_register_does_not_keep_is_told_the_rejection() -> None:
    node = Node()
    c, store = await claims(node, resident=False)
    await c.filed("app-4", "T4", FORM, SIGNED)
    await settled(c)
    claim = await store.get(CLAIMS, "app-4")
    assert claim is not None and claim["status"] == "却下"
    assert node.notices[0][2]["title"] == "児童手当の却下のお知らせ"


async def test_open_claims_are_taken_up_again_on_start() -> None:
    node = Node()
    node.tax = "down"
    c, store = await filed_by_hand(node, "app-5", "T5")
    await c.close()  # the office stops with the claim open
    node.tax = "ok"
    again = Claims(c.allowance, "myna-portal", retry=0.01)
    await again.resume()
    await settled(again)
    claim = await store.get(CLAIMS, "app-5")
    assert claim is not None and claim["status"] == "認定" and claim["told"]


@pytest.mark.parametrize(
    ("answer", "settles"),
    [
        (Answer(uuid.uuid4(), "ok", {}), True),
        (Answer(uuid.uuid4(), "not_found"), True),
        (Answer(uuid.uuid4(), "refused", None, "routing.no_row"), True),  # the law: final
        (Answer(uuid.uuid4(), "refused", None, "hub.not_a_holder"), True),
        (Answer(uuid.uuid4(), "refused", None, "routing.quota_exceeded", retry_after=2), False),
        (Answer(uuid.uuid4(), "timed_out"), False),
        (Answer(uuid.uuid4(), "error", None, "hub.provider_unreachable"), False),
    ],
    ids=["ok", "not-found", "no-row", "not-a-holder", "quota", "timed-out", "unreachable"],
)
def test_a_refusal_that_will_not_change_settles_a_time_out_does_not(
    answer: Answer, settles: bool
) -> None:
    assert child_claims.settled(answer) is settles


async def test_a_final_refusal_decides_the_claim_instead_of_retrying_for_ever() -> None:
    node = Node()
    node.tax = "refused"
    c, store = await claims(node)
    await c.filed("app-6", "T6", FORM, SIGNED)
    await settled(c)
    claim = await store.get(CLAIMS, "app-6")
    # no income limit since 2024-10: decided without the figures the law would not give
    assert claim is not None and claim["status"] == "認定" and claim["told"]
    assert node.asked == ["hub"] and claim["attempts"] == 1


class _Lost(Exception):
    """The office stops between keeping the receipt and opening the claim."""


async def test_a_claim_received_but_never_opened_is_opened_on_start() -> None:
    node = Node()
    c, store = await claims(node)
    app_id = str(uuid.uuid4())
    application = {"kind": "child_allowance", "application_id": app_id, "form": FORM}
    content = orjson.dumps(application)
    signed = Signer(SIGNER["name"], SIGNER["birth_date"], content, dt.datetime.now(dt.UTC))

    class Check:
        async def check(self, document: bytes) -> Signer:
            return signed

        def content(self, document: bytes) -> bytes | None:
            return signed.content

    async def dies(*_: object) -> None:
        raise _Lost

    desk = SignedApplications("chiyoda-child", store, Check(), after=dies)
    with pytest.raises(_Lost):
        await desk.receive("T8", "child_allowance", b"signed")
    assert await store.get(RECEIPTS, app_id) is not None  # the receipt was kept
    assert await store.get(CLAIMS, app_id) is None  # but no claim opened
    again = Claims(c.allowance, "myna-portal", retry=0.01)
    await again.resume()
    await settled(again)
    claim = await store.get(CLAIMS, app_id)
    assert claim is not None and claim["status"] == "認定" and claim["told"]
    assert claim["signer"] == SIGNER and node.notices[0][0] == "T8"
    await again.resume()  # started again: nothing opened twice, nobody told twice
    await settled(again)
    assert len(node.notices) == 1


async def test_a_receipt_of_another_kind_or_without_its_filer_opens_nothing() -> None:
    node = Node()
    c, store = await claims(node)
    receipt = {"signed_at": dt.datetime.now(dt.UTC).isoformat()}
    await store.put_many(
        RECEIPTS,
        [
            ("m-1", None, {"kind": "moving", "form": {}, "receipt": receipt}),
            ("old-1", None, {"kind": "child_allowance", "form": FORM, "receipt": receipt}),
        ],
    )
    await c.resume()
    await settled(c)
    assert await store.keys(CLAIMS) == [] and node.notices == []


async def test_a_signer_two_residents_answer_to_is_not_guessed_the_claim_stays_pending() -> None:
    node = Node()
    c, store = await claims(node)
    c.retry = c.retry_max = 3600.0
    twin = {**kids()[0], "household": "H9", "sex": "2", "address": "東京都千代田区"}
    await c.allowance.in_house.register.put_many("residents", [("R9", None, twin)])
    await c.filed("app-9", "T9", FORM, SIGNED)
    assert await c.process("app-9") is False
    claim = await store.get(CLAIMS, "app-9")
    assert claim is not None and claim["status"] == PENDING and claim["decision"] is None
    assert "2 residents" in claim["reason"] and node.asked == [] and node.notices == []
    await c.close()


async def test_the_resident_is_told_pending_and_why_once_per_reason_then_the_decision() -> None:
    node = Node()
    node.tax = "down"
    c, _ = await filed_by_hand(node, "app-10", "T10")
    async with asyncio.timeout(2):
        while len(node.progress) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    opened, stuck = node.progress
    assert (opened["ref"], opened["state"]) == ("app-10", PENDING)
    assert stuck["state"] == PENDING and "timed_out" in stuck["reason"]
    assert await c.process("app-10") is False  # the same reason again: not told again
    assert len(node.progress) == 2
    node.tax = "ok"
    assert await c.process("app-10") is True
    [(_, _, decided)] = node.notices
    assert (decided["ref"], decided["state"]) == ("app-10", "認定")
    assert child_claims.progress_for("a", "x" * 5_000)["reason"] == "x" * 300
    await c.close()
