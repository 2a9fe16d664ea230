"""Identify: the portal (or the certificate issuance centre) asks J-LIS's certification
service who holds a certificate (a login, or who signed an application); only the asker's own
token for them comes back."""

from __future__ import annotations

from dataclasses import replace

from hub.routing.context import Context
from hub.routing.desks.desk import Desk
from hub.routing.desks.forward import Forwarder
from hub.routing.exceptions import HUB_BAD_IDENTIFY, HUB_NOT_A_PORTAL
from hub.routing.finish import refused
from hub.routing.offices import Registry
from hub.routing.portal import LOGIN, may_identify
from hub.routing.tokens import TokenClient
from hub.wire import (
    HUB,
    JLIS_PKI,
    Enrolled,
    Failed,
    ForwardedIdentify,
    Identified,
    Identify,
    NotFound,
    Outcome,
    Refused,
    TokenOk,
)

__all__ = ["IdentifyDesk"]


class IdentifyDesk(Desk):
    kind = "identify"
    answers = (Identified, NotFound, Refused, Failed)
    void_when_late = True

    def __init__(self, *, registry: Registry, tokens: TokenClient, forwarder: Forwarder) -> None:
        self._registry = registry
        self._tokens = tokens
        self._out = forwarder

    def items(self, msg: Identify) -> tuple[str, ...]:
        return ("card_holder",)

    async def handle(
        self, msg: Identify, ctx: Context, head: object = None
    ) -> tuple[Context, Outcome | None]:
        if not may_identify(self._registry, ctx.requester):
            return ctx, refused(
                HUB_NOT_A_PORTAL, "only the portal and the issuance centre identify card holders"
            )
        if ctx.provider != JLIS_PKI or ctx.affair != LOGIN:
            return ctx, refused(
                HUB_BAD_IDENTIFY, f"identify goes to {JLIS_PKI!r} under affair {LOGIN!r}"
            )
        fwd = ForwardedIdentify(
            envelope=self._out.envelope(ctx, JLIS_PKI),
            requester=ctx.requester,
            certificate=msg.certificate,
            context=self._out.seal(ctx),
        )
        return ctx, await self._out.forward(ctx, fwd)

    async def complete(self, ctx: Context, outcome: Outcome) -> tuple[Context, Outcome]:
        """J-LIS's token for the holder, translated into the portal's (and the hub's)."""
        if not isinstance(outcome, Identified):
            return ctx, outcome
        result = await self._tokens.translate(outcome.token, JLIS_PKI, (ctx.requester, HUB))
        if not isinstance(result, TokenOk):
            return ctx, result
        return replace(ctx, person=result.tokens[1]), Enrolled(token=result.tokens[0])
