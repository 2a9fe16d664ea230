"""The portal rules: what the resident portal may ask, always for the resident logged in.

The portal (マイナポータル) is party to no row of the legal table: it acts for the resident,
who may see their own access records (情報提供等記録の開示), their own information at each
office (自己情報), file electronic applications, and log in with the card. Each request still
goes through the hub under the portal's own token, is checked here, and is recorded, so the
resident sees the portal's own accesses too. Pure.
"""

from __future__ import annotations

from hub.routing.legal import Decision, refuse
from hub.routing.offices import Office, Registry

__all__ = [
    "APPLICATION",
    "DISCLOSURE",
    "IDENTIFYING_KINDS",
    "ISSUANCE_CENTRE_KIND",
    "LOGIN",
    "PORTAL_KIND",
    "SELF_INFORMATION",
    "authorize_portal",
    "is_portal",
    "may_identify",
]

PORTAL_KIND = "portal"
ISSUANCE_CENTRE_KIND = "issuance_centre"
IDENTIFYING_KINDS = frozenset({PORTAL_KIND, ISSUANCE_CENTRE_KIND})
DISCLOSURE = "disclosure"  # the hub answers: the person's records, and which offices hold them
SELF_INFORMATION = "self_information"  # an office answers: the items it provides
APPLICATION = "application"  # an office takes a signed application of a kind it accepts
LOGIN = "portal_login"  # jlis-pki names the holder of an authentication certificate
DISCLOSURE_ITEMS = frozenset({"access_records", "record_check", "holders"})
_ALLOWED = Decision(allowed=True, rows=("portal",), reason="portal rules", code="allowed")


def is_portal(registry: Registry, code: str) -> bool:
    return code in registry and registry.get(code).kind == PORTAL_KIND


def may_identify(registry: Registry, code: str) -> bool:
    """Whoever logs a resident in by the card: the portal, and the certificate issuance centre
    (コンビニ交付: the kiosk's card, checked by J-LIS, names the resident)."""
    return code in registry and registry.get(code).kind in IDENTIFYING_KINDS


def authorize_portal(
    registry: Registry,
    affair: str,
    provider: str,
    items: tuple[str, ...],
    *,
    has_document: bool,
) -> Decision:
    """May the portal ask ``provider`` for ``items`` under ``affair``? (The hub is ``hub``.)"""
    if affair == DISCLOSURE:
        if provider == "hub" and set(items) <= DISCLOSURE_ITEMS and not has_document:
            return _ALLOWED
        return refuse("no_row", "a disclosure asks the hub for access_records or record_check")
    if affair not in (SELF_INFORMATION, APPLICATION):
        return refuse(
            "affair_not_performed",
            f"the portal asks only for {DISCLOSURE}, {SELF_INFORMATION} or {APPLICATION}, "
            f"not {affair[:64]!r}",
        )
    if provider not in registry:
        return refuse("unknown_provider", f"provider {provider[:64]!r} is not an office")
    return _office_rule(registry.get(provider), affair, items, has_document=has_document)


def _office_rule(
    office: Office, affair: str, items: tuple[str, ...], *, has_document: bool
) -> Decision:
    provider = office.code
    if affair == SELF_INFORMATION:
        missing = [i for i in items if i not in office.provides]
        if not missing and not has_document:
            return _ALLOWED
        held = ", ".join(office.provides) or "nothing"
        return refuse(
            "item_not_held", f"{provider} does not hold {', '.join(missing)} (it holds {held})"
        )
    if len(items) == 1 and items[0] in office.accepts and has_document:
        return _ALLOWED
    takes = ", ".join(office.accepts) or "none"
    return refuse(
        "no_row",
        f"{provider} takes no {'/'.join(items)} application with a signed document "
        f"(it takes: {takes})",
    )
