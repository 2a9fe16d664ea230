"""Offices assembled from the roles the registry names: checked at load, built by name."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import pytest

from hub.node import Roles
from hub.routing import MalformedRegistry, load_default_registry, load_default_table
from hub.routing.offices import ROLES, parse_registry
from renkei.roles import BUILDERS, Part, Seat, assemble

TABLE = load_default_table()
TEXT = (resources.files("hub.routing") / "offices.toml").read_text(encoding="utf-8")


def test_an_unknown_role_is_a_load_error_naming_the_office() -> None:
    text = TEXT.replace('roles = ["portal"]', 'roles = ["portal", "fortune_teller"]')
    with pytest.raises(MalformedRegistry) as caught:
        parse_registry(text, TABLE)
    assert caught.value.problems == (
        f"offices.myna-portal: plays unknown role 'fortune_teller' (one of {sorted(ROLES)})",
    )


def test_an_office_that_accepts_applications_plays_that_role() -> None:
    text = TEXT.replace('roles = ["applications"]', "roles = []")  # nta still accepts tax_return
    with pytest.raises(MalformedRegistry) as caught:
        parse_registry(text, TABLE)
    assert caught.value.problems == (
        "offices.nta: an office that accepts applications plays the applications role",
    )


def test_every_role_of_the_registry_has_a_builder() -> None:
    assert set(BUILDERS) == ROLES


def test_roles_merge_and_refuse_two_objects_for_one_role() -> None:
    a, b = object(), object()
    assert Roles(provider=a).merge(Roles(inbox=b)) == Roles(provider=a, inbox=b)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="provider"):
        Roles(provider=a).merge(Roles(provider=b))  # type: ignore[arg-type]


@dataclass
class Closer:
    async def __call__(self) -> None:
        return None


def seat(code: str, listener: Any = None) -> Seat:
    office = load_default_registry(TABLE).get(code)
    return Seat(office, None, None, None, TABLE, None, None, listener)  # type: ignore[arg-type]


def test_an_office_is_assembled_from_its_named_roles_in_order() -> None:
    register, receiver, close = object(), object(), Closer()
    builders = {
        "resident_register": lambda s: Part(Roles(provider=register), register, close),  # type: ignore[arg-type]
        "applications": lambda s: Part(Roles(applications=receiver)),  # type: ignore[arg-type]
    }
    listener = object()
    made = assemble(seat("chiyoda-resident", listener), builders)
    assert made.roles == Roles(provider=register, applications=receiver, listener=listener)  # type: ignore[arg-type]
    assert made.app is register and made.closers == (close,) and made.deadline is None


def test_a_role_nothing_builds_names_the_office() -> None:
    with pytest.raises(LookupError, match="chiyoda-resident plays role 'resident_register'"):
        assemble(seat("chiyoda-resident"), {})


def test_two_roles_filling_one_slot_name_the_office() -> None:
    one = {
        "resident_register": lambda s: Part(Roles(provider=object())),  # type: ignore[arg-type]
        "applications": lambda s: Part(Roles(provider=object())),  # type: ignore[arg-type]
    }
    with pytest.raises(ValueError, match="chiyoda-resident: two objects for the provider role"):
        assemble(seat("chiyoda-resident"), one)


def test_an_office_with_no_roles_only_asks() -> None:
    made = assemble(seat("jasso"))
    assert made == type(made)(Roles(), None, (), None)
