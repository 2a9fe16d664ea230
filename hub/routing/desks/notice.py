"""お知らせ: an office's notice to a resident, delivered to the portal under the portal's token."""

from __future__ import annotations

from hub.bus import Unroutable
from hub.routing.context import Context
from hub.routing.desks.desk import Desk
from hub.routing.desks.forward import Forwarder
from hub.routing.exceptions import HUB_NOT_A_PORTAL, HUB_PROVIDER_UNREACHABLE
from hub.routing.finish import hub_error, refused
from hub.routing.offices import Registry
from hub.routing.portal import is_portal
from hub.routing.tokens import TokenClient
from hub.wire import Delivered, ForwardedNotice, Notice, Outcome, TokenOk

__all__ = ["NoticeDesk"]


class NoticeDesk(Desk):
    kind = "notice"

    def __init__(self, *, registry: Registry, tokens: TokenClient, forwarder: Forwarder) -> None:
        self._registry = registry
        self._tokens = tokens
        self._out = forwarder

    async def handle(self, msg: Notice, ctx: Context) -> tuple[Context, Outcome]:
        if not is_portal(self._registry, ctx.provider):
            return ctx, refused(HUB_NOT_A_PORTAL, f"notices go to the portal, not {ctx.provider!r}")
        result = await self._tokens.translate(msg.person, ctx.requester, (ctx.provider,))
        if not isinstance(result, TokenOk):
            return ctx, result
        fwd = ForwardedNotice(
            envelope=self._out.envelope(ctx, ctx.provider),
            origin=ctx.requester,
            person=result.tokens[0],
            body=msg.body,
        )
        try:
            await self._out.publish(ctx.provider, fwd)
        except Unroutable:
            return ctx, hub_error(HUB_PROVIDER_UNREACHABLE, f"no queue for {ctx.provider!r}")
        return ctx, Delivered()
