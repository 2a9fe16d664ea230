"""児童手当 decisions (the pure ``decide``), with every figure worked out from the docstring.

Status date 2024-06-01: the school year began 2024-04-01. Children count up to the end of
junior high school (under 15 on that 1 April); 15,000 yen a month under 3, else 10,000, and
15,000 for a third or later child still in primary school (under 12 on that 1 April). The
income limit is 622万 + 38万 per child counted, the upper limit 858万 + 38万 per child.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from agencies.municipality.child_allowance import ChildAllowance, Decision, decide
from agencies.municipality.in_house import ATENA, Ambiguous, InHouse
from hub.node import Answer, MemoryStore

ON = dt.date(2024, 6, 1)
LOW_INCOME = 4_000_000


def household(*children: str, extra: tuple[tuple[str, str], ...] = ()) -> list[dict[str, str]]:
    members = [
        {"relationship": "世帯主", "birth_date": "1984-03-03"},
        {"relationship": "妻", "birth_date": "1986-07-07"},
    ]
    members += [{"relationship": "子", "birth_date": b} for b in children]
    members += [{"relationship": r, "birth_date": b} for r, b in extra]
    return members


def test_a_household_without_children_gets_nothing() -> None:
    assert decide(household(), LOW_INCOME, ON) == (
        "no_child",
        0,
        0,
        "no child of junior-high age or younger in the household",
    )


def test_only_members_related_as_children_count() -> None:
    young_parent = (("母", "2014-01-01"),)  # a young member who is not 子
    status, monthly, n, _ = decide(household(extra=young_parent), LOW_INCOME, ON)
    assert (status, monthly, n) == ("no_child", 0, 0)


@pytest.mark.parametrize(
    ("birth", "counted"),
    [
        ("2009-04-02", True),  # 14 on 2024-04-01: third year of junior high
        ("2009-03-31", False),  # 15 on 2024-04-01: left junior high in March
        ("2008-05-01", False),  # high school
        ("2006-01-01", False),  # 18
        ("2011-07-10", True),  # first year of junior high
    ],
)
def test_children_count_until_the_end_of_junior_high(birth: str, counted: bool) -> None:
    status, monthly, n, _ = decide(household(birth), LOW_INCOME, ON)
    if counted:
        assert (status, monthly, n) == ("eligible", 10_000, 1)
    else:
        assert (status, monthly, n) == ("no_child", 0, 0)


@pytest.mark.parametrize(
    ("birth", "monthly"),
    [
        ("2024-05-01", 15_000),  # a month old
        ("2022-06-02", 15_000),  # 1
        ("2021-06-02", 15_000),  # 2, turning 3 tomorrow
        ("2021-06-01", 10_000),  # 3 today
        ("2019-01-01", 10_000),  # 5
    ],
)
def test_a_child_under_3_gets_15000(birth: str, monthly: int) -> None:
    status, got, n, _ = decide(household(birth), LOW_INCOME, ON)
    assert (status, got, n) == ("eligible", monthly, 1)


def test_an_older_sibling_beyond_junior_high_does_not_count_or_make_a_third_child() -> None:
    # 2008 (high school) is not counted: the 2018 child is the second, not the third
    status, monthly, n, _ = decide(
        household("2007-05-01", "2012-05-01", "2017-05-01"), LOW_INCOME, ON
    )
    assert (status, monthly, n) == ("eligible", 10_000 + 10_000, 2)


def test_a_third_child_in_primary_school_gets_15000() -> None:
    # 12, 10 and 7 years old; the youngest (third, primary school) gets 15,000
    status, monthly, n, reason = decide(
        household("2017-05-01", "2012-05-01", "2014-05-01"), LOW_INCOME, ON
    )
    assert (status, monthly, n) == ("eligible", 10_000 + 10_000 + 15_000, 3)
    assert reason == "3 child(ren), income 4,000,000 yen within the limit 7,360,000"


def test_a_fourth_child_under_3_and_a_third_in_primary_school() -> None:
    monthly = decide(household("2011-05-01", "2013-05-01", "2015-05-01", "2022-05-01"), 0, ON)[1]
    assert monthly == 10_000 + 10_000 + 15_000 + 15_000


def test_a_third_child_in_junior_high_gets_10000() -> None:
    # 15, 14, 13 on 2024-06-01; the school-year ages on 1 April are 14, 13 and 12: all junior high
    status, monthly, n, _ = decide(
        household("2009-05-01", "2010-05-01", "2011-05-01"), LOW_INCOME, ON
    )
    assert (status, monthly, n) == ("eligible", 30_000, 3)


@pytest.mark.parametrize(
    ("income", "status", "monthly", "reason"),
    [
        (6_980_000, "eligible", 25_000, "2 child(ren), income 6,980,000 yen within the limit "
         "6,980,000"),
        (6_980_001, "special", 10_000, "income 6,980,001 yen is over the limit 6,980,000"),
        (9_340_000, "special", 10_000, "income 9,340,000 yen is over the limit 6,980,000"),
        (9_340_001, "ineligible", 0, "income 9,340,001 yen is over the upper limit 9,340,000"),
    ],
    ids=["at-the-limit", "just-over", "at-the-upper-limit", "over-the-upper-limit"],
)  # fmt: skip
def test_income_limits_for_two_children(
    income: int, status: str, monthly: int, reason: str
) -> None:
    # two children (one under 3): limit 622万 + 2 × 38万 = 698万, upper 858万 + 2 × 38万 = 934万
    assert decide(household("2014-05-01", "2023-05-01"), income, ON) == (
        status,
        monthly,
        2,
        reason,
    )


@pytest.mark.parametrize(
    ("children", "limit", "upper"),
    [(1, 6_600_000, 8_960_000), (3, 7_360_000, 9_720_000), (4, 7_740_000, 10_100_000)],
)
def test_the_limits_rise_by_380000_per_child(children: int, limit: int, upper: int) -> None:
    kids = [f"{2011 + i}-05-01" for i in range(children)]
    assert decide(household(*kids), limit, ON)[0] == "eligible"
    assert decide(household(*kids), limit + 1, ON)[:2] == ("special", 5_000 * children)
    assert decide(household(*kids), upper + 1, ON)[:2] == ("ineligible", 0)


def test_the_school_year_turns_on_1_april() -> None:
    # born 2008-05-01: 14 on 2023-04-01 (counted all the 2023 school year), 15 on 2024-04-01
    kid = household("2008-05-01")
    assert decide(kid, LOW_INCOME, dt.date(2023, 3, 31))[0] == "eligible"
    assert decide(kid, LOW_INCOME, dt.date(2023, 4, 1))[0] == "eligible"
    assert decide(kid, LOW_INCOME, dt.date(2024, 3, 31))[0] == "eligible"
    assert decide(kid, LOW_INCOME, dt.date(2024, 4, 1))[0] == "no_child"
    # the reform pays to high-school age: the same child again from 2024-10-01
    assert decide(kid, LOW_INCOME, dt.date(2024, 9, 30))[0] == "no_child"
    assert decide(kid, LOW_INCOME, dt.date(2024, 10, 1))[:2] == ("eligible", 10_000)


@pytest.mark.parametrize(
    ("children", "expected"),
    [
        # born 2009-04-01: entered primary school April 2015, left junior high March 2024
        (("2009-04-01",), ("no_child", 0, 0)),
        # third child born 2012-04-01: left primary school March 2024, so 10,000, not 15,000
        (("2010-05-01", "2011-05-01", "2012-04-01"), ("eligible", 30_000, 3)),
    ],
    ids=["junior-high-leaver", "primary-leaver"],
)
def test_a_child_born_on_1_april_belongs_to_the_earlier_school_year(
    children: tuple[str, ...], expected: tuple[str, int, int]
) -> None:
    assert decide(household(*children), LOW_INCOME, ON)[:3] == expected


class _Node:
    """The office's node, faked: only the hub is asked over the network (its own ward's register
    and tax office are read in-house); it finds the municipality of 1 January."""

    code = "chiyoda-child"

    def __init__(self, elsewhere: str = "ok") -> None:
        self.asked: list[tuple[str, dict[str, int]]] = []
        self.elsewhere = elsewhere

    async def ask(
        self, affair: str, provider: str, items: tuple[str, ...], token: str,
        params: dict[str, int] | None = None,
    ) -> Answer:  # fmt: skip
        self.asked.append((provider, dict(params or {})))
        qid = uuid.uuid4()
        if self.elsewhere == "ok":
            return Answer(qid, "ok", {"local_tax": {"total_income": 3_000_000}})
        return Answer(qid, self.elsewhere, reason="nobody held them on 1 January")


KID = {"name": "子 一郎", "relationship": "子", "birth_date": "2020-05-05", "sex": "1"}
HEAD = {"name": "親 花子", "relationship": "世帯主", "birth_date": "1990-01-01", "sex": "2"}


async def _ward(*, taxed_here: bool = False) -> InHouse:
    """The ward's register (a head and a child) and tax office (the head's 2024 figures when
    ``taxed_here``), as its in-house link reads them."""
    register, tax = MemoryStore(), MemoryStore()
    home = {"address": "東京都千代田区", "household": "H1"}
    await register.put_many(
        "residents", [("R1", None, {**HEAD, **home}), ("R2", None, {**KID, **home})]
    )
    await register.put_many("households", [("H1", None, {"head": "R1", "members": ["R1", "R2"]})])
    if taxed_here:
        year = {"total_income": 7_000_000, "municipal_income_levy": 1}
        await tax.put_many(
            "taxpayers", [("T1", None, {"name": "x", "years": {"2024": year}, ATENA: "R1"})]
        )
    return InHouse("131016", register, tax)


async def _checked(node: _Node, *, taxed_here: bool = False, atena: str | None = "R1") -> Decision:
    store = MemoryStore()
    applicant = {"name": "x"} if atena is None else {"name": "x", ATENA: atena}
    await store.put_many("applicants", [("C1", "T" * 43, applicant)])
    link = await _ward(taxed_here=taxed_here)
    office = ChildAllowance(node, store, in_house=link)  # type: ignore[arg-type]
    return await office.check("C1", dt.date(2024, 6, 1))


async def test_the_wards_own_register_and_tax_office_are_read_in_house() -> None:
    node = _Node()
    decision = await _checked(node, taxed_here=True)
    # 7,000,000 yen: over the limit 6,600,000 for one child, so the ward's figures were used
    assert (decision.status, decision.monthly_yen) == ("special", 5_000)
    assert node.asked == []  # 庁内連携: no network query
    assert decision.answers == ()


async def test_income_comes_from_the_municipality_of_1_january() -> None:
    node = _Node()
    decision = await _checked(node)
    assert decision.status == "eligible" and decision.monthly_yen == 10_000
    # not taxed by the ward for the year (in-house): the hub for the office of 1 January
    assert [p for p, _ in node.asked] == ["hub"]
    assert node.asked[-1][1] == {"fiscal_year": 2024}
    assert len(decision.answers) == 1


async def test_nobody_holding_them_on_1_january_leaves_the_claim_undecided() -> None:
    decision = await _checked(_Node(elsewhere="not_found"))
    assert decision.status == "unknown" and "not_found" in decision.reason


async def test_an_applicant_not_on_the_wards_register_is_not_decided() -> None:
    decision = await _checked(_Node(), atena=None)
    assert decision.status == "unknown" and "not_found" in decision.reason
    decision = await _checked(_Node(), atena="R999")  # a key the register does not keep
    assert decision.status == "unknown" and "not_found" in decision.reason


async def test_the_in_house_link_finds_a_signer_only_when_exactly_one_resident_is_theirs() -> None:
    link = await _ward()
    assert await link.atena_of("親 花子", "1990-01-01") == "R1"
    assert await link.atena_of("親 花子", "1990-01-02") is None
    assert await link.atena_of("他人", "1990-01-01") is None
    await link.register.put_many("residents", [("R3", None, {**HEAD, "household": "H2"})])
    with pytest.raises(Ambiguous):  # two of them: not guessed
        await link.atena_of("親 花子", "1990-01-01")


async def test_two_tax_records_naming_one_resident_are_no_figures() -> None:
    link = await _ward(taxed_here=True)
    year = {"total_income": 1, "municipal_income_levy": 0}
    await link.tax.put_many(
        "taxpayers", [("T2", None, {"name": "y", "years": {"2024": year}, ATENA: "R1"})]
    )
    assert await link.local_tax("R1", 2024, by="chiyoda-child") is None
    assert await link.local_tax("R2", 2024, by="chiyoda-child") is None  # not a taxpayer
