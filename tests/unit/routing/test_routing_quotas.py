"""Quotas: the file (every bad field named), which bucket a query or an enrollment takes from,
and the gate (burst, refill, retry-after, per-affair buckets, a dishonest office's dodges) on a
fake clock."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from hub.buckets import Rate
from hub.records import MemoryQuotaStore
from hub.routing import legal, offices
from hub.routing.exceptions import ROUTING_QUOTA_EXCEEDED, MalformedQuotas
from hub.routing.quotas import (
    Limit,
    QuotaGate,
    Quotas,
    decide,
    load_default_quotas,
    parse_quotas,
    retry_after,
)
from hub.wire import MAX_RETRY_AFTER

T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
GOOD = """
version = "t1"
[default]
per_second = 2
burst = 4
[offices.chiyoda-child]
per_second = 1
burst = 3
[offices.chiyoda-child.affairs.child_allowance]
per_second = 0.5
burst = 2
[offices.myna-portal]
class = "interactive"
"""


@pytest.fixture
def quotas(registry: offices.Registry, table: legal.LegalTable) -> Quotas:
    return parse_quotas(GOOD, registry, table)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


# ---- the file ------------------------------------------------------------------------------------


def test_limits_and_classes(quotas: Quotas) -> None:
    assert quotas.limit("chiyoda-child", "child_allowance") == Limit(
        "chiyoda-child/child_allowance", Rate(2, 0.5)
    )
    # its other affairs share the office's own bucket
    assert quotas.limit("chiyoda-child", "childcare_benefit") == Limit("chiyoda-child", Rate(3, 1))
    assert quotas.limit("chiyoda-tax", "local_tax_assessment") == Limit("chiyoda-tax", Rate(4, 2))
    # an entry with only a class takes the default's rate
    assert quotas.limit("myna-portal", "disclosure") == Limit("myna-portal", Rate(4, 2))
    assert quotas.class_of("myna-portal") == "interactive"
    assert quotas.class_of("chiyoda-child") == "batch"
    assert quotas.interactive(["chiyoda-child", "myna-portal"]) == ("myna-portal",)


def test_enrollment_has_a_bucket_of_its_own(
    registry: offices.Registry, table: legal.LegalTable, quotas: Quotas
) -> None:
    """Never the office's query bucket: the file's [enrollment] (or the built-in 1 000 at once,
    1 a second), or the office's own affairs.enrollment."""
    assert quotas.limit("chiyoda-child", "enrollment") == Limit(
        "chiyoda-child/enrollment", Rate(1000, 1.0)
    )
    text = GOOD + (
        "[enrollment]\nper_second = 0.5\nburst = 7\n"
        "[offices.nenkin.affairs.enrollment]\nper_second = 3\nburst = 30\n"
    )
    custom = parse_quotas(text, registry, table)
    assert custom.limit("chiyoda-tax", "enrollment") == Limit(
        "chiyoda-tax/enrollment", Rate(7, 0.5)
    )
    assert custom.limit("nenkin", "enrollment") == Limit("nenkin/enrollment", Rate(30, 3.0))
    assert custom.limit("nenkin", "national_pension") == Limit("nenkin", Rate(4, 2.0))
    # the demo's bulk load widens the default burst, the rate and the offices' own stay
    bulk = custom.enrolling(5000)
    assert bulk.limit("chiyoda-tax", "enrollment").rate == Rate(5000, 0.5)
    assert bulk.limit("nenkin", "enrollment").rate == Rate(30, 3.0)
    assert custom.enrolling(3).limit("chiyoda-tax", "enrollment").rate == Rate(7, 0.5)


