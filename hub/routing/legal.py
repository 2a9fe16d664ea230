"""The legal table (a model of 番号法 別表第二) as data, and the pure check the router runs.

The table says which kind of office (情報照会者) may ask which kind of office (情報提供者)
for which information items (特定個人情報), for which affair (事務), from when until when.
It is loaded once at start from ``legal_table.toml``; a malformed file raises
:class:`~hub.routing.exceptions.MalformedTable` listing every defect, and the hub refuses to
start. :meth:`LegalTable.check` is pure and indexed: it runs for every message and answers
*why not* for every refusal. ``effective_until`` is exclusive: the first day a row no longer
applies. :meth:`LegalTable.withholding` says whether the rows that allow an exchange also let
the requester withhold its record from the resident (不開示), on what basis and for how long.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from os import PathLike
from types import MappingProxyType
from typing import Any, Literal

from pydantic import ValidationError

from hub.routing.exceptions import MalformedTable, shown, validation_problems
from hub.routing.legal_table_schema import (
    Acting,
    Affair,
    Item,
    Kind,
    Row,
    TableFile,
    Withholding,
    table_problems,
)

__all__ = [
    "Acting",
    "Affair",
    "Decision",
    "DecisionCode",
    "Item",
    "Kind",
    "LegalTable",
    "Row",
    "Withheld",
    "Withholding",
    "load_default",
    "load_table",
    "parse_table",
    "refuse",
]

DecisionCode = Literal[
    "allowed",
    "no_items",
    "unknown_affair",
    "unknown_kind",
    "unknown_item",
    "no_row",
    "not_yet_in_force",
    "expired",
    "unknown_requester",
    "unknown_provider",
    "affair_not_performed",
    "item_not_held",
    "not_withholdable",
    "in_house",
]
"""Why a check came out as it did; ``allowed`` or one refusal family, for records and metrics."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "may this exchange happen?": which rows allow it, or exactly why not."""

    allowed: bool
    rows: tuple[str, ...]
    reason: str
    code: DecisionCode


@dataclass(frozen=True, slots=True)
class Withheld:
    """What the law lets a requester withhold: the rows, the longest period, the basis."""

    rows: tuple[str, ...]
    max_days: int
    basis: str

    def until(self, asked_at: datetime) -> datetime:
        """When the flag ends by itself: the record is disclosed from then on."""
        return asked_at + timedelta(days=self.max_days)


def refuse(code: DecisionCode, reason: str) -> Decision:
    """A refusal: no rows, and and the reason that is recorded with the refusal."""
    return Decision(allowed=False, rows=(), reason=reason, code=code)


