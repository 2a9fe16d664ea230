"""Quotas per office: a sustained rate and a burst for its queries, optionally per affair, one
for its enrollments, and a class.

Data, beside the legal table and the registry (``quotas.toml``; the operator's copy with
``RENKEI_QUOTAS``), validated at load against both: a malformed file raises
:class:`~hub.routing.exceptions.MalformedQuotas` listing every bad field, and the hub does not
start on it. Every office has a quota — its own entry's, else ``[default]`` — and a class:
``interactive`` (a resident in the portal, a clerk at a desk; its requests go to the hub's
interactive lane, served first) or ``batch`` (everything else: a municipality's overnight
checks).

A query takes one token from one bucket: its affair's, when the office has a quota for that
affair, else the office's own. So a per-affair quota is a lane of its own, and an office that
moves its flood to another affair lands in its office bucket, which holds as well. An
enrollment (符号取得, affair ``enrollment``) always takes from a bucket of its own — the office's
``[offices.CODE.affairs.enrollment]``, else the file's ``[enrollment]`` —, never from the
office's: it asks J-LIS whether a number is anyone's, so its bound is far below the office's
query rate (a number oracle otherwise). The buckets are shared by every hub process
(``hub.records.quotas``); `QuotaGate` batches the takes of concurrent requests into one store
call (``hub.batch``) and answers each with None (go ahead) or a refusal
``routing.quota_exceeded`` carrying a retry-after: when the bucket will hold a token again.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from os import PathLike
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from hub.batch import Batcher
from hub.buckets import Rate
from hub.records import QuotaStore, Want
from hub.routing.exceptions import ROUTING_QUOTA_EXCEEDED, MalformedQuotas, validation_problems
from hub.routing.legal import LegalTable
from hub.routing.legal_table_schema import Code, Strict, Text
from hub.routing.offices import OfficeCode, Registry
from hub.wire import MAX_RETRY_AFTER, Refused

__all__ = [
    "CLASSES",
    "ENROLLMENT",
    "Limit",
    "QuotaGate",
    "Quotas",
    "load_default_quotas",
    "load_quotas",
    "parse_quotas",
]

Class = Literal["interactive", "batch"]
CLASSES: tuple[Class, ...] = ("interactive", "batch")
PerSecond = Annotated[float, Field(gt=0, le=1_000_000)]
Burst = Annotated[int, Field(ge=1, le=10_000_000)]
ENROLLMENT = "enrollment"  # the affair of an enrollment (符号取得): a bucket of its own


class _Limit(Strict):
    per_second: PerSecond
    burst: Burst


class _Default(_Limit):
    class_: Class = Field("batch", alias="class")


class _Office(Strict):
    per_second: PerSecond | None = None
    burst: Burst | None = None
    class_: Class | None = Field(None, alias="class")
    affairs: dict[Code, _Limit] = Field(default_factory=dict)


# every office's enrollment bucket, unless the file or the office's entry says otherwise: a
# register's or the pension service's daily enrollments (births, move-ins, new insured:
# hundreds to a few thousand a day) with a wide margin — 1 000 at once, 86 400 a day
_ENROLLMENT = _Limit(per_second=1.0, burst=1000)


class _QuotasFile(Strict):
    version: Text
    note: str = ""
    default: _Default
    enrollment: _Limit = _ENROLLMENT
    offices: dict[OfficeCode, _Office] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Limit:
    """The bucket a query takes from: its key and rate."""

    key: str
    rate: Rate


class Quotas:
    """The validated quotas: each office's class, and which bucket a query or an enrollment
    takes from."""

    def __init__(
        self,
        version: str,
        default: _Default,
        offices: Mapping[str, _Office],
        enrollment: _Limit = _ENROLLMENT,
    ) -> None:
        self.version = version
        self._default = default
        self._enrollment = enrollment
        self._offices = MappingProxyType(dict(offices))

    def enrolling(self, burst: int) -> Quotas:
        """These quotas with the default enrollment burst raised to at least ``burst``: for
        the demo's bulk load, where every office enrolls every person it holds at once."""
        wider = _Limit(
            per_second=self._enrollment.per_second, burst=max(burst, self._enrollment.burst)
        )
        return Quotas(self.version, self._default, self._offices, wider)

    def class_of(self, office: str) -> Class:
        entry = self._offices.get(office)
        return entry.class_ if entry and entry.class_ else self._default.class_

    def interactive(self, offices: Iterable[str]) -> tuple[str, ...]:
        """Those of ``offices`` whose class is interactive (they may use the hub's
        interactive lane: ``hub.bus.topology``)."""
        return tuple(o for o in offices if self.class_of(o) == "interactive")

    def limit(self, office: str, affair: str) -> Limit:
        entry = self._offices.get(office)
        by_affair = entry.affairs.get(affair) if entry is not None else None
        if by_affair is None and affair == ENROLLMENT:
            by_affair = self._enrollment
        if by_affair is not None:
            return Limit(f"{office}/{affair}", Rate(by_affair.burst, by_affair.per_second))
        burst = entry.burst if entry and entry.burst else self._default.burst
        per_second = entry.per_second if entry and entry.per_second else self._default.per_second
        return Limit(office, Rate(burst, per_second))


