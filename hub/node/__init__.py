"""The participant runtime: what every office runs on to join the network.

``OfficeNode`` (signing, sealing, the bus, deadlines, queries in flight), the role objects an
office plugs into it (``roles``), the office's own store and the errors an office raises. Part
of the kit every process imports; it imports no service. See ``hub/node/README.md``.
"""

from hub.node.exceptions import (
    OFFICE_TIMED_OUT,
    ApplicationRefused,
    BadRequest,
    EnrollmentRefused,
    NoRecord,
    NotIdentified,
    OfficeError,
    QueryRefused,
)
from hub.node.roles import (
    Applications,
    ChangeListener,
    Identifier,
    Inbox,
    Provider,
    Resolver,
    Roles,
)
from hub.node.runtime import EVENTS, Answer, OfficeNode
from hub.node.store import MemoryStore, OfficeStore, PgStore, schema_for

__all__ = [
    "EVENTS",
    "OFFICE_TIMED_OUT",
    "Answer",
    "ApplicationRefused",
    "Applications",
    "BadRequest",
    "ChangeListener",
    "EnrollmentRefused",
    "Identifier",
    "Inbox",
    "MemoryStore",
    "NoRecord",
    "NotIdentified",
    "OfficeError",
    "OfficeNode",
    "OfficeStore",
    "PgStore",
    "Provider",
    "QueryRefused",
    "Resolver",
    "Roles",
    "schema_for",
]
