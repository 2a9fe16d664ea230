"""Change events (異動): a resident register reports a change; every holder hears of it.

The hub finds who holds a token for the person (the directory), translates the register's token
into each holder's, and forwards the event — what changed and when, never content. A move out
of a municipality ends that municipality's offices' holding in the directory; a death ends all.
A move out also reaches the resident register of the municipality moved to, under its own token
(the token service needs no table to make it), so the move-in there can complete the move.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from hub.directory import Directory
from hub.routing.context import Context
from hub.routing.offices import Registry
from hub.routing.outcomes import refused
from hub.routing.tokens import TokenClient
from hub.wire import HUB, ChangeEvent, Delivered, ForwardedChange, Outcome, TokenOk

__all__ = ["REGISTER_ITEM", "fan_out"]

REGISTER_ITEM = "resident_record"  # only a resident register may report changes
_TARGETS = 32  # targets per translation item

Forward = Callable[[str, ForwardedChange], Awaitable[None]]


async def fan_out(
    msg: ChangeEvent,
    ctx: Context,
    *,
    registry: Registry,
    tokens: TokenClient,
    directory: Directory,
    envelope_for: Callable[[str], object],
    forward: Forward,
) -> Outcome:
    sender = registry.get(ctx.requester)
    if REGISTER_ITEM not in sender.provides:
        return refused("hub.not_a_register", f"{ctx.requester} keeps no resident register")
    own = await tokens.translate(msg.person, ctx.requester, (HUB,))
    if not isinstance(own, TokenOk):
        return own
    person = own.tokens[0]
    on = msg.effective
    holders = [
        e.office
        for e in await directory.holders(person)
        if e.office != ctx.requester and (e.until is None or e.until.date() > on)
    ]
    holders += [o for o in _destinations(registry, msg) if o not in holders]
    for start in range(0, len(holders), _TARGETS):
        chunk = tuple(holders[start : start + _TARGETS])
        result = await tokens.translate(msg.person, ctx.requester, chunk)
        if not isinstance(result, TokenOk):
            return result
        for office, token in zip(chunk, result.tokens, strict=True):
            await forward(
                office,
                ForwardedChange(
                    envelope=envelope_for(office),  # type: ignore[arg-type]
                    origin=ctx.requester,
                    person=token,
                    change=msg.change,
                    effective=msg.effective,
                    detail=msg.detail,
                ),
            )
    ending = _ending(registry, sender.municipality, msg, [*holders, ctx.requester])
    if ending:
        await directory.ended(person, ending, dt.datetime.combine(on, dt.time(), dt.UTC))
    return Delivered(offices=len(holders))


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
