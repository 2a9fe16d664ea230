"""Errors of the routing package, and every code the hub answers or dead-letters with.

One root, :class:`RoutingError`; each subclass carries the wire ``code`` that an error reply
or an operator's log line shows. A refused exchange is *not* an error of this package: the
check returns a :class:`~hub.routing.legal.Decision` and the router records it. These
exceptions are for configuration the hub cannot run with (a malformed legal table or office
registry: the hub refuses to start), for look-ups of offices that do not exist, and for a
routing context or reply that did not come from where it claims.

The codes of the hub's own outcomes (a ``Refused`` or ``Failed`` it answers, a dead-letter
reason) are the constants below, each named after its code; the legal table's and the
registry's refusals are ``routing.`` and a :data:`~hub.routing.legal.DecisionCode`
(:func:`law_code`). ``hub/routing/README.md`` lists them all ("Error codes"), checked by a test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Final, Self

from pydantic import ValidationError

__all__ = [
    "HUB_BAD_DISCLOSURE",
    "HUB_BAD_EFFECTIVE_DATE",
    "HUB_BAD_ENROLLMENT",
    "HUB_BAD_IDENTIFY",
    "HUB_BAD_OUTCOME",
    "HUB_BAD_QUERY_ID",
    "HUB_DEADLINE_TOO_FAR",
    "HUB_FUTURE_REQUEST",
    "HUB_IDENTITY_MISMATCH",
    "HUB_LATE_ENROLLMENT",
    "HUB_NOT_A_HOLDER",
    "HUB_NOT_A_PORTAL",
    "HUB_NOT_A_REGISTER",
    "HUB_NOT_RESIDENT_HERE",
    "HUB_NOT_THE_REGISTER",
    "HUB_NO_RECORDS",
    "HUB_PROVIDER_UNREACHABLE",
    "HUB_REPLAYED_QUERY",
    "HUB_SENDER_MISMATCH",
    "HUB_STALE_REQUEST",
    "HUB_TOKEN_SERVICE_UNAVAILABLE",
    "HUB_UNADDRESSED_APPLICATION",
    "HUB_UNEXPECTED_DOCUMENT",
    "HUB_UNEXPECTED_KIND",
    "HUB_UNKNOWN_OFFICE",
    "HUB_UNVERIFIED_SENDER",
    "ROUTING_AMBIGUOUS_PROVIDER",
    "ROUTING_NO_PROVIDER",
    "ROUTING_QUOTA_EXCEEDED",
    "ForgedContext",
    "MalformedConfig",
    "MalformedQuotas",
    "MalformedRegistry",
    "MalformedTable",
    "RoutingError",
    "UnknownOffice",
    "law_code",
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


class MalformedQuotas(MalformedConfig):
    """The quotas file cannot be used; the hub refuses to start."""

    code: ClassVar[str] = "routing.malformed_quotas"
    what: ClassVar[str] = "quotas file"


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


# -- the hub's outcomes: the sender and the times (router.py, freshness.py) ------------------
HUB_UNVERIFIED_SENDER: Final = "hub.unverified_sender"  # a broker user it does not know
HUB_UNEXPECTED_KIND: Final = "hub.unexpected_kind"  # not a request (or not a reply) at all
HUB_REPLAYED_QUERY: Final = "hub.replayed_query"
HUB_SENDER_MISMATCH: Final = "hub.sender_mismatch"
HUB_UNKNOWN_OFFICE: Final = "hub.unknown_office"
HUB_BAD_QUERY_ID: Final = "hub.bad_query_id"
HUB_STALE_REQUEST: Final = "hub.stale_request"
HUB_FUTURE_REQUEST: Final = "hub.future_request"
HUB_DEADLINE_TOO_FAR: Final = "hub.deadline_too_far"
# -- the desks ------------------------------------------------------------------------------
HUB_UNEXPECTED_DOCUMENT: Final = "hub.unexpected_document"
HUB_NOT_A_PORTAL: Final = "hub.not_a_portal"
HUB_BAD_DISCLOSURE: Final = "hub.bad_disclosure"  # a disclosure's filters or page malformed
HUB_NOT_A_HOLDER: Final = "hub.not_a_holder"  # a notice about a person the office holds not
HUB_BAD_IDENTIFY: Final = "hub.bad_identify"
HUB_UNADDRESSED_APPLICATION: Final = "hub.unaddressed_application"
HUB_BAD_ENROLLMENT: Final = "hub.bad_enrollment"
HUB_LATE_ENROLLMENT: Final = "hub.late_enrollment"  # answered after the deadline: dead-lettered
HUB_NOT_A_REGISTER: Final = "hub.not_a_register"
HUB_NOT_THE_REGISTER: Final = "hub.not_the_register"
HUB_BAD_EFFECTIVE_DATE: Final = "hub.bad_effective_date"
HUB_NOT_RESIDENT_HERE: Final = "hub.not_resident_here"
# the four facts an enrolling office presented are not J-LIS's 本人確認情報 (番号法 第16条)
HUB_IDENTITY_MISMATCH: Final = "hub.identity_mismatch"
ROUTING_NO_PROVIDER: Final = "routing.no_provider"
ROUTING_AMBIGUOUS_PROVIDER: Final = "routing.ambiguous_provider"
ROUTING_QUOTA_EXCEEDED: Final = "routing.quota_exceeded"  # with a retry-after (``quotas``)
# -- the hub failed (``Failed``, family ``hub``), or a provider answered what it may not ---------
HUB_TOKEN_SERVICE_UNAVAILABLE: Final = "hub.token_service_unavailable"  # noqa: S105 - a code
HUB_PROVIDER_UNREACHABLE: Final = "hub.provider_unreachable"
HUB_NO_RECORDS: Final = "hub.no_records"
HUB_BAD_OUTCOME: Final = "hub.bad_outcome"


def law_code(decision: str) -> str:
    """The code of a refusal by the legal table or the registry: ``routing.`` and the
    decision's code (``no_row`` → ``routing.no_row``)."""
    return f"routing.{decision}"


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