def test_the_packaged_template_loads(registry: offices.Registry, table: legal.LegalTable) -> None:
    packaged = load_default_quotas(registry, table)
    assert packaged.class_of("myna-portal") == "interactive"
    assert packaged.class_of("chiyoda-child") == "batch"
    assert packaged.limit("nenkin", "enrollment").rate == Rate(1000, 1.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version = 1", "version: Input should be a valid string"),
        ('version = "x"', "default: Field required"),
        ('version = "x"\n[default]\nper_second = 0\nburst = 1', "default.per_second: Input should"),
        ('version = "x"\n[default]\nper_second = 1\nburst = 0', "default.burst: Input should be"),
        ('version = "x"\n[default]\nper_second = 1\nburst = 1.5', "default.burst: Input should"),
        (
            'version = "x"\n[default]\nper_second = 1\nburst = 1\nclass = "urgent"',
            "default.class: Input should be 'interactive' or 'batch'",
        ),
        (
            'version = "x"\n[default]\nper_second = 1\nburst = 1\nrate = 3',
            "default.rate: Extra inputs are not permitted",
        ),
        (
            'version = "x"\n[default]\nper_second = 1\nburst = 1\n[offices.nobody]\nburst = 2',
            "offices.nobody: not an office of the registry",
        ),
        (
            'version = "x"\n[default]\nper_second = 1\nburst = 1\n'
            "[offices.chiyoda-child.affairs.long_term_care]\nper_second = 1\nburst = 1",
            "offices.chiyoda-child.affairs.long_term_care: chiyoda-child does not perform it",
        ),
        (
            'version = "x"\n[default]\nper_second = 1\nburst = 1\n'
            "[offices.chiyoda-child.affairs.no_such_affair]\nper_second = 1\nburst = 1",
            "affairs.no_such_affair: not an affair of the legal table",
        ),
        (
            'version = "x"\n[default]\nper_second = 1\nburst = 1\n'
            "[offices.chiyoda-child.affairs.child_allowance]\nper_second = 1",
            "offices.chiyoda-child.affairs.child_allowance.burst: Field required",
        ),
        (
            'version = "x"\n[default]\nper_second = 1\nburst = 1\n'
            "[enrollment]\nper_second = 1\nburst = 0",
            "enrollment.burst: Input should be greater than or equal to 1",
        ),
        (
            'version = "x"\n[default]\nper_second = 1\nburst = 1\n'
            '[enrollment]\nper_second = 1\nburst = 1\nclass = "interactive"',
            "enrollment.class: Extra inputs are not permitted",
        ),
        ("version = ", "not valid TOML"),
        ('version = "x"\n[default]\nper_second = 1e9\nburst = 1', "default.per_second: Input"),
    ],
)
def test_a_bad_field_is_named(
    registry: offices.Registry, table: legal.LegalTable, text: str, expected: str
) -> None:
    with pytest.raises(MalformedQuotas) as caught:
        parse_quotas(text, registry, table, "q.toml")
    assert caught.value.code == "routing.malformed_quotas"
    assert "quotas file q.toml is malformed" in str(caught.value)
    assert any(expected in p for p in caught.value.problems), caught.value.problems


def test_every_bad_field_is_listed(registry: offices.Registry, table: legal.LegalTable) -> None:
    text = 'version = "x"\n[default]\nper_second = -1\nburst = 0\n[offices.x-y]\nburst = 1'
    with pytest.raises(MalformedQuotas) as caught:
        parse_quotas(text, registry, table)
    assert len(caught.value.problems) == 2  # the pydantic pass stops before the registry's


def test_an_oversized_file_value_is_refused(
    registry: offices.Registry, table: legal.LegalTable
) -> None:
    huge = 'version = "x"\n[default]\nper_second = 1\nburst = 99999999999999999999'
    with pytest.raises(MalformedQuotas):
        parse_quotas(huge, registry, table)


# ---- the pure decisions -----------------------------------------------------------------------


def test_retry_after_is_when_a_token_is_back() -> None:
    assert retry_after(0.0, Rate(1, 2.0)) == 0.5
    assert retry_after(0.75, Rate(1, 1.0)) == 0.25
    assert retry_after(0.0, Rate(1, 1e-9)) == MAX_RETRY_AFTER  # capped


