"""Errors of the transport. One root, each carrying a wire error code.

Callers catch :class:`BusError` for "the transport failed" and the subclasses where they can
do something specific (an :class:`Unroutable` query is answered with a refusal, a
:class:`Rejected` publish is retried later, and so on).
"""

from __future__ import annotations

__all__ = [
    "AccessRefused",
    "BrokerAdminError",
    "BusClosed",
    "BusError",
    "NotConfirmed",
    "NotDeclared",
    "Rejected",
    "Unroutable",
]


class BusError(Exception):
    """Root of every transport error."""

    code: str = "bus.error"


class Unroutable(BusError):
    """A mandatory publish reached an exchange that routed it to no queue."""

    code = "bus.unroutable"


class AccessRefused(BusError):
    """The broker refused this identity: no write/read permission, a ``user_id`` that is not
    the authenticated user, or a login that failed."""

    code = "bus.access_refused"


class NotDeclared(BusError):
    """The exchange or queue does not exist."""

    code = "bus.not_found"


class NotConfirmed(BusError):
    """The broker did not confirm a publish: it nacked it (e.g. a full queue with
    ``reject-publish``) or the connection was lost first. The message may or may not have
    been taken; retrying can produce a duplicate, which at-least-once consumers tolerate."""

    code = "bus.not_confirmed"


class Rejected(NotConfirmed):
    """The broker refused the message (``basic.nack``): a queue it routes to is full and
    rejects publishes (``overflow: reject-publish``), or failed. Nothing was taken; the caller
    may retry later (a flooding sender is held back this way)."""

    code = "bus.rejected"

    @classmethod
    def publish(cls, exchange: str, routing_key: str) -> Rejected:
        return cls(
            f"the broker refused the message published to {exchange!r} (key {routing_key!r}): "
            "a queue it routes to is full"
        )


class BusClosed(BusError):
    """The bus was closed; no more publishing or consuming."""

    code = "bus.closed"


class BrokerAdminError(BusError):
    """The broker's management API was unreachable or refused a setup step."""

    code = "bus.admin"
