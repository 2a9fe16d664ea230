"""What a participant plugs into its ``OfficeNode``: one role object per kind of message it
handles, each optional (a node without a role refuses or dead-letters that kind of request),
gathered in ``Roles``.

An office's own code implements the roles it plays — a provider answers queries, a resident
register's neighbours listen to change events, J-LIS resolves numbers, its certification
service identifies card holders, an office taking applications receives them, the portal reads
its inbox — and the composition root hands them to the node by name (``renkei/network.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from hub.wire import AccessEvent, Change, ForwardedNotice, Outcome

__all__ = [
    "Applications",
    "ChangeListener",
    "Identifier",
    "Inbox",
    "Provider",
    "Resolver",
    "Roles",
]


class Provider(Protocol):
    """An office's answer to a query about one of its people; None when it has no such person."""

    async def answer(
        self, person: str, items: tuple[str, ...], params: Mapping[str, str | int]
    ) -> Mapping[str, Any] | None: ...


class ChangeListener(Protocol):
    """An office's reaction to a change event about one of its people (by its own token)."""

    async def changed(
        self, person: str, change: Change, effective: dt.date, detail: dict[str, str]
    ) -> None: ...


class Resolver(Protocol):
    """J-LIS only: resolve a number (enrollment) to the resident-record code."""

    async def resolve(self, number: bytes) -> Outcome: ...


class Identifier(Protocol):
    """J-LIS's certification service only: the holder of an authentication certificate, as
    ``Identified`` (its own token for them), ``NotFound`` or ``Refused`` (e.g. revoked)."""

    async def identify(self, certificate: bytes) -> Outcome: ...


class Applications(Protocol):
    """An office that takes electronic applications: the receipt, or ``ApplicationRefused``."""

    async def receive(self, person: str, kind: str, document: bytes) -> Mapping[str, Any]: ...


class Inbox(Protocol):
    """The portal only: access alerts and notices the hub delivers (under the portal's token)."""

    async def received(self, msg: AccessEvent | ForwardedNotice) -> None: ...


@dataclass(frozen=True, slots=True)
class Roles:
    """The role objects a node plays, by role; a role it lacks, it refuses or dead-letters.

    The composition root builds them from the roles each office is given by name (the office
    registry's ``roles``); ``merge`` joins what each named role brings, refusing two objects
    for the same role.
    """

    provider: Provider | None = None
    listener: ChangeListener | None = None
    resolver: Resolver | None = None
    identifier: Identifier | None = None
    applications: Applications | None = None
    inbox: Inbox | None = None

    def merge(self, other: Roles) -> Roles:
        """Both sets of roles; ``ValueError`` naming the role both fill."""
        taken: dict[str, Any] = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if mine is not None and theirs is not None:
                raise ValueError(f"two objects for the {f.name} role")
            taken[f.name] = mine if theirs is None else theirs
        return Roles(**taken)
