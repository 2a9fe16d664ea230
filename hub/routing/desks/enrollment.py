"""Enrollment (符号取得): an office presents a number once and gets its own token for the person.

Checked here (to J-LIS under affair ``enrollment``, from a registered office, within its rate),
forwarded sealed to J-LIS, which resolves the number and checks the four facts the office
presented with it against its 本人確認情報; its answer is completed here: refused
``hub.identity_mismatch`` (filed under the person, so they see who tried) when a fact differs,
else the office's token is issued only if it may hold the person
(``registers.enrollment_refusal``), and the ``Finisher`` enters the holding in the directory.

The rate: enrollment asks J-LIS whether a number belongs to anyone, so unbounded enrollment
would make every office a number oracle; each attempt is recorded, and a token bucket per office
(``hub.buckets``) bounds how fast an office can try. Each hub worker keeps its own buckets: with
W workers an office may enroll up to W times the rate (the broker spreads its messages over
them). The keys are office codes of the registry, so the memory is bounded by the registry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace

from hub.buckets import Buckets, Rate
from hub.directory import Directory
from hub.identity import FACT_NAMES
from hub.routing.context import Context
from hub.routing.desks.desk import Desk
from hub.routing.desks.forward import Forwarder
from hub.routing.exceptions import (
    HUB_BAD_ENROLLMENT,
    HUB_ENROLLMENT_RATE_LIMITED,
    HUB_IDENTITY_MISMATCH,
    HUB_UNKNOWN_OFFICE,
)
from hub.routing.finish import refused
from hub.routing.offices import Registry
from hub.routing.registers import enrollment_refusal
from hub.routing.tokens import TokenClient
from hub.wire import (
    HUB,
    JLIS,
    Enroll,
    Enrolled,
    Failed,
    ForwardedEnroll,
    NotFound,
    Outcome,
    Refused,
    Resolved,
    TokenOk,
)

__all__ = ["ENROLLMENT", "ENROLL_RATE", "EnrollmentDesk"]

ENROLLMENT = "enrollment"
# the default allows a register's or the pension service's daily enrollments (births, move-ins,
# new insured: hundreds to a few thousand a day) with a wide margin: 1 000 at once, 86 400 a day
ENROLL_RATE = Rate(burst=1000, per_second=1.0)


class EnrollmentDesk(Desk):
    kind = "enroll"
    answers = (Resolved, NotFound, Refused, Failed)
    # the requester was told it timed out: issuing a token now would leave a directory entry
    # the office knows nothing of
    void_when_late = True

    def __init__(
        self,
        *,
        registry: Registry,
        tokens: TokenClient,
        directory: Directory,
        forwarder: Forwarder,
        rate: Rate,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._registry = registry
        self._tokens = tokens
        self._directory = directory
        self._out = forwarder
        self._buckets = Buckets(rate)  # per office, per worker
        self._clock = clock

    def items(self, msg: Enroll) -> tuple[str, ...]:
        return ("individual_number",)

    async def handle(
        self, msg: Enroll, ctx: Context, head: object = None
    ) -> tuple[Context, Outcome | None]:
        refusal = self._check(ctx) or self._check_rate(ctx)
        if refusal is not None:
            return ctx, refusal
        fwd = ForwardedEnroll(
            envelope=self._out.envelope(ctx, JLIS),
            requester=ctx.requester,
            number=msg.number,
            context=self._out.seal(ctx),
        )
        return ctx, await self._out.forward(ctx, fwd)

    def _check(self, ctx: Context) -> Outcome | None:
        if ctx.provider != JLIS or ctx.affair != ENROLLMENT:
            return refused(
                HUB_BAD_ENROLLMENT, "enrollment goes to 'jlis' under affair 'enrollment'"
            )
        if ctx.requester not in self._registry:
            return refused(HUB_UNKNOWN_OFFICE, f"{ctx.requester!r} is not an office of the network")
        return None

    def _check_rate(self, ctx: Context) -> Outcome | None:
        if self._buckets.take(ctx.requester, ctx.asked_at.timestamp()):
            return None
        rate = self._buckets.rate
        return refused(
            HUB_ENROLLMENT_RATE_LIMITED,
            f"{ctx.requester} enrolls more than {rate.burst} at once or {rate.per_second:g}"
            " a second: try again later",
        )

    async def complete(self, ctx: Context, outcome: Outcome) -> tuple[Context, Outcome]:
        """The office's token — if it may hold the person (``registers``): the refusal is
        recorded under the person, so they see who tried."""
        if not isinstance(outcome, Resolved):
            return ctx, outcome
        result = await self._tokens.issue(outcome.rrc, (ctx.requester, HUB))
        if not isinstance(result, TokenOk):
            return ctx, result
        ctx = replace(ctx, person=result.tokens[1])
        if outcome.mismatched:  # 番号法 第16条: the number is not this office's person's
            facts = ", ".join(f"{FACT_NAMES[f]} ({f})" for f in outcome.mismatched)
            return ctx, refused(
                HUB_IDENTITY_MISMATCH,
                f"the facts {ctx.requester} holds do not match J-LIS's 本人確認情報 for this"
                f" number: {facts} differ (番号法 第16条: confirm the person's identity)",
            )
        holders = await self._directory.holders(ctx.person)
        refusal = enrollment_refusal(
            self._registry, ctx.requester, holders, outcome.municipality, self._clock()
        )
        return ctx, refusal or Enrolled(token=result.tokens[0])
