"""The monitor's errors (root ``MonitorError``) and the reasons it drops spans for."""

from __future__ import annotations

__all__ = [
    "MONITOR_UNKNOWN_SOURCE",
    "MONITOR_WRONG_SOURCE",
    "MonitorError",
    "RulesError",
    "StoreError",
]

MONITOR_UNKNOWN_SOURCE = "monitor.unknown_source"
"""A span batch whose broker-vouched publisher is no identity of the network: dropped whole."""
MONITOR_WRONG_SOURCE = "monitor.wrong_source"
"""A span an identity may not send (an office's span named as the hub's): dropped."""


class MonitorError(Exception):
    code = "monitor.error"


class StoreError(MonitorError):
    """The span store failed (PostgreSQL down): the batch's spans are dropped and counted."""

    code = "monitor.store"


class RulesError(MonitorError):
    """The anomaly rules file is malformed: the monitor refuses to start on it."""

    code = "monitor.bad_rules"
