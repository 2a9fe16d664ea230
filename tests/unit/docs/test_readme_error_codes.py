"""Each package's README table of error codes lists exactly the codes its exceptions module
declares (an error code is declared once; the table is checked, not trusted)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import hub.bus.exceptions
import token_service.exceptions

ROOT = Path(__file__).resolve().parents[3]
ROW = re.compile(r"^\| `([a-z_]+\.[a-z_]+)` \| `(\w+)`", re.MULTILINE)
PACKAGES = [
    ("token_service/README.md", token_service.exceptions.TokenError),
    ("hub/bus/README.md", hub.bus.exceptions.BusError),
]


def declared(root: type[Exception]) -> dict[str, str]:
    """code -> exception name, over the root and every exception under it."""
    seen, todo = {}, [root]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        seen[cls.code] = cls.__name__  # type: ignore[attr-defined]
    return seen


@pytest.mark.parametrize(("readme", "root"), PACKAGES, ids=[p for p, _ in PACKAGES])
def test_the_readme_table_lists_exactly_the_declared_codes(
    readme: str, root: type[Exception]
) -> None:
    table = dict(ROW.findall((ROOT / readme).read_text(encoding="utf-8")))
    prefix = root.code.split(".")[0] + "."  # type: ignore[attr-defined]
    table = {code: name for code, name in table.items() if code.startswith(prefix)}
    assert table == declared(root)
