"""Enrollment (符号取得): an office presents a number once and gets its own token for the person.

Checked here (to J-LIS under affair ``enrollment``, from a registered office, within its quota),
forwarded sealed to J-LIS, which resolves the number and checks the four facts the office
presented with it against its 本人確認情報; its answer is completed here: refused
``hub.identity_mismatch`` (filed under the person, so they see who tried) when a fact differs,
else the office's token is issued only if it may hold the person
(``registers.enrollment_refusal``), and the ``Finisher`` enters the holding in the directory.

The quota: enrollment asks J-LIS whether a number belongs to anyone, so unbounded enrollment
would make every office a number oracle; each attempt is recorded, and the office's enrollment
bucket (``quotas``: ``[enrollment]`` or ``[offices.CODE.affairs.enrollment]`` in
``quotas.toml``, never the office's query bucket) bounds how fast it can try. The buckets are
the queries' shared ones (``QuotaGate``, in PostgreSQL across hub processes), so W hub workers
do not multiply the limit. An enrollment over it is refused ``routing.quota_exceeded`` with a
retry-after, recorded like a query over quota (without a person).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace

from hub.directory import Directory
from hub.identity import FACT_NAMES
from hub.routing.context import Context
from hub.routing.desks.desk import Desk
from hub.routing.desks.forward import Forwarder
from hub.routing.exceptions import (
    HUB_BAD_ENROLLMENT,
    HUB_IDENTITY_MISMATCH,
    HUB_UNKNOWN_OFFICE,
)
from hub.routing.finish import refused
from hub.routing.offices import Registry
from hub.routing.quotas import ENROLLMENT, QuotaGate
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

__all__ = ["ENROLLMENT", "EnrollmentDesk"]


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
        clock: Callable[[], dt.datetime],
        quotas: QuotaGate | None = None,
    ) -> None:
        self._registry = registry
        self._tokens = tokens
        self._directory = directory
        self._out = forwarder
        self._quotas = quotas  # None: no quota (unit tests of other steps)
        self._clock = clock

    def items(self, msg: Enroll) -> tuple[str, ...]:
        return ("individual_number",)

    async def handle(
        self, msg: Enroll, ctx: Context, head: object = None
    ) -> tuple[Context, Outcome | None]:
        refusal = self._check(ctx)
        if refusal is None and self._quotas is not None:
            refusal = await self._quotas.check(ctx.requester, ENROLLMENT)
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
