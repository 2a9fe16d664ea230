"""The desk protocol: what the router asks of the desk of one message flow."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from hub.routing.context import Context, Kind
from hub.wire import Answered, Failed, NotFound, Outcome, Refused

__all__ = ["PROVIDER_ANSWERS", "Desk"]

PROVIDER_ANSWERS: tuple[type, ...] = (Answered, NotFound, Refused, Failed)


class Desk(Protocol):
    """One message flow at the hub. Subclass it for the defaults; the router's table holds
    one per request type (``router.desks_for``), and finds a reply's by its context's kind."""

    kind: ClassVar[Kind]  # the context's kind: how a provider's reply finds its desk
    claims: ClassVar[bool] = False  # the router claims the id first: acted on once only
    answers: ClassVar[tuple[type, ...]] = PROVIDER_ANSWERS  # what its provider may answer
    void_when_late: ClassVar[bool] = False  # a reply after the deadline is dead-lettered
    resent_late: ClassVar[bool] = False  # redelivered past its deadline, still sent on

    def items(self, msg: Any) -> tuple[str, ...]:
        """What the request is recorded under."""
        return ()

    async def ahead(self, msg: Any, ctx: Context, *, claimed: bool = False) -> object:
        """For a desk that claims: what it may do while the router claims the id (nothing
        another office would see); the result goes to ``handle`` as ``head``. ``claimed``: an
        earlier run of this very message claimed the id (and so began this too) — what the
        claim says of a redelivery, never the redelivered mark alone nor the sender's word."""
        return None

    async def handle(
        self, msg: Any, ctx: Context, head: object = None
    ) -> tuple[Context, Outcome | None]:
        """The request, checked by the router (sender, signature, times, claim): the outcome
        to record now, or None when the office's reply or the deadline finishes it."""
        ...

    async def complete(self, ctx: Context, outcome: Outcome) -> tuple[Context, Outcome]:
        """The office's (checked) answer: the outcome to record."""
        return ctx, outcome
