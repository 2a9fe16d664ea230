"""お知らせ: an office's notice to a resident, delivered to the portal under the portal's token;
taken only from an office that holds the person now (the directory)."""

from __future__ import annotations

from hub.bus import Unroutable
from hub.directory import Directory
from hub.routing.context import Context
from hub.routing.desks.desk import Desk
from hub.routing.desks.forward import Forwarder
from hub.routing.exceptions import HUB_NOT_A_HOLDER, HUB_NOT_A_PORTAL, HUB_PROVIDER_UNREACHABLE
from hub.routing.finish import hub_error, refused
from hub.routing.offices import Registry
from hub.routing.portal import is_portal
from hub.routing.tokens import TokenClient
from hub.wire import HUB, Delivered, ForwardedNotice, Notice, Outcome, TokenOk

__all__ = ["NoticeDesk"]


class NoticeDesk(Desk):
    kind = "notice"

    def __init__(
        self,
        *,
        registry: Registry,
        tokens: TokenClient,
        directory: Directory,
        forwarder: Forwarder,
    ) -> None:
        self._registry = registry
        self._directory = directory
        self._tokens = tokens
        self._out = forwarder

    async def handle(
        self, msg: Notice, ctx: Context, head: object = None
    ) -> tuple[Context, Outcome]:
        if not is_portal(self._registry, ctx.provider):
            return ctx, refused(HUB_NOT_A_PORTAL, f"notices go to the portal, not {ctx.provider!r}")
        result = await self._tokens.translate(msg.person, ctx.requester, (HUB, ctx.provider))
        if not isinstance(result, TokenOk):
            return ctx, result
        hub_token, portal_token = result.tokens
        if not await self._directory.held_by(ctx.requester, [hub_token]):
            return ctx, refused(
                HUB_NOT_A_HOLDER, f"{ctx.requester} does not hold this person: it may not notify"
            )
        fwd = ForwardedNotice(
            envelope=self._out.envelope(ctx, ctx.provider),
            origin=ctx.requester,
            person=portal_token,
            body=msg.body,
        )
        try:
            await self._out.publish(ctx.provider, fwd)
        except Unroutable:
            return ctx, hub_error(HUB_PROVIDER_UNREACHABLE, f"no queue for {ctx.provider!r}")
        return ctx, Delivered()
