"""The schema of ``legal_table.toml``: strict pydantic models, and the checks across fields.

Every model is strict and refuses unknown keys, so a typo in the file is an error, not a
silently ignored line. :func:`table_problems` finds what no single field can show: references
to unknown kinds, affairs and items, duplicate ids, empty periods and overlapping rows.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

__all__ = [
    "Acting",
    "Affair",
    "Code",
    "Item",
    "Kind",
    "Row",
    "Source",
    "Strict",
    "TableFile",
    "Text",
    "Withholding",
    "as_tuple",
    "table_problems",
]


def as_tuple(value: object) -> object:
    """TOML arrays arrive as lists; strict pydantic wants tuples. Anything else stays as is."""
    return tuple(value) if isinstance(value, list) else value


Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
RowId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Text = Annotated[str, StringConstraints(min_length=1)]
CurrentRow = Annotated[
    str, StringConstraints(pattern=r"^[一二三四五六七八九十百]+(の[一二三四五六七八九十]+)?$")
]
OldRow = Annotated[str, StringConstraints(pattern=r"^[0-9]+(の[0-9]+)?\??$")]
Source = Literal["model", "verified"]


class Strict(BaseModel):
    """Base of every file model: strict types, no unknown keys, frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Acting(Strict):
    """Where the law has an office of kind ``by`` act as this kind: when it asks for one of
    ``affairs`` and when it provides one of ``items`` (a 市長, 特別区の区長 included, as
    都道府県知事等 in 生活保護 and 児童扶養手当), on ``basis``. An office of the registry
    takes it up by naming this kind in its ``acts_as``."""

    by: Code
    affairs: Annotated[tuple[Code, ...], BeforeValidator(as_tuple), Field(min_length=1)]
    items: Annotated[tuple[Code, ...], BeforeValidator(as_tuple)] = ()
    basis: Text
    source: Source


class Kind(Strict):
    """A kind of office named in the table (市町村長, 都道府県知事等, ...)."""

    ja: Text
    en: Text
    note: str = ""
    acting: Annotated[tuple[Acting, ...], BeforeValidator(as_tuple)] = ()


class Affair(Strict):
    """An affair (事務) with its current 別表 項 and a domain for grouping; an affair outside
    別表 (コンビニ交付, on 住基法 and 公的個人認証法) has no 項 and says its ``basis``."""

    ja: Text
    en: Text
    current_row: CurrentRow | None = None
    basis: str = ""
    domain: Code
    note: str = ""


class Item(Strict):
    """An information item (特定個人情報); ``source`` says whether its name is verified."""

    ja: Text
    en: Text
    source: Source
    note: str = ""
    certificate: bool = False
    """An item a certificate is printed from (コンビニ交付), not information to show: the
    portal's わたしの情報 does not ask for it."""


class Withholding(Strict):
    """不開示: the requester of this row may withhold the record of its query from the
    resident (やりとり履歴, live alerts) for at most ``max_days`` from when it asked, on
    ``basis``; the flag ends by itself then, or earlier when an operator lifts it."""

    max_days: Annotated[int, Field(ge=1, le=3653)]
    basis: Text
    source: Source
    note: str = ""


class Row(Strict):
    """One row: ``requester`` may ask ``provider`` for ``items`` for ``affair``."""

    id: RowId
    old_row: OldRow | None = None
    current_row: CurrentRow | None = None
    requester: Code
    affair: Code
    provider: Code
    items: Annotated[tuple[Code, ...], BeforeValidator(as_tuple), Field(min_length=1)]
    effective_from: date
    effective_until: date | None = None
    source: Source
    note: str = ""
    withhold: Withholding | None = None  # absent: its records are always disclosed

    def in_force(self, on: date) -> bool:
        """Whether the row applies on ``on`` (``effective_until`` is exclusive)."""
        return self.effective_from <= on and (
            self.effective_until is None or on < self.effective_until
        )


