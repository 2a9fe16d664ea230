"""The tracing kit's errors (root ``TracingError``), each with its code."""

from __future__ import annotations

__all__ = ["BadBatch", "TracingError"]


class TracingError(Exception):
    code = "tracing.error"


class BadBatch(TracingError):
    """A span batch that is not one at all (not JSON, too large, too many spans): dropped
    whole and counted by the monitor."""

    code = "tracing.bad_batch"
