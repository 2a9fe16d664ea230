"""The office registry, and :func:`authorize`: the full pure check the router runs per query.

The registry lists the offices that exist on the network: each has a kind of the legal table,
the affairs it performs as a requester (情報照会者) and the information items it holds as a
provider (情報提供者). It is validated against the legal table at load; a malformed file
raises :class:`~hub.routing.exceptions.MalformedRegistry` listing every defect.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import date
from importlib import resources
from os import PathLike
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BeforeValidator, StringConstraints, ValidationError

from hub.numbers import municipal_check_digit
from hub.routing.exceptions import MalformedRegistry, UnknownOffice, shown, validation_problems
from hub.routing.legal import Acting, Decision, LegalTable, refuse
from hub.routing.legal_table_schema import Code, Strict, Text, as_tuple

__all__ = [
    "APPLICATION_KINDS",
    "ROLES",
    "Office",
    "Registry",
    "authorize",
    "in_house",
    "kind_asking",
    "kind_providing",
    "load_default",
    "load_registry",
    "parse_registry",
]

APPLICATION_KINDS = frozenset({"moving", "child_allowance", "tax_return"})
# what an office's own code does on the network, by name; the composition root builds each
# role's objects (``renkei/roles.py``), the registry only says which an office plays
ROLES = frozenset(
    {
        "applications",  # takes the signed applications it ``accepts``
        "certification",  # J-LIS's certification service: names card holders, revokes
        "child_allowance",  # a municipality's child allowance office (asks, decides)
        "issuance_centre",  # J-LIS's certificate issuance centre (コンビニ交付): asks, prints
        "item_provider",  # answers queries for the items it ``provides``, from its store
        "local_tax",  # a municipality's tax office (answers local_tax)
        "number_resolver",  # J-LIS: resolves numbers (enrollment)
        "portal",  # the resident portal: reads its inbox, asks for the resident
        "resident_register",  # a municipality's resident register (answers resident_record)
    }
)
OfficeCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
Codes = Annotated[tuple[Code, ...], BeforeValidator(as_tuple)]


class _Entry(Strict):
    name_ja: Text
    name_en: Text
    kind: Code
    acts_as: Code | None = None  # a kind it acts as where the table's ``acting`` says so
    municipality: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = None
    affairs: Codes = ()
    provides: Codes = ()
    accepts: Codes = ()  # electronic applications it takes from the portal (APPLICATION_KINDS)
    roles: Codes = ()  # what its own code does on the network (ROLES); none: it only asks


class Office(_Entry):
    """An office of the network; ``code`` is its identity on the bus."""

    code: OfficeCode


class _RegistryFile(Strict):
    version: Text
    note: str = ""
    offices: dict[OfficeCode, _Entry]


class Registry:
    """The validated offices of the network, by code; built once, never changed."""

    def __init__(self, version: str, offices: Iterable[Office]) -> None:
        self.version = version
        self._offices: Mapping[str, Office] = MappingProxyType({o.code: o for o in offices})

    def get(self, code: str) -> Office:
        """The office with this code; :class:`UnknownOffice` if there is none."""
        office = self._offices.get(code)
        if office is None:
            raise UnknownOffice(code, len(self._offices))
        return office

    def offices(self) -> tuple[Office, ...]:
        """Every office, in file order."""
        return tuple(self._offices.values())

    def __contains__(self, code: object) -> bool:
        return code in self._offices

    def __iter__(self) -> Iterator[Office]:
        return iter(self._offices.values())

    def __len__(self) -> int:
        return len(self._offices)


def _acting(table: LegalTable, office: _Entry) -> Acting | None:
    return None if office.acts_as is None else table.acting(office.acts_as, office.kind)


def kind_asking(table: LegalTable, office: _Entry, affair: str) -> tuple[str, Acting | None]:
    """The kind ``office`` asks as for ``affair``: the one it ``acts_as`` where the law has it
    act so (a ward's welfare office as 都道府県知事等 in 生活保護), else its own."""
    acting = _acting(table, office)
    if acting is not None and office.acts_as is not None and affair in acting.affairs:
        return office.acts_as, acting
    return office.kind, None


def kind_providing(
    table: LegalTable, office: _Entry, items: Iterable[str]
) -> tuple[str, Acting | None]:
    """The kind ``office`` answers ``items`` as: the one it ``acts_as`` if it holds any of them
    in that capacity (a ward's 児童扶養手当関係情報, as 都道府県知事等), else its own."""
    acting = _acting(table, office)
    held = acting is not None and any(item in acting.items for item in items)
    if acting is not None and office.acts_as is not None and held:
        return office.acts_as, acting
    return office.kind, None


def _who(table: LegalTable, office: Office, kind: str, acting: Acting | None) -> str:
    if acting is None:
        return f"{office.code} is a {office.kind}"
    name = table.kinds[kind].ja
    return f"{office.code} is a {office.kind} acting as {kind} ({name}: {acting.basis})"


def authorize(  # noqa: PLR0917 -- the router's call mirrors the table's five columns + date
    table: LegalTable,
    registry: Registry,
    requester_code: str,
    affair: str,
    provider_code: str,
    items: Iterable[str],
    on: date,
) -> Decision:
    """May office ``requester_code`` ask office ``provider_code`` for ``items`` for ``affair``?

    In order: both offices are registered; they are not two offices of one municipality (庁内
    連携, :func:`in_house`); the affair and items exist; the requester performs
    the affair; the legal table allows its kind to ask the provider's kind for every item on
    ``on``; the provider holds every item. The first failure is the refusal, with its reason.
    """
    off_network = _off_network(registry, requester_code, provider_code)
    if off_network is not None:
        return off_network
    requester, provider = registry.get(requester_code), registry.get(provider_code)
    wanted = tuple(dict.fromkeys((items,) if isinstance(items, str) else items))
    asks, acting_asker = kind_asking(table, requester, affair)
    answers, acting_giver = kind_providing(table, provider, wanted)
    if not wanted or affair not in table.affairs or any(i not in table.items for i in wanted):
        return table.check(asks, affair, answers, wanted, on)
    if affair not in requester.affairs:
        performs = ", ".join(requester.affairs) or "no affair"
        return refuse(
            "affair_not_performed",
            f"{requester.code} does not perform {affair} (it performs: {performs})",
        )
    decision = table.check(asks, affair, answers, wanted, on)
    if not decision.allowed:
        asker = _who(table, requester, asks, acting_asker)
        who = f"{asker}, {_who(table, provider, answers, acting_giver)}"
        return replace(decision, reason=f"{who}: {decision.reason}")
    missing = [item for item in wanted if item not in provider.provides]
    if missing:
        holds = ", ".join(provider.provides) or "nothing"
        return refuse(
            "item_not_held",
            f"{provider.code} does not hold {', '.join(missing)} (it provides: {holds})",
        )
    return decision


def in_house(requester: Office, provider: Office) -> Decision | None:
    """A refusal when both offices are of one municipality: inside one 地方公共団体 its offices
    use what it holds under its own 条例 (番号法 第9条第2項, 庁内連携: REGISTER-FACTS §7), and
    the information-provision network is for another 団体 or a national office (第19条)."""
    here = requester.municipality
    if here is None or here != provider.municipality:
        return None
    return refuse(
        "in_house",
        f"{requester.code} and {provider.code} are offices of one municipality ({here}): inside"
        " it the data moves by its own in-house link (庁内連携, 番号法 第9条第2項 and its 条例),"
        " not by the information-provision network",
    )


def _off_network(registry: Registry, requester: str, provider: str) -> Decision | None:
    """Not a network exchange: an office unknown to it, or two of one municipality."""
    if requester not in registry:
        reason = f"requester {shown(requester)} is not an office of the network"
        return refuse("unknown_requester", reason)
    if provider not in registry:
        reason = f"provider {shown(provider)} is not an office of the network"
        return refuse("unknown_provider", reason)
    return in_house(registry.get(requester), registry.get(provider))


def _problems(offices: Mapping[str, _Entry], table: LegalTable) -> list[str]:
    """Defects against the legal table, and municipal codes with a wrong check digit."""
    asks = {(row.requester, row.affair) for row in table.rows()}
    answers = {(row.provider, item) for row in table.rows() for item in row.items}
    problems = []
    for code, office in offices.items():
        at, kind = f"offices.{code}", office.kind
        if kind not in table.kinds:
            problems.append(f"{at}: unknown kind {kind!r} (not a kind of the legal table)")
        problems.extend(f"{at}: {p}" for p in _municipality_problems(office))
        problems.extend(f"{at}: {p}" for p in _acting_problems(office, table))
        known = kind in table.kinds
        for affair in office.affairs:
            asked = kind_asking(table, office, affair)[0]
            if affair not in table.affairs:
                problems.append(f"{at}: unknown affair {affair!r} (not in the legal table)")
            elif known and (asked, affair) not in asks:
                problems.append(f"{at}: performs {affair}, but no row lets a {asked} ask for it")
        for item in office.provides:
            giver = kind_providing(table, office, (item,))[0]
            if item not in table.items:
                problems.append(f"{at}: unknown item {item!r} (not in the legal table)")
            elif known and (giver, item) not in answers:
                problems.append(f"{at}: provides {item}, but no row asks a {giver} for it")
        problems.extend(
            f"{at}: takes unknown application {kind!r} (one of {sorted(APPLICATION_KINDS)})"
            for kind in office.accepts
            if kind not in APPLICATION_KINDS
        )
        problems.extend(_role_problems(at, office))
        for field in ("affairs", "provides", "accepts", "roles"):
            values: tuple[str, ...] = getattr(office, field)
            if len(set(values)) != len(values):
                problems.append(f"{at}.{field}: a code is listed twice in {list(values)}")
    return problems


def _acting_problems(office: _Entry, table: LegalTable) -> list[str]:
    """``acts_as`` only where the table lets the office's kind act so, and used."""
    if office.acts_as is None:
        return []
    acting = table.acting(office.acts_as, office.kind)
    if acting is None:
        return [f"acts as {office.acts_as!r}, but the legal table has no {office.kind} act so"]
    if not set(office.affairs) & set(acting.affairs) and not set(office.provides) & set(
        acting.items
    ):
        return [f"acts as {office.acts_as!r} in none of its affairs or items"]
    return []


def _role_problems(at: str, office: _Entry) -> list[str]:
    problems = [
        f"{at}: plays unknown role {role!r} (one of {sorted(ROLES)})"
        for role in office.roles
        if role not in ROLES
    ]
    if bool(office.accepts) != ("applications" in office.roles):
        problems.append(f"{at}: an office that accepts applications plays the applications role")
    return problems


def _municipality_problems(office: _Entry) -> list[str]:
    number = office.municipality
    if number is None:
        needed = office.kind == "municipality"
        return ["an office of kind municipality needs a municipality code"] if needed else []
    expected = f"{number[:5]}{municipal_check_digit(number[:5])}"
    if number != expected:
        return [f"municipality {number} has a wrong check digit (expected {expected})"]
    return []


def parse_registry(text: str, table: LegalTable, source: str = "<string>") -> Registry:
    """Validate the TOML text of an office registry against ``table``."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MalformedRegistry.single(source, f"not valid TOML: {exc}") from None
    try:
        file = _RegistryFile.model_validate(data)
    except ValidationError as exc:
        raise MalformedRegistry(source, validation_problems(exc, data)) from None
    problems = _problems(file.offices, table)
    if problems:
        raise MalformedRegistry(source, problems)
    offices = (Office(code=code, **entry.model_dump()) for code, entry in file.offices.items())
    return Registry(file.version, offices)


def load_registry(path: str | PathLike[str], table: LegalTable) -> Registry:
    """Read and validate the office registry at ``path`` against ``table``."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedRegistry.single(str(path), f"cannot be read: {exc}") from None
    return parse_registry(text, table, str(path))


def load_default(table: LegalTable) -> Registry:
    """The registry shipped with the package (``hub/routing/offices.toml``)."""
    resource = resources.files("hub.routing") / "offices.toml"
    return parse_registry(resource.read_text(encoding="utf-8"), table, "hub/routing/offices.toml")