class TableFile(Strict):
    """The file as written; :func:`table_problems` checks what one field cannot."""

    version: Text
    law: Text
    law_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{3}[A-Z]{2}[0-9]{10}$")]
    as_of: date
    note: Text
    kinds: dict[Code, Kind]
    affairs: dict[Code, Affair]
    items: dict[Code, Item]
    rows: Annotated[tuple[Row, ...], BeforeValidator(as_tuple), Field(min_length=1)]


def table_problems(file: TableFile) -> list[str]:
    """Defects across fields: references, ids, dates, and rows that duplicate each other."""
    problems: list[str] = []
    first_use: dict[str, int] = {}
    for n, row in enumerate(file.rows):
        at = f"rows[{n}] (id {row.id!r})"
        if row.id in first_use:
            problems.append(f"{at}: duplicate row id, first used by rows[{first_use[row.id]}]")
        first_use.setdefault(row.id, n)
        problems.extend(f"{at}: {problem}" for problem in _row_problems(row, file))
    problems.extend(_overlaps(file.rows))
    problems.extend(_acting_problems(file))
    return problems


def _acting_problems(file: TableFile) -> list[str]:
    """An acting entry names known kinds, affairs and items, and each once per kind."""
    problems = []
    for code, kind in file.kinds.items():
        seen: set[str] = set()
        for n, acting in enumerate(kind.acting):
            at = f"kinds.{code}.acting[{n}]"
            if acting.by not in file.kinds or acting.by == code:
                problems.append(f"{at}: by {acting.by!r} is not another kind of the table")
            if acting.by in seen:
                problems.append(f"{at}: a second entry for kind {acting.by!r}")
            seen.add(acting.by)
            problems.extend(
                f"{at}: unknown affair {a!r}" for a in acting.affairs if a not in file.affairs
            )
            problems.extend(
                f"{at}: unknown item {i!r}" for i in acting.items if i not in file.items
            )
    return problems


def _row_problems(row: Row, file: TableFile) -> list[str]:
    problems = [
        f"unknown {role} kind {kind!r} (not in [kinds])"
        for role, kind in (("requester", row.requester), ("provider", row.provider))
        if kind not in file.kinds
    ]
    affair = file.affairs.get(row.affair)
    if affair is None:
        problems.append(f"unknown affair {row.affair!r} (not in [affairs])")
    elif affair.current_row != row.current_row:
        problems.append(
            f"current_row {row.current_row} but affair {row.affair} is "
            f"in 別表 row {affair.current_row}"
        )
    elif affair.current_row is None and not affair.basis:
        problems.append(f"affair {row.affair} has no 別表 row and no basis")
    problems.extend(
        f"unknown item {i!r} (not in [items])" for i in row.items if i not in file.items
    )
    if len(set(row.items)) != len(row.items):
        problems.append(f"an item is listed twice in {list(row.items)}")
    if row.effective_until is not None and row.effective_until <= row.effective_from:
        problems.append(
            f"effective_until {row.effective_until} is not after "
            f"effective_from {row.effective_from}"
        )
    return problems


def _overlaps(rows: tuple[Row, ...]) -> list[str]:
    """Rows for the same requester, affair and provider that share an item and a day."""
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.requester, row.affair, row.provider), []).append(row)
    problems = []
    for (requester, affair, provider), group in groups.items():
        for n, a in enumerate(group):
            for b in group[n + 1 :]:
                shared = ", ".join(sorted(set(a.items) & set(b.items)))
                if shared and _share_a_day(a, b):
                    problems.append(
                        f"rows {a.id!r} and {b.id!r} overlap: both let {requester} ask "
                        f"{provider} for {shared} for {affair} in overlapping periods"
                    )
    return problems


def _share_a_day(a: Row, b: Row) -> bool:
    a_ends_after_b_starts = a.effective_until is None or b.effective_from < a.effective_until
    b_ends_after_a_starts = b.effective_until is None or a.effective_from < b.effective_until
    return a_ends_after_b_starts and b_ends_after_a_starts
