"""Small legal tables and registries, as TOML text, for tests of defects and dates."""

from __future__ import annotations

HEADER = """
version = "test.1"
law = "行政手続における特定の個人を識別するための番号の利用等に関する法律"
law_id = "425AC0000000027"
as_of = 2025-09-24
note = "test table; every row is a model"

[kinds.municipality]
ja = "市町村長"
en = "Mayor"

[kinds.prefecture]
ja = "都道府県知事等"
en = "Governor etc."

[affairs.child_allowance]
ja = "児童手当の支給"
en = "Child allowance"
current_row = "八十一"
domain = "welfare"

[items.local_tax]
ja = "地方税関係情報"
en = "Local tax information"
source = "model"

[items.resident_record]
ja = "住民票関係情報"
en = "Resident record information"
source = "model"
"""


def row(
    row_id: str = "r01",
    *,
    requester: str = "municipality",
    affair: str = "child_allowance",
    provider: str = "municipality",
    items: str = '["local_tax"]',
    current_row: str = '"八十一"',
    effective_from: str = "2017-11-13",
    effective_until: str | None = None,
    extra: str = "",
) -> str:
    """One ``[[rows]]`` table; values are TOML literals so tests can break them."""
    until = f"effective_until = {effective_until}\n" if effective_until else ""
    return f"""
[[rows]]
id = "{row_id}"
old_row = "74"
current_row = {current_row}
requester = "{requester}"
affair = "{affair}"
provider = "{provider}"
items = {items}
effective_from = {effective_from}
{until}source = "model"
note = "test row"
{extra}"""


def table(*rows: str) -> str:
    return HEADER + "".join(rows or (row(),))


REGISTRY_HEADER = """
version = "test.1"
"""


def office(
    code: str = "chiyoda-tax",
    *,
    kind: str = "municipality",
    municipality: str | None = '"131016"',
    affairs: str = '["child_allowance"]',
    provides: str = '["local_tax"]',
    extra: str = "",
) -> str:
    """One ``[offices.<code>]`` table; values are TOML literals so tests can break them."""
    number = f"municipality = {municipality}\n" if municipality else ""
    return f"""
[offices.{code}]
name_ja = "テスト"
name_en = "Test office"
kind = "{kind}"
{number}affairs = {affairs}
provides = {provides}
{extra}"""


def registry(*offices: str) -> str:
    return REGISTRY_HEADER + "".join(offices or (office(),))
