"""Errors of the routing package.

One root, :class:`RoutingError`; each subclass carries the wire ``code`` that an error reply
or an operator's log line shows. A refused exchange is *not* an error of this package: the
check returns a :class:`~hub.routing.legal.Decision` and the router records it. These
exceptions are for configuration the hub cannot run with (a malformed legal table or office
registry: the hub refuses to start), for look-ups of offices that do not exist, and for a
routing context or reply that did not come from where it claims.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Self

from pydantic import ValidationError

__all__ = [
    "ForgedContext",
    "MalformedConfig",
    "MalformedRegistry",
    "MalformedTable",
    "RoutingError",
    "UnknownOffice",
    "shown",
    "validation_problems",
]


class RoutingError(Exception):
    """Root of every error raised by ``hub.routing``."""

    code: ClassVar[str] = "routing.error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedConfig(RoutingError):
    """A routing data file cannot be used; :attr:`problems` lists every defect found."""

    code: ClassVar[str] = "routing.malformed_config"
    what: ClassVar[str] = "routing data"

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "".join(f"\n  - {p}" for p in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{self.what} {source} is malformed ({count} {noun}):{lines}")

    @classmethod
    def single(cls, source: str, problem: str) -> Self:
        return cls(source, (problem,))


class MalformedTable(MalformedConfig):
    """The legal table file cannot be used; the hub refuses to start."""

    code: ClassVar[str] = "routing.malformed_table"
    what: ClassVar[str] = "legal table"


class MalformedRegistry(MalformedConfig):
    """The office registry file cannot be used; the hub refuses to start."""

    code: ClassVar[str] = "routing.malformed_registry"
    what: ClassVar[str] = "office registry"


class UnknownOffice(RoutingError):
    """An office code that is not registered on the network was looked up."""

    code: ClassVar[str] = "routing.unknown_office"

    def __init__(self, office: str, known: int) -> None:
        super().__init__(
            f"office {shown(office)} is not registered on the network ({known} offices are)"
        )
        self.office = office


class ForgedContext(RoutingError):
    """A sealed routing context was altered, or a reply came from an office not asked."""

    code: ClassVar[str] = "routing.forged_context"


def shown(value: str, limit: int = 64) -> str:
    """``repr`` of an untrusted string, cut to ``limit`` characters for messages."""
    return repr(value[:limit]) + ("…" if len(value) > limit else "")


def validation_problems(exc: ValidationError, data: Mapping[str, Any]) -> list[str]:
    """One readable line per pydantic error: where in the file, and what is wrong.

    Rows of an array of tables are named by index and, when they have one, by their ``id``.
    """
    problems = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        where = ""
        for i, part in enumerate(loc):
            if part == "[key]":
                where = f"key {shown(str(loc[i - 1]))} of {where.rsplit('.', 1)[0]}"
            elif isinstance(part, int):
                where += f"[{part}]{_label(data, loc[:i], part)}"
            else:
                where += f".{part}" if where else str(part)
        problems.append(f"{where or 'top level'}: {error['msg']}")
    return problems


def _label(data: Mapping[str, Any], parent: tuple[int | str, ...], index: int) -> str:
    """`` (id 'r04')`` when ``data[parent][index]`` is a table with an ``id``."""
    node: Any = data
    try:
        for part in parent:
            node = node[part]
        ident = node[index].get("id")
    except (LookupError, TypeError, AttributeError):
        return ""
    return f" (id {shown(ident)})" if isinstance(ident, str) else ""
