"""Every error code is declared once, in its package's exceptions module, and used by name; the
"Error codes" table of the package's README lists exactly the codes declared there.

A code is declared as the ``code`` of an exception class, or — for a code no exception carries
(a refusal, a dead letter's reason) — as an upper-case constant whose value is the code. The
legal table's refusals are ``routing.`` and a ``DecisionCode`` (``hub.routing.law_code``).
"""

from __future__ import annotations

import ast
import importlib
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import get_args

import pytest

from hub.routing.exceptions import law_code
from hub.routing.legal import DecisionCode

ROOT = Path(__file__).resolve().parents[3]
SOURCES = (
    "agencies",
    "card_service",
    "hub",
    "loadtest",
    "issuance",
    "kiosk",
    "monitor",
    "pki",
    "portal",
    "renkei",
    "token_service",
)
PACKAGES = {  # README -> the modules that declare its codes
    "agencies/README.md": ("agencies.exceptions", "agencies.jlis.exceptions"),
    "agencies/corporations/README.md": ("agencies.corporations.exceptions",),
    "agencies/population/README.md": ("agencies.population.exceptions",),
    "card_service/README.md": ("card_service.exceptions",),
    "hub/bus/README.md": ("hub.bus.exceptions",),
    "hub/node/README.md": ("hub.node.exceptions",),
    "hub/records/README.md": ("hub.records.exceptions",),
    "hub/routing/README.md": ("hub.routing.exceptions",),
    "hub/tracing/README.md": ("hub.tracing.exceptions",),
    "hub/wire/README.md": ("hub.wire.exceptions",),
    "loadtest/README.md": ("loadtest.exceptions",),
    "issuance/README.md": ("issuance.exceptions",),
    "kiosk/README.md": ("kiosk.exceptions",),
    "monitor/README.md": ("monitor.exceptions",),
    "pki/README.md": ("pki.exceptions",),
    "portal/README.md": ("portal.exceptions",),
    "renkei/README.md": ("renkei.exceptions",),
    "token_service/README.md": ("token_service.exceptions",),
}
CODE = re.compile(r"(?:<office>|[a-z_]+)(?:\.[a-z_]+)+")
WIRE_CODE = re.compile(r"[a-z_]+(?:\.[a-z_]+)+")  # hub.wire's ``Code``
NOT_CODES = {  # strings that only look like a code: (file, string)
    ("hub/records/witness.py", "records.witness"),  # the witness file's name
    ("renkei/card_commands.py", "card.state"),  # the card state file's name
}
HEADING = re.compile(r"^#+ Error codes\s*$", re.MULTILINE)
ROW = re.compile(r"^\| `([^`]+)` \|(.*)\|\s*$")


def declarations(module: ModuleType) -> Iterator[tuple[str, str]]:
    """(code, the exception's name, or "" for a constant) for each code the module declares."""
    for name, value in vars(module).items():
        if isinstance(value, type) and value.__module__ == module.__name__:
            code = value.__dict__.get("code")
            if isinstance(code, str):
                yield code, name
        elif name.isupper() and isinstance(value, str) and CODE.fullmatch(value):
            yield value, ""
    if module.__name__ == "hub.routing.exceptions":
        for decision in get_args(DecisionCode):
            if decision != "allowed":
                yield law_code(decision), ""


def declared(readme: str) -> list[tuple[str, str]]:
    return [d for m in PACKAGES[readme] for d in declarations(importlib.import_module(m))]


def table(readme: str) -> list[tuple[str, str]]:
    """The rows of the README's "Error codes" section: (code, the rest of the row)."""
    text = (ROOT / readme).read_text(encoding="utf-8")
    found = HEADING.search(text)
    assert found, f"{readme} has no 'Error codes' heading"
    rows = []
    for line in text[found.end() :].splitlines():
        if line.startswith("#"):
            break
        if row := ROW.match(line):
            rows.append((row[1], row[2]))
    return rows


@pytest.mark.parametrize("readme", sorted(PACKAGES))
def test_the_readme_table_lists_exactly_the_declared_codes(readme: str) -> None:
    codes = declared(readme)
    rows = table(readme)
    assert sorted(c for c, _ in rows) == sorted(c for c, _ in codes)
    exceptions = dict(codes)
    for code, rest in rows:  # an exception's row names it
        name = exceptions[code]
        assert not name or f"`{name}`" in rest, f"{readme}: the row of {code} names {name}"


def test_every_exceptions_module_has_its_readme() -> None:
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for top in SOURCES
        for p in (ROOT / top).rglob("exceptions.py")
    }
    assert modules == {m for ms in PACKAGES.values() for m in ms}


def all_declared() -> list[tuple[str, str]]:
    return [d for readme in PACKAGES for d in declared(readme)]


def test_a_code_is_declared_once_and_fits_the_wire() -> None:
    codes = [code for code, _ in all_declared()]
    assert [c for c, n in Counter(codes).items() if n > 1] == []
    for code in codes:
        wire = code.replace("<office>", "chiyoda_resident")
        assert WIRE_CODE.fullmatch(wire) and len(wire) <= 64, code


def test_no_code_is_typed_outside_its_declaration() -> None:
    """A code goes by its name: no other module spells one out, alone or before a reason."""
    codes = {code for code, _ in all_declared() if "<" not in code}
    declaring = {
        ROOT.joinpath(*m.split(".")).with_suffix(".py") for ms in PACKAGES.values() for m in ms
    }
    typed = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path in declaring:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    word = node.value.split(":", 1)[0]
                    where = str(path.relative_to(ROOT))
                    if word in codes and (where, word) not in NOT_CODES:
                        typed.append(f"{where}:{node.lineno} {word}")
    assert typed == []
