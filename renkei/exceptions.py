"""renkei's errors and codes (``renkei/README.md``, "Error codes").

A command that cannot go on raises :class:`CommandError` with one of the ``RENKEI_*`` codes
below (each named after its code); ``renkei`` prints ``renkei: CODE: message`` and exits 2. The
state directory and the bulk load have exceptions of their own.
"""

from __future__ import annotations

from typing import Final

from agencies.population import PopulationError

__all__ = [
    "RENKEI_BAD_DATE",
    "RENKEI_BAD_OFFICIAL",
    "RENKEI_BAD_PARAM",
    "RENKEI_BAD_RECORD_ID",
    "RENKEI_CLUSTER",
    "RENKEI_NODE_FAILED",
    "RENKEI_NOT_ENROLLED",
    "RENKEI_NO_BROKER",
    "RENKEI_NO_CA",
    "RENKEI_NO_DATABASE",
    "RENKEI_NO_NETWORK",
    "RENKEI_NO_RABBITMQ",
    "RENKEI_NO_SUCH_RECORD",
    "RENKEI_PORT_IN_USE",
    "RENKEI_RABBITMQCTL",
    "RENKEI_SERVICE_FAILED",
    "RENKEI_TOKEN_ROTATION",
    "RENKEI_UNKNOWN_IDENTITY",
    "RENKEI_UNKNOWN_OFFICE",
    "RENKEI_USAGE",
    "CommandError",
    "GenerateError",
    "LoadError",
    "SecretsError",
]


class CommandError(Exception):
    """A command cannot go on; ``renkei`` prints ``renkei: CODE: message`` and exits 2."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SecretsError(Exception):
    """The state directory cannot be used as it is: a file missing, readable by others or not
    this role's, a folder that clashes."""

    code = "renkei.secrets"


class GenerateError(PopulationError):
    """The command cannot run as asked: no database, a bad option, data already there."""

    code = "population.cannot_generate"


class LoadError(PopulationError):
    """The bulk load cannot write: no schema, or a table refused the rows."""

    code = "population.load_failed"


RENKEI_USAGE: Final = "renkei.usage"
RENKEI_NO_BROKER: Final = "renkei.no_broker"
RENKEI_NO_DATABASE: Final = "renkei.no_database"
RENKEI_BAD_OFFICIAL: Final = "renkei.bad_official"  # officials add: a name or role refused
RENKEI_NO_NETWORK: Final = "renkei.no_network"
RENKEI_NO_CA: Final = "renkei.no_ca"
RENKEI_UNKNOWN_OFFICE: Final = "renkei.unknown_office"
RENKEI_UNKNOWN_IDENTITY: Final = "renkei.unknown_identity"
RENKEI_TOKEN_ROTATION: Final = "renkei.token_rotation"  # noqa: S105 — an error code
RENKEI_NOT_ENROLLED: Final = "renkei.not_enrolled"
RENKEI_BAD_DATE: Final = "renkei.bad_date"
RENKEI_BAD_PARAM: Final = "renkei.bad_param"
RENKEI_BAD_RECORD_ID: Final = "renkei.bad_record_id"
RENKEI_NO_SUCH_RECORD: Final = "renkei.no_such_record"
RENKEI_NO_RABBITMQ: Final = "renkei.no_rabbitmq"
RENKEI_PORT_IN_USE: Final = "renkei.port_in_use"
RENKEI_NODE_FAILED: Final = "renkei.node_failed"
RENKEI_RABBITMQCTL: Final = "renkei.rabbitmqctl"
RENKEI_CLUSTER: Final = "renkei.cluster"
RENKEI_SERVICE_FAILED: Final = "renkei.service_failed"
