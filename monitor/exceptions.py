"""The monitor's errors (root ``MonitorError``) and the reasons it drops spans for."""

from __future__ import annotations

__all__ = [
    "MONITOR_UNKNOWN_SOURCE",
    "MONITOR_WRONG_SOURCE",
    "AckRefused",
    "AlertError",
    "AlreadyAcknowledged",
    "BadAck",
    "MonitorError",
    "RulesError",
    "StoreError",
    "UnknownAlert",
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


class AlertError(MonitorError):
    """The root of the refusals an acknowledgement can get."""

    code = "monitor.alert"


class BadAck(AlertError):
    """A malformed acknowledgement: not an alert id, no or an unprintable name, a naive time."""

    code = "monitor.bad_ack"


class UnknownAlert(AlertError):
    """No alert has that id."""

    code = "monitor.unknown_alert"


class AckRefused(AlertError):
    """Only an auditor may acknowledge an alert."""

    code = "monitor.ack_refused"


class AlreadyAcknowledged(AlertError):
    """The alert was acknowledged before (by whom and when: in the message)."""

    code = "monitor.already_acknowledged"
