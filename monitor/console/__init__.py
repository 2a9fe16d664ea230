"""The monitor's web console for officials (operators and auditors). See ``monitor/README.md``.

``create_app`` builds the aiohttp application over a span store, the officials and the action
log; ``renkei run monitor`` serves it on port 8480.
"""

from monitor.console.accounts import (
    Action,
    ActionLog,
    MemoryActionLog,
    MemoryOfficials,
    Officials,
    PgActionLog,
    PgOfficials,
)
from monitor.console.officials import Official, Role, new_official, provisioning_uri, totp
from monitor.console.web import DEFAULT_PORT, create_app

__all__ = [
    "DEFAULT_PORT",
    "Action",
    "ActionLog",
    "MemoryActionLog",
    "MemoryOfficials",
    "Official",
    "Officials",
    "PgActionLog",
    "PgOfficials",
    "Role",
    "create_app",
    "new_official",
    "provisioning_uri",
    "totp",
]