def test_decide_serves_the_first_n_of_each_bucket() -> None:
    a, b = Limit("a", Rate(5, 1.0)), Limit("b", Rate(5, 4.0))
    out = decide([a, b, a, a, b], {"a": (2, 0.0), "b": (1, 0.5)})
    assert out == [None, None, None, 1.0, 0.125]


# ---- the gate ---------------------------------------------------------------------------------


async def test_burst_then_refused_with_retry_after_then_refilled(quotas: Quotas) -> None:
    clock = Clock()
    gate = QuotaGate(quotas, MemoryQuotaStore(), clock=clock)
    assert [await gate.check("chiyoda-tax", "local_tax_assessment") for _ in range(4)] == [None] * 4
    refusal = await gate.check("chiyoda-tax", "local_tax_assessment")
    assert refusal is not None and refusal.code == ROUTING_QUOTA_EXCEEDED
    assert refusal.retry_after == 0.5  # 2 a second
    assert "chiyoda-tax asks more than 2 a second" in refusal.reason
    clock.advance(0.5)
    assert await gate.check("chiyoda-tax", "local_tax_assessment") is None
    assert await gate.check("chiyoda-tax", "local_tax_assessment") is not None


async def test_concurrent_queries_share_one_batch(quotas: Quotas) -> None:
    gate = QuotaGate(quotas, MemoryQuotaStore(), clock=Clock())
    out = await asyncio.gather(*(gate.check("chiyoda-tax", "x") for _ in range(10)))
    assert sum(o is None for o in out) == 4
    assert all(o.retry_after == 0.5 for o in out if o is not None)


async def test_a_dishonest_office_cannot_dodge_by_affair(quotas: Quotas) -> None:
    """chiyoda-child's flood of child_allowance is capped by that affair's bucket; moving it to
    its other affair lands in the office's bucket, which holds; a made-up affair too (the law
    refuses it after); the buckets of other offices are untouched."""
    gate = QuotaGate(quotas, MemoryQuotaStore(), clock=Clock())

    async def passed(affair: str, n: int) -> int:
        return sum([await gate.check("chiyoda-child", affair) is None for _ in range(n)])

    assert await passed("child_allowance", 20) == 2
    assert await passed("childcare_benefit", 20) == 3
    assert await passed("made_up_affair", 20) == 0  # the office's bucket is empty already
    assert await gate.check("chiyoda-tax", "local_tax_assessment") is None


async def test_enrollments_and_queries_do_not_share_a_bucket(
    registry: offices.Registry, table: legal.LegalTable
) -> None:
    """An office that spent its enrollments still asks; one that spent its queries still
    enrolls; the refusal names the enrollment bucket's rate and when to try again."""
    text = GOOD + "[enrollment]\nper_second = 0.25\nburst = 2\n"
    gate = QuotaGate(parse_quotas(text, registry, table), MemoryQuotaStore(), clock=Clock())
    enrolled = [await gate.check("chiyoda-tax", "enrollment") for _ in range(3)]
    assert enrolled[:2] == [None, None]
    refusal = enrolled[2]
    assert refusal is not None and refusal.code == ROUTING_QUOTA_EXCEEDED
    assert refusal.retry_after == 4.0
    assert "for enrollment" in refusal.reason
    assert [await gate.check("chiyoda-tax", "local_tax_assessment") for _ in range(4)] == [None] * 4
    assert await gate.check("chiyoda-tax", "local_tax_assessment") is not None
    assert await gate.check("chiyoda-child", "enrollment") is None  # each office its own


async def test_a_clock_set_back_refills_nothing(quotas: Quotas) -> None:
    clock = Clock()
    gate = QuotaGate(quotas, MemoryQuotaStore(), clock=clock)
    for _ in range(4):
        await gate.check("chiyoda-tax", "a")
    clock.advance(-60)
    assert await gate.check("chiyoda-tax", "a") is not None