class LegalTable:
    """A validated legal table with the indexes :meth:`check` needs; built once, never changed."""

    def __init__(self, file: TableFile) -> None:
        self.version = file.version
        self.law = file.law
        self.law_id = file.law_id
        self.as_of = file.as_of
        self.note = file.note
        self.kinds: Mapping[str, Kind] = MappingProxyType(dict(file.kinds))
        self.affairs: Mapping[str, Affair] = MappingProxyType(dict(file.affairs))
        self.items: Mapping[str, Item] = MappingProxyType(dict(file.items))
        self._rows = file.rows
        self._by_id = {row.id: row for row in file.rows}
        index: dict[tuple[str, str, str, str], list[Row]] = {}
        by_asker: dict[tuple[str, str], list[Row]] = {}
        for row in file.rows:
            by_asker.setdefault((row.requester, row.affair), []).append(row)
            for item in row.items:
                index.setdefault((row.requester, row.affair, row.provider, item), []).append(row)
        self._index = {key: tuple(rows) for key, rows in index.items()}
        self._by_asker = {key: tuple(rows) for key, rows in by_asker.items()}
        self._askers = {a: sorted({r for r, af in by_asker if af == a}) for a in self.affairs}

    def rows(self) -> tuple[Row, ...]:
        """Every row in file order (for ``renkei legal list``)."""
        return self._rows

    def acting(self, kind: str, by: str) -> Acting | None:
        """Where the law has an office of kind ``by`` act as ``kind``; None if it never does."""
        found = self.kinds.get(kind)
        return next((a for a in found.acting if a.by == by), None) if found else None

    def check(
        self,
        requester_kind: str,
        affair: str,
        provider_kind: str,
        items: Iterable[str],
        on: date,
    ) -> Decision:
        """Whether the table lets ``requester_kind`` ask ``provider_kind`` for every item.

        Allowed only if each item is allowed, on ``on``, by at least one row for this
        requester kind, affair and provider kind. Never raises on unknown names.
        """
        wanted = tuple(dict.fromkeys((items,) if isinstance(items, str) else items))
        if not wanted:
            return refuse("no_items", "no information items were requested")
        if affair not in self.affairs:
            return refuse("unknown_affair", f"unknown affair {shown(affair)}")
        for role, kind in (("requester", requester_kind), ("provider", provider_kind)):
            if kind not in self.kinds:
                return refuse("unknown_kind", f"unknown {role} office kind {shown(kind)}")
        unknown = [shown(item) for item in wanted if item not in self.items]
        if unknown:
            return refuse("unknown_item", f"unknown information item {', '.join(unknown)}")
        allowing: dict[str, None] = {}
        failures: list[tuple[DecisionCode, str]] = []
        for item in wanted:
            candidates = self._index.get((requester_kind, affair, provider_kind, item), ())
            in_force = [row.id for row in candidates if row.in_force(on)]
            if in_force:
                allowing.update(dict.fromkeys(in_force))
            else:
                failures.append(self._why_not(requester_kind, affair, provider_kind, item, on))
        if not failures:
            return Decision(True, tuple(allowing), f"allowed by {', '.join(allowing)}", "allowed")
        reason = "; ".join(text for _, text in failures)
        if any(code == "no_row" for code, _ in failures):
            reason += "; " + self._may_ask(requester_kind, affair, on)
        return refuse(failures[0][0], reason)

    def withholding(self, decision: Decision) -> Withheld | Decision:
        """May the requester of the exchange ``decision`` allowed withhold its record from the
        resident (不開示)? Only if every row that allows it says so (``withhold``); then for
        the shortest of their periods. Otherwise the refusal ``not_withholdable``, saying why."""
        rows = [self._by_id.get(row_id) for row_id in decision.rows]
        rules = [(row.id, row.withhold) for row in rows if row is not None and row.withhold]
        if not decision.allowed or not rules or len(rules) != len(rows):
            allowed = ", ".join(decision.rows) or "none"
            return refuse(
                "not_withholdable",
                f"the rows that allow this exchange ({allowed}) do not let its requester "
                "withhold the record from the resident: only rows with a legal basis for "
                "不開示 do (`renkei legal list` shows them)",
            )
        basis = "; ".join(f"{row_id}: {rule.basis}" for row_id, rule in rules)
        days = min(rule.max_days for _, rule in rules)
        return Withheld(tuple(row_id for row_id, _ in rules), days, basis)

    def _why_not(
        self, requester: str, affair: str, provider: str, item: str, on: date
    ) -> tuple[DecisionCode, str]:
        asks = f"{requester} ask {provider} for {item} for {affair}"
        rows = self._index.get((requester, affair, provider, item), ())
        future = [row for row in rows if on < row.effective_from]
        past = [row for row in rows if row.effective_until and row.effective_until <= on]
        if future:
            row = min(future, key=lambda r: r.effective_from)
            when = f"it applies from {row.effective_from}"
            return "not_yet_in_force", f"row {row.id} (lets {asks}) is not yet in force: {when}"
        if past:
            row = max(past, key=lambda r: r.effective_until or r.effective_from)
            return "expired", f"row {row.id} (lets {asks}) expired on {row.effective_until}"
        return "no_row", f"no row lets {asks}"

    def _may_ask(self, requester: str, affair: str, on: date) -> str:
        rows = [row for row in self._by_asker.get((requester, affair), ()) if row.in_force(on)]
        if rows:
            allowed = ", ".join(f"{r.provider} for {'+'.join(r.items)} ({r.id})" for r in rows)
            return f"for {affair}, {requester} may ask: {allowed}"
        askers = ", ".join(self._askers.get(affair, [])) or "none"
        return f"{requester} may ask nothing for {affair} (requester kinds for it: {askers})"


def parse_table(text: str, source: str = "<string>") -> LegalTable:
    """Validate the TOML text of a legal table; ``source`` names it in error messages."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MalformedTable.single(source, f"not valid TOML: {exc}") from None
    try:
        file = TableFile.model_validate(data)
    except ValidationError as exc:
        raise MalformedTable(source, validation_problems(exc, data)) from None
    problems = table_problems(file)
    if problems:
        raise MalformedTable(source, problems)
    return LegalTable(file)


def load_table(path: str | PathLike[str]) -> LegalTable:
    """Read and validate the legal table at ``path``."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedTable.single(str(path), f"cannot be read: {exc}") from None
    return parse_table(text, str(path))


def load_default() -> LegalTable:
    """The legal table shipped with the package (``hub/routing/legal_table.toml``)."""
    resource = resources.files("hub.routing") / "legal_table.toml"
    return parse_table(resource.read_text(encoding="utf-8"), "hub/routing/legal_table.toml")
