"""Each office's roles, built by name: the registry names what an office's code does
(``roles`` in offices.toml, checked against ``hub.routing.offices.ROLES`` at load); this table
says which of our implementations plays each role. ``assemble`` builds an office's role
objects from its names, so no office is guessed from the data it happens to hold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agencies.applications import SignedApplications, Then
from agencies.item_office import ItemOffice
from agencies.jlis.numbers import NumberGenerator
from agencies.jlis.registry import Jlis
from agencies.municipality.child_allowance import ChildAllowance
from agencies.municipality.child_claims import Claims, check_form
from agencies.municipality.in_house import InHouse
from agencies.municipality.issuance import Printer
from agencies.municipality.local_tax import LocalTax
from agencies.municipality.moving import MovedOut
from agencies.municipality.register_desk import JlisRegister, RegisterDesk
from agencies.municipality.resident_register import ResidentRegister
from hub.node import ChangeListener, OfficeNode, OfficeStore, Roles
from hub.routing import LegalTable, Office, Registry
from hub.routing.portal import PORTAL_KIND
from issuance import IssuanceCentre
from issuance.pdf import certificate_printer
from issuance.seal import Seal
from pki.ca.office import CaListener
from portal.office import PortalOffice
from renkei.pki_checks import PkiSignatureCheck, cms_signer
from renkei.secrets import TOKEN, State

__all__ = ["BUILDERS", "PORTAL_DEADLINE", "Assembly", "Part", "Seat", "assemble"]

PORTAL_DEADLINE = dt.timedelta(seconds=4)  # a page waits no longer for an office


@dataclass(frozen=True, slots=True)
class Seat:
    """What a role's objects are built from: the office, its node, its store, the rules."""

    office: Office
    node: OfficeNode
    store: OfficeStore
    registry: Registry
    table: LegalTable
    state: State
    signatures: PkiSignatureCheck | None = None  # none: the office takes no applications
    listener: ChangeListener | None = None  # supplied by the caller (the CA for jlis-pki)
    seal: Seal | None = None  # a municipal office's 公印 for certificate PDFs (none: data only)
    # another office's store, by code: what the municipality's in-house link reads (庁内連携)
    stores: Callable[[str], OfficeStore] | None = None
    apps: Mapping[str, Any] | None = None  # the own code of the offices started before it
    juki: JlisRegister | None = None  # a register's link to J-LIS over 住基ネット


@dataclass(frozen=True, slots=True)
class Part:
    """What one role brings: its role objects, the office's own code (``Network.apps``), what
    to close when the network stops, and a deadline of its own for the node's requests."""

    roles: Roles = field(default_factory=Roles)
    app: Any = None
    close: Callable[[], Awaitable[None]] | None = None
    deadline: dt.timedelta | None = None
    start: Callable[[], Awaitable[None]] | None = None  # once the node runs (e.g. resume work)


def _number_resolver(s: Seat) -> Part:
    jlis = Jlis(s.store, NumberGenerator(s.state.secret_of("jlis")), s.state.public[TOKEN].seal)
    return Part(Roles(resolver=jlis), jlis)


def _printer(s: Seat) -> Printer | None:
    return None if s.seal is None else certificate_printer(s.seal)


def _resident_register(s: Seat) -> Part:
    register = ResidentRegister(s.store, _printer(s))
    return Part(Roles(provider=register), register)


def _local_tax(s: Seat) -> Part:
    tax = LocalTax(s.store, _printer(s))
    return Part(Roles(provider=tax), tax)


def _item_provider(s: Seat) -> Part:
    office = ItemOffice(s.store, frozenset(s.office.provides))
    return Part(Roles(provider=office), office)


def _allowance(s: Seat) -> ChildAllowance:
    municipality = s.office.municipality
    register = _office_providing(s.registry, "resident_record", municipality)
    tax = _office_providing(s.registry, "local_tax", municipality)
    if s.stores is None or municipality is None:
        raise LookupError(f"{s.office.code}: a child allowance office needs its in-house link")
    link = InHouse(municipality, s.stores(register), s.stores(tax))
    return ChildAllowance(s.node, s.store, in_house=link)


def _child_allowance(s: Seat) -> Part:
    return Part(app=_allowance(s))


def _portal(s: Seat) -> Part:
    portal = PortalOffice(s.node, s.registry, s.table, cms_signer)
    sending = portal.sending  # applications sent again: taken up again at a start
    return Part(
        Roles(inbox=portal),
        portal,
        deadline=PORTAL_DEADLINE,
        start=sending.resume,
        close=sending.close,
    )


