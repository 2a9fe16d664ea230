"""Change events (異動): a resident register reports a change; every holder hears of it.

Only the register that keeps the person's record now may report, dated within its holding
(``registers.report_refusal``); a refusal is recorded under the person like any outcome. The
hub finds who holds a token for the person (the directory), translates the register's token
into each holder's, and forwards the event — what changed and when, never content. A move out
of a municipality ends that municipality's offices' holding in the directory (noting where the
person went); a death ends all. A move out also reaches the resident register of the
municipality moved to, under its own token (the token service needs no table to make it), so
the move-in there can complete the move. The reply says only that the event was delivered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from hub.bus import Unroutable
from hub.directory import Directory
from hub.log import get_logger
from hub.routing.context import Context
from hub.routing.desks.desk import Desk
from hub.routing.desks.forward import Forwarder
from hub.routing.exceptions import HUB_NOT_A_REGISTER
from hub.routing.finish import refused
from hub.routing.offices import Registry
from hub.routing.registers import REGISTER_ITEM, is_register, report_refusal
from hub.routing.tokens import TokenClient
from hub.wire import HUB, ChangeEvent, Delivered, ForwardedChange, Outcome, TokenOk

__all__ = ["REGISTER_ITEM", "ChangeDesk"]

_TARGETS = 32  # targets per translation item
log = get_logger("hub.changes")


class ChangeDesk(Desk):
    kind = "change"
    resent_late = True  # the holders keep an event once: a redelivered one goes again

    def __init__(
        self,
        *,
        registry: Registry,
        tokens: TokenClient,
        directory: Directory,
        forwarder: Forwarder,
    ) -> None:
        self._registry = registry
        self._tokens = tokens
        self._directory = directory
        self._out = forwarder

    def items(self, msg: ChangeEvent) -> tuple[str, ...]:
        return (msg.change,)  # recorded under the kind of change

    async def handle(
        self, msg: ChangeEvent, ctx: Context, head: object = None
    ) -> tuple[Context, Outcome]:
        """The outcome, and the context with the person (the hub's token) once it is known."""
        registry, tokens, directory = self._registry, self._tokens, self._directory
        if not is_register(registry, ctx.requester):
            return ctx, refused(HUB_NOT_A_REGISTER, f"{ctx.requester} keeps no resident register")
        own = await tokens.translate(msg.person, ctx.requester, (HUB,))
        if not isinstance(own, TokenOk):
            return ctx, own
        person = own.tokens[0]
        ctx = replace(ctx, person=person)
        held = await directory.holders(person)
        refusal = report_refusal(
            registry, ctx.requester, held, msg.change, msg.effective, at=ctx.asked_at
        )
        if refusal is not None:
            return ctx, refusal
        on = msg.effective
        holders = [
            e.office
            for e in held
            if e.office != ctx.requester and (e.until is None or e.until.date() > on)
        ]
        holders += [o for o in _destinations(registry, msg) if o not in holders]
        for start in range(0, len(holders), _TARGETS):
            chunk = tuple(holders[start : start + _TARGETS])
            result = await tokens.translate(msg.person, ctx.requester, chunk)
            if not isinstance(result, TokenOk):
                return ctx, result
            for office, token in zip(chunk, result.tokens, strict=True):
                fwd = ForwardedChange(
                    envelope=self._out.envelope(ctx, office),
                    origin=ctx.requester,
                    person=token,
                    change=msg.change,
                    effective=msg.effective,
                    detail=msg.detail,
                )
                try:
                    await self._out.publish(office, fwd)
                except Unroutable:  # an office with no queue must not hold up every other holder
                    log.warning("change.unroutable", office=office, event_id=str(ctx.query_id))
        municipality = registry.get(ctx.requester).municipality
        ending = _ending(registry, municipality, msg, [*holders, ctx.requester])
        if ending:
            moved_to = msg.detail.get("to_municipality") if msg.change == "moved_out" else None
            at = dt.datetime.combine(on, dt.time(), dt.UTC)
            await directory.ended(person, ending, at, moved_to or None)
        return ctx, Delivered()


def _destinations(registry: Registry, msg: ChangeEvent) -> list[str]:
    """A move out also reaches the register of the municipality moved to (引越しワンストップ)."""
    to = msg.detail.get("to_municipality")
    if msg.change != "moved_out" or not to:
        return []
    return [o.code for o in registry if o.municipality == to and REGISTER_ITEM in o.provides]


def _ending(
    registry: Registry, municipality: str | None, msg: ChangeEvent, holders: list[str]
) -> list[str]:
    if msg.change == "death":
        return holders
    if msg.change == "moved_out":
        return [
            h for h in holders if h in registry and registry.get(h).municipality == municipality
        ]
    return []
