"""The portal rules (hub/routing/portal.py): what the resident portal may ask, and why not."""

from __future__ import annotations

import pytest

from hub.routing import offices
from hub.routing.portal import authorize_portal, is_portal


def test_the_portal_is_the_office_of_kind_portal(registry: offices.Registry) -> None:
    assert is_portal(registry, "myna-portal")
    assert not is_portal(registry, "chiyoda-child")
    assert not is_portal(registry, "nowhere")


@pytest.mark.parametrize(
    ("affair", "provider", "items", "document"),
    [
        ("disclosure", "hub", ("access_records",), False),
        ("disclosure", "hub", ("access_records", "record_check"), False),
        ("self_information", "chiyoda-resident", ("resident_record",), False),
        ("self_information", "chiyoda-tax", ("local_tax",), False),
        ("application", "nta", ("tax_return",), True),
        ("application", "chiyoda-resident", ("moving",), True),
        ("application", "chiyoda-child", ("child_allowance",), True),
    ],
)
def test_allowed(
    registry: offices.Registry,
    affair: str,
    provider: str,
    items: tuple[str, ...],
    document: bool,
) -> None:
    decision = authorize_portal(registry, affair, provider, items, has_document=document)
    assert decision.allowed, decision.reason


@pytest.mark.parametrize(
    ("affair", "provider", "items", "document", "code", "why"),
    [
        ("disclosure", "chiyoda-resident", ("access_records",), False, "no_row", "the hub"),
        ("disclosure", "hub", ("local_tax",), False, "no_row", "access_records"),
        ("disclosure", "hub", ("access_records",), True, "no_row", "the hub"),
        (
            "self_information",
            "chiyoda-resident",
            ("local_tax",),
            False,
            "item_not_held",
            "local_tax",
        ),
        ("self_information", "chiyoda-tax", ("local_tax",), True, "item_not_held", "holds"),
        ("self_information", "minato-tax", ("local_tax",), False, "unknown_provider", "minato"),
        ("application", "nta", ("tax_return",), False, "no_row", "signed document"),
        ("application", "nta", ("moving",), True, "no_row", "tax_return"),
        ("application", "nta", ("tax_return", "moving"), True, "no_row", "takes"),
        ("application", "jlis", ("tax_return",), True, "no_row", "none"),
        ("child_allowance", "chiyoda-tax", ("local_tax",), False, "affair_not_performed", "only"),
        ("x" * 500, "hub", ("access_records",), False, "affair_not_performed", "only"),
    ],
)
def test_refused_with_the_reason(
    registry: offices.Registry,
    affair: str,
    provider: str,
    items: tuple[str, ...],
    document: bool,
    code: str,
    why: str,
) -> None:
    decision = authorize_portal(registry, affair, provider, items, has_document=document)
    assert not decision.allowed
    assert decision.code == code
    assert why in decision.reason
    assert len(decision.reason) < 400  # an oversized affair is not echoed whole
