"""Where the portal files an application for the resident (asked first, with no document):
a national office (the tax office), or the municipal one that holds them now (their register,
for a move). Answered by the hub, sealed for the portal, so that the application can then be
sealed for that office alone and sent to it as a query with a document (``PortalDesk``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import orjson

from hub.directory import Directory
from hub.routing.context import Context
from hub.routing.exceptions import HUB_UNADDRESSED_APPLICATION
from hub.routing.finish import refused, refused_by_law
from hub.routing.legal import refuse
from hub.routing.offices import Registry
from hub.routing.tokens import TokenClient
from hub.wire import HUB, Answered, NotFound, Outcome, PublicKeys, Query, TokenOk, seal

__all__ = ["WITHHOLDS_NOTHING", "ApplicationDesk"]

WITHHOLDS_NOTHING = refused_by_law(
    refuse("not_withholdable", "the portal acts for the resident: it withholds nothing from them")
)


class ApplicationDesk:
    def __init__(
        self,
        *,
        tokens: TokenClient,
        registry: Registry,
        directory: Directory,
        keys: Mapping[str, PublicKeys],
    ) -> None:
        self._tokens = tokens
        self._registry = registry
        self._directory = directory
        self._keys = keys

    async def handle(self, msg: Query, ctx: Context) -> tuple[Context, Outcome]:
        result = await self._tokens.translate(msg.person, ctx.requester, (HUB,))
        if not isinstance(result, TokenOk):
            return ctx, result
        ctx = replace(ctx, person=result.tokens[0])
        if msg.not_disclosed:
            return ctx, WITHHOLDS_NOTHING
        if msg.document is not None or len(ctx.items) != 1:
            return ctx, refused(
                HUB_UNADDRESSED_APPLICATION,
                "ask the hub where to file one kind of application, then send it there",
            )
        holding = {e.office for e in await self._directory.holders(ctx.person) if not e.until}
        kind = ctx.items[0]
        for office in self._registry:
            if kind in office.accepts and (office.municipality is None or office.code in holding):
                answer = orjson.dumps({"office": office.code})
                return ctx, Answered(payload=seal(answer, self._keys[ctx.requester].seal))
        return ctx, NotFound(reason=f"no office that takes {kind} applications holds this person")
