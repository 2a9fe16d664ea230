"""``renkei corporations find NAME-or-NUMBER``: the public corporate-number registry (法人番号).

Corporate numbers are public (番号法 第39条): the registry holds no personal data. The data set is
synthetic apart from entries marked ``*`` (real, published ones such as 国税庁 7000012050002).
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from collections.abc import Sequence
from typing import TextIO

from agencies.corporations import MAX_QUERY_CHARS, Corporation, default_index
from renkei.settings import Settings

__all__ = ["add_corporation_commands", "find", "table"]

_COLUMNS = (
    ("法人番号", 14),
    ("商号又は名称", 34),
    ("フリガナ", 30),
    ("所在地", 44),
    ("指定日", 10),
)


def add_corporation_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    corporations = sub.add_parser(
        "corporations", help="the public corporate-number registry (法人番号; no personal data)"
    )
    csub = corporations.add_subparsers(dest="action", required=True)
    find_p = csub.add_parser(
        "find",
        help="find corporations by exact number (13 digits, check digit first) or by name",
        description=(
            "Find by exact corporate number (hyphens, spaces, full-width digits and an invoice "
            "number's T allowed; the check digit is verified) or by a piece of the name or its "
            "reading (NFKC-normalized, case- and width-insensitive, katakana = hiragana, "
            f"(株) = 株式会社). At most {MAX_QUERY_CHARS} characters."
        ),
    )
    find_p.add_argument("query", metavar="NAME-or-NUMBER")
    find_p.add_argument("--limit", type=int, default=20, help="rows to show (default 20)")
    find_p.set_defaults(run=find)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _cell(text: str, width: int) -> str:
    """``text`` cut and padded to ``width`` terminal columns (wide characters count two)."""
    if _width(text) > width:
        out, used = [], 0
        for ch in text:
            w = _width(ch)
            if used + w > width - 1:
                break
            out.append(ch)
            used += w
        text = "".join(out) + "…"
    return text + " " * (width - _width(text))


def table(corporations: Sequence[Corporation]) -> list[str]:
    """The rows as aligned lines, a header first; facts are marked with ``*``."""
    lines = ["  ".join(_cell(title, width) for title, width in _COLUMNS).rstrip()]
    for c in corporations:
        cells = (c.number + ("*" if c.fact else ""), c.name, c.kana, c.address, c.assigned)
        lines.append(
            "  ".join(_cell(v, w) for v, (_, w) in zip(cells, _COLUMNS, strict=True)).rstrip()
        )
    return lines


async def find(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    found = default_index().find(args.query, limit=args.limit)
    if not found.total:
        what = f"number {found.query}" if found.by == "number" else f"name {found.query!r}"
        print(f"no corporation with {what}", file=out)
        return 1
    for line in table(found.corporations):
        print(line, file=out)
    shown = len(found.corporations)
    more = f" (first {shown} shown; --limit for more)" if shown < found.total else ""
    print(f"{found.total} corporation(s){more}; * a real, published entry", file=out)
    return 0