def _problems(offices: Mapping[str, _Office], registry: Registry, table: LegalTable) -> list[str]:
    problems = []
    for code, entry in offices.items():
        at = f"offices.{code}"
        if code not in registry:
            problems.append(f"{at}: not an office of the registry")
            continue
        performs = registry.get(code).affairs
        for affair in entry.affairs:
            if affair == ENROLLMENT:  # every office may enroll the people it holds
                continue
            if affair not in table.affairs:
                problems.append(f"{at}.affairs.{affair}: not an affair of the legal table")
            elif affair not in performs:
                problems.append(f"{at}.affairs.{affair}: {code} does not perform it")
    return problems


def parse_quotas(
    text: str, registry: Registry, table: LegalTable, source: str = "<string>"
) -> Quotas:
    """Validate the TOML text of a quotas file against the registry and the legal table."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MalformedQuotas.single(source, f"not valid TOML: {exc}") from None
    return _validate(data, registry, table, source)


def _validate(data: dict[str, Any], registry: Registry, table: LegalTable, source: str) -> Quotas:
    try:
        file = _QuotasFile.model_validate(data)
    except ValidationError as exc:
        raise MalformedQuotas(source, validation_problems(exc, data)) from None
    problems = _problems(file.offices, registry, table)
    if problems:
        raise MalformedQuotas(source, problems)
    return Quotas(file.version, file.default, file.offices, file.enrollment)


def load_quotas(path: str | PathLike[str], registry: Registry, table: LegalTable) -> Quotas:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedQuotas.single(str(path), f"cannot be read: {exc}") from None
    return parse_quotas(text, registry, table, str(path))


def load_default_quotas(registry: Registry, table: LegalTable) -> Quotas:
    """The template shipped with the package (``hub/routing/quotas.toml``), for the offices of
    ``registry`` (an operator's registry may lack those the template names)."""
    text = (resources.files("hub.routing") / "quotas.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    data["offices"] = {c: e for c, e in data.get("offices", {}).items() if c in registry}
    return _validate(data, registry, table, "hub/routing/quotas.toml")


def retry_after(tokens: float, rate: Rate) -> float:
    """Seconds until a bucket holding ``tokens`` (< 1) holds a whole one again."""
    wait = max(0.0, 1.0 - tokens) / rate.per_second
    return min(MAX_RETRY_AFTER, math.ceil(wait * 1000) / 1000)


def decide(limits: Sequence[Limit], given: Mapping[str, tuple[int, float]]) -> list[float | None]:
    """For each query of a batch (in order, by its bucket), None when it got a token, else its
    retry-after: a bucket that gave ``n`` tokens serves its first ``n`` queries (pure)."""
    served: Counter[str] = Counter()
    out: list[float | None] = []
    for limit in limits:
        n, tokens = given[limit.key]
        if served[limit.key] < n:
            served[limit.key] += 1
            out.append(None)
        else:
            out.append(retry_after(tokens, limit.rate))
    return out


class QuotaGate:
    """The hub's quota check: one token per query from its bucket, in batches (one store call
    per batch, shared by every hub process)."""

    def __init__(
        self,
        quotas: Quotas,
        store: QuotaStore,
        *,
        clock: Callable[[], dt.datetime],
        max_batch: int = 500,
    ) -> None:
        self.quotas = quotas
        self._store = store
        self._clock = clock
        self._batcher: Batcher[Limit, float | None] = Batcher(self._flush, max_batch=max_batch)

    async def check(self, office: str, affair: str) -> Refused | None:
        """None: go ahead; else the refusal (recorded and answered like any other)."""
        limit = self.quotas.limit(office, affair)
        wait = await self._batcher.submit(limit)
        if wait is None:
            return None
        rate = limit.rate
        per = f" for {affair}" if "/" in limit.key else ""
        return Refused(
            code=ROUTING_QUOTA_EXCEEDED,
            reason=f"{office} asks more than {rate.per_second:g} a second (at most {rate.burst}"
            f" at once){per}: try again in {wait:g} s",
            retry_after=wait,
        )

    async def _flush(self, limits: Sequence[Limit]) -> list[float | None]:
        wanted = Counter(limit.key for limit in limits)
        rates = {limit.key: limit.rate for limit in limits}
        wants = [Want(key, n, rates[key]) for key, n in wanted.items()]
        taken = await self._store.take(wants, self._clock())
        given = {w.key: (t.given, t.tokens) for w, t in zip(wants, taken, strict=True)}
        return decide(limits, given)

    async def close(self) -> None:
        await self._batcher.close()
