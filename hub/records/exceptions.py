"""The records package's errors: one root, each class with a stable wire code."""

from __future__ import annotations

__all__ = [
    "ChainBroken",
    "ConfigError",
    "InvalidRecord",
    "RecordNotFound",
    "RecordWriteError",
    "RecordsError",
    "RoleError",
    "SchemaError",
    "UnsignedHead",
    "WitnessError",
    "WriterClosed",
]


class RecordsError(Exception):
    """Root of every error raised by `hub.records`."""

    code = "records.error"


class InvalidRecord(RecordsError, ValueError):
    """A draft record is malformed (unknown outcome, naive time, wrong digest length ...)."""

    code = "records.invalid"


class RecordNotFound(RecordsError, LookupError):
    """No access record has the given record id."""

    code = "records.not_found"


class ChainBroken(RecordsError):
    """The stored chain does not verify (raised by callers that demand a valid chain)."""

    code = "records.chain_broken"


class UnsignedHead(RecordsError):
    """The chain's head is covered by no valid seal or checkpoint of the hub: someone appended
    without the hub's key (or removed records after it).  The hub will not seal over it."""

    code = "records.unsigned_head"


class WitnessError(RecordsError):
    """A witness file cannot be read or holds a line that is not a checkpoint."""

    code = "records.witness"


class RecordWriteError(RecordsError):
    """A batch could not be made durable; every caller in that batch receives one of these.

    The underlying failure is chained as ``__cause__``.
    """

    code = "records.write_failed"


class WriterClosed(RecordsError):
    """`RecordWriter.record` was called after `close()`."""

    code = "records.writer_closed"


class ConfigError(RecordsError, ValueError):
    """A store or writer was built with a setting it cannot work with."""

    code = "records.config"


class SchemaError(ConfigError):
    """The PostgreSQL schema name is not a plain lower-case identifier."""

    code = "records.schema"


class RoleError(ConfigError):
    """The role named to write the records could do more than append (or does not exist)."""

    code = "records.role"