def _issuance_centre(s: Seat) -> Part:
    """J-LIS's certificate issuance centre: it only asks (its card check is set by the process
    that serves kiosks, ``renkei run issuance-centre``)."""
    return Part(app=IssuanceCentre(s.node), deadline=PORTAL_DEADLINE)


def _applications(s: Seat) -> Part:
    if s.signatures is None:  # no signature check configured: it takes none (as a node would)
        return Part()
    code = s.office.code
    then: Then | None = None
    if "moving" in s.office.accepts:  # 転出届 online: filed as the desk files it
        then = MovedOut(s.node, _desk(s))
    claims: Claims | None = None
    if "child_allowance" in s.office.accepts:  # 認定請求: fetched, decided, told
        claims = Claims(_allowance(s), _portal_code(s.registry))
        then = _checked_form(code)
    register = "resident_record" in s.office.provides
    received = SignedApplications(
        code,
        s.store,
        s.signatures.for_office(code),
        then,
        register=register,
        after=None if claims is None else claims.filed,
    )
    if claims is None:
        return Part(Roles(applications=received))
    return Part(Roles(applications=received), start=claims.resume, close=claims.close)


def _desk(s: Seat) -> RegisterDesk | None:
    """The register's desk, with its link to J-LIS over 住基ネット (none: no J-LIS to note with)."""
    if s.juki is None or s.office.municipality is None:
        return None
    return RegisterDesk(s.node, s.store, s.juki, s.office.municipality)


def _checked_form(office: str) -> Then:
    async def check(application_id: str, person: str, kind: str, form: Mapping[str, Any]) -> None:
        check_form(office, form)

    return check


def _portal_code(registry: Registry) -> str:
    return next(o.code for o in registry if o.kind == PORTAL_KIND)


def _certification(s: Seat) -> Part:
    """J-LIS's certification service: the CA the caller runs names card holders; it keeps its
    certificate links in the office's store (J-LIS's notices of moves and deaths reach it over
    住基ネット: ``network._start_office`` starts its ``CaNotices``)."""
    ca = s.listener
    if ca is None:  # this process runs no CA: the office identifies no one
        return Part()
    if not isinstance(ca, CaListener):
        raise TypeError(f"{s.office.code} plays certification: its listener must be a CaListener")
    ca.store = s.store
    return Part(Roles(identifier=ca), close=ca.close)


BUILDERS: Mapping[str, Callable[[Seat], Part]] = {
    "applications": _applications,
    "certification": _certification,
    "child_allowance": _child_allowance,
    "issuance_centre": _issuance_centre,
    "item_provider": _item_provider,
    "local_tax": _local_tax,
    "number_resolver": _number_resolver,
    "portal": _portal,
    "resident_register": _resident_register,
}


@dataclass(frozen=True, slots=True)
class Assembly:
    """An office's roles, joined: what its node plays, its own code, what to close."""

    roles: Roles
    app: Any  # the first role's own code (None: the office only asks)
    closers: tuple[Callable[[], Awaitable[None]], ...]
    deadline: dt.timedelta | None
    starters: tuple[Callable[[], Awaitable[None]], ...] = ()


def assemble(seat: Seat, builders: Mapping[str, Callable[[Seat], Part]] = BUILDERS) -> Assembly:
    """Every role the office plays, in the registry's order, and the caller's listener;
    ``LookupError`` naming the office for a role nothing builds, ``ValueError`` naming it for
    two objects in one role."""
    office = seat.office
    parts = [Part(Roles(listener=seat.listener))] if seat.listener is not None else []
    for name in office.roles:
        build = builders.get(name)
        if build is None:
            raise LookupError(f"{office.code} plays role {name!r}, which nothing here builds")
        parts.append(build(seat))
    roles = Roles()
    for part in parts:
        try:
            roles = roles.merge(part.roles)
        except ValueError as exc:
            raise ValueError(f"{office.code}: {exc}") from None
    return Assembly(
        roles=roles,
        app=next((p.app for p in parts if p.app is not None), None),
        closers=tuple(p.close for p in parts if p.close is not None),
        deadline=next((p.deadline for p in parts if p.deadline is not None), None),
        starters=tuple(p.start for p in parts if p.start is not None),
    )


def _office_providing(registry: Registry, item: str, municipality: str | None) -> str:
    for office in registry:
        if item in office.provides and office.municipality == municipality:
            return office.code
    raise LookupError(f"no office of municipality {municipality} provides {item}")
