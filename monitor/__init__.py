"""The monitor: a participant on the bus that collects every process's spans and keeps them,
verifies the access-record chain as it is written, and runs the anomaly rules over the
records for the oversight (alerts, deduplicated, acknowledged by an auditor).

Imports the kit (``hub.bus``, ``hub.tracing``, ``hub.log``, ``hub.metrics``) and reads the
hub's access records (``hub.records``: its verifier), no other service. See
``monitor/README.md``.
"""

from monitor.alerts import Alert, AlertStore, IsAuditor, MemoryAlertStore
from monitor.alerts_pg import PgAlertStore
from monitor.anomaly import Access, Engine, Finding, Rules, load_rules
from monitor.chain import ChainState, ChainWatch
from monitor.collector import Collector, CollectorStats, may_send
from monitor.deadletters import DeadLetter, DeadLetters
from monitor.exceptions import (
    AckRefused,
    AlertError,
    AlreadyAcknowledged,
    BadAck,
    DeadLetterError,
    MonitorError,
    NoDeadLetter,
    NotReplayable,
    ReplayFailed,
    RulesError,
    StoreError,
    UnknownAlert,
)
from monitor.model import Operation, Search, StoredSpan, iso
from monitor.operations import operations
from monitor.oversight import Oversight, accesses
from monitor.pg import PgSpanStore
from monitor.store import MemorySpanStore, SpanStore

__all__ = [
    "Access",
    "AckRefused",
    "Alert",
    "AlertError",
    "AlertStore",
    "AlreadyAcknowledged",
    "BadAck",
    "ChainState",
    "ChainWatch",
    "Collector",
    "CollectorStats",
    "DeadLetter",
    "DeadLetterError",
    "DeadLetters",
    "Engine",
    "Finding",
    "IsAuditor",
    "MemoryAlertStore",
    "MemorySpanStore",
    "MonitorError",
    "NoDeadLetter",
    "NotReplayable",
    "Operation",
    "Oversight",
    "PgAlertStore",
    "PgSpanStore",
    "ReplayFailed",
    "Rules",
    "RulesError",
    "Search",
    "SpanStore",
    "StoreError",
    "StoredSpan",
    "UnknownAlert",
    "accesses",
    "iso",
    "load_rules",
    "may_send",
    "operations",
]
