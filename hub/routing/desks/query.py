"""Queries (情報照会): the quota, the tokens, then the law, then the provider; the first
refusal ends it.

Each query takes a token of its requester's quota first (``quotas``; off when the hub has no
gate): a query over quota is refused ``routing.quota_exceeded`` with a retry-after, and
recorded without a person (no token was translated for it). Then the token, so that even a
refused query is recorded under the person and shows in their やりとり履歴 (a forged token
leaves the record without a person). A query addressed to the hub itself asks the hub to find
the provider (``resolve``). The portal's queries go to the portal's desk (the portal rules
instead of the legal table).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, replace

from hub.directory import Directory
from hub.routing.context import Context
from hub.routing.desks.desk import Desk
from hub.routing.desks.forward import Forwarder, forwarded_query
from hub.routing.desks.portal import PortalDesk
from hub.routing.exceptions import HUB_UNEXPECTED_DOCUMENT
from hub.routing.finish import refused, refused_by_law
from hub.routing.legal import Decision, LegalTable
from hub.routing.offices import Registry, authorize
from hub.routing.portal import is_portal
from hub.routing.quotas import QuotaGate
from hub.routing.resolve import reference_date, resolve_provider
from hub.routing.tokens import TokenClient
from hub.tracing import current_span
from hub.wire import HUB, Failed, Outcome, Query, Refused, TokenOk

__all__ = ["HeadStart", "QueryDesk"]


@dataclass(frozen=True, slots=True)
class HeadStart:
    """What a query's desk did while the router claimed its id: the quota taken and, on the
    common path (an office asking a named provider), the person's tokens translated."""

    over_quota: Outcome | None = None
    tokens: TokenOk | Refused | Failed | None = None


class QueryDesk(Desk):
    kind = "query"
    claims = True  # a query id is acted on once (``freshness``)

    def __init__(
        self,
        *,
        table: LegalTable,
        registry: Registry,
        tokens: TokenClient,
        directory: Directory,
        forwarder: Forwarder,
        portal: PortalDesk,
        quotas: QuotaGate | None = None,
    ) -> None:
        self._table = table
        self._registry = registry
        self._tokens = tokens
        self._directory = directory
        self._out = forwarder
        self._portal = portal
        self._quotas = quotas

    def items(self, msg: Query) -> tuple[str, ...]:
        return msg.items

    async def ahead(self, msg: Query, ctx: Context, *, claimed: bool = False) -> HeadStart:
        """The quota and the translation at once: neither is seen by another office, so both
        go while the router claims the query id (one round trip's wait instead of three). A
        query over quota is refused whatever its translation gave (and recorded without a
        person); a replay the claim stops has taken a token of its sender's own quota. A
        redelivery whose claim an earlier run of it made (``claimed``) takes none: that run
        went for its token with the claim (only a take that itself failed lets it go free
        once). A redelivery no run claimed — its worker died or was held before — takes one."""
        gate = None if claimed else self._quotas
        quota = gate.check(ctx.requester, ctx.affair) if gate else _nothing()
        if not self._named(msg, ctx):
            return HeadStart(over_quota=await quota)
        over, tokens = await asyncio.gather(quota, self._translate(msg, ctx))
        return HeadStart(over_quota=over, tokens=tokens)

    async def handle(
        self, msg: Query, ctx: Context, head: object = None
    ) -> tuple[Context, Outcome | None]:
        if not isinstance(head, HeadStart):
            head = await self.ahead(msg, ctx)
        if head.over_quota is not None:
            return ctx, head.over_quota
        return await self._within_quota(msg, ctx, head)

    async def _within_quota(
        self, msg: Query, ctx: Context, head: HeadStart
    ) -> tuple[Context, Outcome | None]:
        if is_portal(self._registry, ctx.requester):
            return await self._portal.handle(msg, ctx)
        if msg.document is not None:
            return ctx, refused(HUB_UNEXPECTED_DOCUMENT, "only the portal files applications")
        if ctx.provider == HUB:
            ctx, refusal = await self._resolve(msg, ctx)
            if refusal is not None:
                return ctx, refusal
        result = head.tokens if head.tokens is not None else await self._translate(msg, ctx)
        if not isinstance(result, TokenOk):
            return ctx, result
        provider_token, hub_token = result.tokens
        ctx = replace(ctx, person=hub_token)
        asked = (ctx.requester, ctx.affair, ctx.provider, ctx.items)
        decision = authorize(self._table, self._registry, *asked, ctx.asked_at.date())
        if decision.allowed and msg.not_disclosed:
            ctx, decision = self._withhold(ctx, decision)
        if not decision.allowed:
            return ctx, refused_by_law(decision)
        current_span().add_event("authorized")
        fwd = forwarded_query(self._out, msg, ctx, provider_token)
        return ctx, await self._out.forward(ctx, fwd)

    def _named(self, msg: Query, ctx: Context) -> bool:
        """An office's query to a named provider: the path whose tokens are known at once."""
        portal = is_portal(self._registry, ctx.requester)
        return not portal and msg.document is None and ctx.provider != HUB

    def _translate(self, msg: Query, ctx: Context) -> Awaitable[TokenOk | Refused | Failed]:
        return self._tokens.translate(msg.person, ctx.requester, (ctx.provider, HUB))

    def _withhold(self, ctx: Context, decision: Decision) -> tuple[Context, Decision]:
        """不開示 only where a row of the law allows it, until the end of its period; the
        basis and the end go with the record into the signed flag log."""
        rule = self._table.withholding(decision)
        if isinstance(rule, Decision):
            return ctx, rule
        until = rule.until(ctx.asked_at)
        reason = f"withheld at {ctx.requester}'s request until {until:%Y-%m-%d}: {rule.basis}"
        return replace(
            ctx, not_disclosed=True, withheld_until=until, withheld_reason=reason
        ), decision

    async def _resolve(self, msg: Query, ctx: Context) -> tuple[Context, Outcome | None]:
        """Which office may answer and held this person's record on the reference date."""
        result = await self._tokens.translate(msg.person, ctx.requester, (HUB,))
        if not isinstance(result, TokenOk):
            return ctx, result
        ctx = replace(ctx, person=result.tokens[0])
        on = reference_date(ctx.items, msg.params, ctx.asked_at.date())
        holders = await self._directory.holders(ctx.person)
        asked = (ctx.requester, ctx.affair, ctx.items)
        table, registry = self._table, self._registry
        found = resolve_provider(table, registry, *asked, holders, on, ctx.asked_at.date())
        if isinstance(found, str):
            return replace(ctx, provider=found), None
        return ctx, found


async def _nothing() -> None:
    return None
