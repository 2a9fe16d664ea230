"""The monitor: a participant on the bus that collects every process's spans and keeps them.

Imports the kit (``hub.bus``, ``hub.tracing``, ``hub.log``), no service. See
``monitor/README.md``.
"""

from monitor.collector import Collector, CollectorStats, may_send
from monitor.exceptions import MonitorError, StoreError
from monitor.model import Operation, Search, StoredSpan, iso
from monitor.operations import operations
from monitor.pg import PgSpanStore
from monitor.store import MemorySpanStore, SpanStore

__all__ = [
    "Collector",
    "CollectorStats",
    "MemorySpanStore",
    "MonitorError",
    "Operation",
    "PgSpanStore",
    "Search",
    "SpanStore",
    "StoreError",
    "StoredSpan",
    "iso",
    "may_send",
    "operations",
]
