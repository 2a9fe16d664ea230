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

import pytest

from agencies.applications import Signer
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
    """The child office's node: the register answers the household, the tax office its
    figures (or ``tax`` says how it fails); notices are counted (``notice`` says how they
    fail)."""

    code = "chiyoda-child"

    def __init__(self) -> None:
        self.tax = "ok"
        self.register = "ok"
        self.notice = "delivered"
        self.asked: list[str] = []
        self.notices: list[tuple[str, str, Mapping[str, str]]] = []

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
        if provider == "chiyoda-resident":
            if self.register == "not_found":
                return Answer(qid, "not_found", reason="no record", record_id=rid)
            data = {"resident_record": record("2016-05-01", "2025-05-01")}
            return Answer(qid, "ok", data, record_id=rid)
        if self.tax == "ok":
            return Answer(qid, "ok", {"local_tax": {"total_income": 1}}, record_id=rid)
        return Answer(qid, "timed_out", reason="no reply before the deadline", record_id=rid)

    async def notify(self, person: str, portal: str, notice: Mapping[str, str]) -> Any:
        if self.notice != "delivered":
            return TimedOut(reason="no reply to the notice before the deadline")
        self.notices.append((person, portal, notice))
        return Delivered()


SIGNED = Signer(SIGNER["name"], SIGNER["birth_date"], b"{}", dt.datetime.now(dt.UTC))


def claims(node: Node) -> tuple[Claims, MemoryStore]:
    store = MemoryStore()
    office = ChildAllowance(
        node,  # type: ignore[arg-type]
        store,
        register="chiyoda-resident",
        tax_office="chiyoda-tax",
    )
    return Claims(office, "myna-portal", retry=0.01, retry_max=0.02), store


async def settled(c: Claims) -> None:
    async with asyncio.timeout(2):
        while c._tasks:  # noqa: ASYNC110 - the test waits for the background work
            await asyncio.sleep(0.005)


async def test_a_claim_is_fetched_decided_kept_and_told_once() -> None:
    node = Node()
    c, store = claims(node)
    await c.filed("app-1", "T1", FORM, SIGNED)
    await c.filed("app-1", "T1", FORM, SIGNED)  # the same claim again: one claim, one notice
    await settled(c)
    claim = await store.get(CLAIMS, "app-1")
    assert claim is not None and claim["status"] == "認定" and claim["told"]
    assert claim["decision"]["monthly_yen"] == 25_000
    assert len(claim["queries"]) == 2  # the record ids of the two queries
    assert sorted(node.asked) == ["chiyoda-resident", "chiyoda-tax"]
    [(person, portal, notice)] = node.notices
    assert (person, portal, notice["ref"]) == ("T1", "myna-portal", "app-1")
    assert await store.by_token(APPLICANTS, "T1") is not None  # the claimant is an applicant
    assert await c.process("app-1") is True and len(node.notices) == 1


async def test_a_failed_query_leaves_the_claim_pending_and_it_is_retried() -> None:
    node = Node()
    node.tax = "down"
    c, store = claims(node)
    c.retry = c.retry_max = 3600.0  # the test drives the retries
    await c.filed("app-2", "T2", FORM, SIGNED)
    async with asyncio.timeout(2):
        while not node.asked:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    await asyncio.sleep(0.01)
    claim = await store.get(CLAIMS, "app-2")
    assert claim is not None and claim["status"] == PENDING and claim["decision"] is None
    assert "timed_out" in claim["reason"] and claim["attempts"] == 1
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
    c, store = claims(node)
    c.retry = c.retry_max = 3600.0
    await c.filed("app-3", "T3", FORM, SIGNED)
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
    node.register = "not_found"
    c, store = claims(node)
    await c.filed("app-4", "T4", FORM, SIGNED)
    await settled(c)
    claim = await store.get(CLAIMS, "app-4")
    assert claim is not None and claim["status"] == "却下"
    assert node.notices[0][2]["title"] == "児童手当の却下のお知らせ"


async def test_open_claims_are_taken_up_again_on_start() -> None:
    node = Node()
    node.tax = "down"
    c, store = claims(node)
    c.retry = c.retry_max = 3600.0
    await c.filed("app-5", "T5", FORM, SIGNED)
    await c.close()  # the office stops with the claim open
    node.tax = "ok"
    again = Claims(c.allowance, "myna-portal", retry=0.01)
    await again.resume()
    await settled(again)
    claim = await store.get(CLAIMS, "app-5")
    assert claim is not None and claim["status"] == "認定" and claim["told"]
