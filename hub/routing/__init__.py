"""The legal table, the office registry, authorization and the router service.

See ``hub/routing/README.md``.
"""

from hub.routing.exceptions import (
    ForgedContext,
    MalformedRegistry,
    MalformedTable,
    RoutingError,
    UnknownOffice,
)
from hub.routing.legal import Decision, DecisionCode, LegalTable, Row, load_table
from hub.routing.legal import load_default as load_default_table
from hub.routing.offices import Office, Registry, authorize, load_registry
from hub.routing.offices import load_default as load_default_registry

__all__ = [
    "Decision",
    "DecisionCode",
    "ForgedContext",
    "LegalTable",
    "MalformedRegistry",
    "MalformedTable",
    "Office",
    "Registry",
    "RoutingError",
    "Row",
    "UnknownOffice",
    "authorize",
    "load_default_registry",
    "load_default_table",
    "load_registry",
    "load_table",
]
