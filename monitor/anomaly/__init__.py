"""Anomaly rules as data (``rules.toml``) and the pure engine that applies them to the hub's
access records: see ``monitor/README.md``, "Anomaly rules"."""

from monitor.anomaly.config import JST, Rules, Season, load_rules
from monitor.anomaly.engine import CHAIN_SUBJECT, ChainView, Engine
from monitor.anomaly.model import Access, Fact, Finding, pseudonym

__all__ = [
    "CHAIN_SUBJECT",
    "JST",
    "Access",
    "ChainView",
    "Engine",
    "Fact",
    "Finding",
    "Rules",
    "Season",
    "load_rules",
    "pseudonym",
]
