"""The monitor's errors (root ``MonitorError``), the reasons it drops spans for, and the
console's refusals (each an HTTP status and a code, recorded in the console's action log)."""

from __future__ import annotations

__all__ = [
    "CONSOLE_BAD_REQUEST",
    "CONSOLE_CROSS_SITE",
    "CONSOLE_FORBIDDEN",
    "CONSOLE_NOT_FOUND",
    "CONSOLE_SIGN_IN_REFUSED",
    "CONSOLE_TOO_MANY",
    "CONSOLE_UNAUTHENTICATED",
    "MONITOR_UNKNOWN_SOURCE",
    "MONITOR_WRONG_SOURCE",
    "AckRefused",
    "AlertError",
    "AlreadyAcknowledged",
    "BadAck",
    "DeadLetterError",
    "MonitorError",
    "NoDeadLetter",
    "NotReplayable",
    "OfficialExists",
    "ReplayFailed",
    "RulesError",
    "StoreError",
    "UnknownAlert",
]

MONITOR_UNKNOWN_SOURCE = "monitor.unknown_source"
"""A span batch whose broker-vouched publisher is no identity of the network: dropped whole."""
MONITOR_WRONG_SOURCE = "monitor.wrong_source"
"""A span an identity may not send (an office's span named as the hub's): dropped."""

CONSOLE_BAD_REQUEST = "monitor.console.bad_request"
"""400: a malformed or oversized parameter or form (a search field, a trace id)."""
CONSOLE_UNAUTHENTICATED = "monitor.console.unauthenticated"
"""401 (or a redirect to the sign-in page): no live session."""
CONSOLE_FORBIDDEN = "monitor.console.forbidden"
"""403: the official's role may not see this page."""
CONSOLE_CROSS_SITE = "monitor.console.cross_site"
"""403: a POST from another origin, or without the session's CSRF token."""
CONSOLE_SIGN_IN_REFUSED = "monitor.console.sign_in_refused"
"""A sign-in refused: unknown name, wrong password, wrong or reused TOTP code (one message)."""
CONSOLE_TOO_MANY = "monitor.console.too_many"
"""429 with Retry-After: too many sign-in attempts from this client or for this name."""
CONSOLE_NOT_FOUND = "monitor.console.not_found"
"""404: no such page, or no such trace."""


class MonitorError(Exception):
    code = "monitor.error"


class StoreError(MonitorError):
    """The span store failed (PostgreSQL down): the batch's spans are dropped and counted."""

    code = "monitor.store"


class OfficialExists(MonitorError):
    """``renkei officials add`` for a name that has an account already."""

    code = "monitor.official_exists"


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


class DeadLetterError(MonitorError):
    """The root of the refusals a dead letter's replay can get."""

    code = "monitor.dead_letter"


class NoDeadLetter(DeadLetterError):
    """No message with that id waits in ``renkei.dead`` (replayed already, or never there)."""

    code = "monitor.no_dead_letter"


class NotReplayable(DeadLetterError):
    """The message may not be replayed: the broker did not dead-letter it (no ``x-death``),
    it has no broker-vouched sender, or its sender may not write its exchange itself."""

    code = "monitor.not_replayable"


class ReplayFailed(DeadLetterError):
    """The replay's publish failed (the broker refused or did not confirm it): the message
    stays in ``renkei.dead``."""

    code = "monitor.replay_failed"
