"""Prometheus metrics of one process: counters and histograms the services feed through one-line
hooks, exposed by ``renkei`` at ``GET /metrics`` when a metrics port is set.

One `Metrics` per process (``METRICS``), on a `CollectorRegistry` of its own — never
prometheus_client's global one — so every role in one process (``renkei demo``) shares it
without colliding. Off by default: every hook returns at once until ``enable()``.

Labels carry only office codes, affairs, items, outcomes and the monitor's rule names, each
checked against an allow-list (``allow``: the registry's office codes, the legal table's
affairs and items, the anomaly rules' names; the wire's outcome statuses): a value not on
it — an office that names an affair of its own, a number, a token, a name — is counted as
``other``, so no label can carry what the request carried. Children are cached per label
tuple (no per-message label parsing).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from hub.wire import OUTCOME_STATUSES

__all__ = ["CONTENT_TYPE", "HOPS", "METRICS", "OTHER", "OUTCOMES", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
OTHER = "other"
# the wire's outcome statuses, which the token service's answers share
OUTCOMES = OUTCOME_STATUSES
# where time goes: the hub from a request's arrival to its reply, one call to the token service, one
# access record from its draft to durable (the record writer's lag), an office's own ask
HOPS = ("hub", "token", "records", "ask")
SETTLED = ("ack", "requeue", "reject", "dead_letter")
HTTP = ("served", "refused", "malformed")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_NULL = contextlib.nullcontext()


class Metrics:
    """Every metric of a process; ``enabled`` False makes every hook a no-op."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.enabled = False
        self._offices: frozenset[str] = frozenset()
        self._affairs: frozenset[str] = frozenset()
        self._rules: frozenset[str] = frozenset()
        r = self.registry
        self._queries = Counter(
            "renkei_queries",
            "Requests the hub finished (first outcome only), by requester, provider, affair, "
            "outcome",
            ("requester", "provider", "affair", "outcome"),
            registry=r,
        )
        self._hop = Histogram(
            "renkei_hop_seconds", "Time spent per hop", ("hop",), buckets=_BUCKETS, registry=r
        )
        self._in_flight = Gauge(
            "renkei_hop_in_flight",
            "Work inside a hop now (records: drafts not yet durable, the record writer's lag)",
            ("hop",),
            registry=r,
        )
        self._translations = Counter(
            "renkei_token_translations",
            "Token translations the hub asked for, by outcome",
            ("outcome",),
            registry=r,
        )
        self._published = Counter("renkei_bus_published", "Messages published", registry=r)
        self._settled = Counter(
            "renkei_bus_settled", "Deliveries settled, by how", ("outcome",), registry=r
        )
        self._http = Counter(
            "renkei_metrics_requests",
            "Requests to the metrics endpoint: served, refused (not GET /metrics), malformed",
            ("outcome",),
            registry=r,
        )
        self._alerts = Counter(
            "renkei_alerts_raised",
            "The monitor's anomaly findings, by rule (a repeat of an open alert counts too)",
            ("rule",),
            registry=r,
        )
        self._acks = Counter(
            "renkei_alerts_acknowledged",
            "Alerts an auditor acknowledged, by rule",
            ("rule",),
            registry=r,
        )
        self._hops = {h: (self._hop.labels(h), self._in_flight.labels(h)) for h in HOPS}
        self._settles = {s: self._settled.labels(s) for s in SETTLED}
        self._https = {h: self._http.labels(h) for h in HTTP}
        self._query_children: dict[tuple[str, str, str, str], Counter] = {}
        self._translation_children = {o: self._translations.labels(o) for o in (*OUTCOMES, OTHER)}

    def enable(self) -> None:
        self.enabled = True

    def allow(
        self, *, offices: Iterable[str], affairs: Iterable[str], rules: Iterable[str] = ()
    ) -> None:
        """The label values that may appear: the registry's offices, the table's affairs, the
        monitor's anomaly rules."""
        self._offices = frozenset(offices)
        self._affairs = frozenset(affairs)
        self._rules = frozenset(rules) or self._rules

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # the hooks: each one line at its call site, each free when disabled

    def finished(
        self, requester: str, provider: str, affair: str, outcome: str, seconds: float
    ) -> None:
        """The hub recorded and replied to a request."""
        if not self.enabled:
            return
        key = (
            requester if requester in self._offices else OTHER,
            provider if provider in self._offices else OTHER,
            affair if affair in self._affairs else OTHER,
            outcome if outcome in OUTCOMES else OTHER,
        )
        child = self._query_children.get(key)
        if child is None:
            child = self._query_children[key] = self._queries.labels(*key)
        child.inc()
        self._hops["hub"][0].observe(seconds)

    def observe(self, hop: str, seconds: float) -> None:
        """A hop timed by its caller (an office's ``ask``)."""
        if self.enabled:
            self._hops[hop][0].observe(seconds)

    def translated(self, outcome: str) -> None:
        if self.enabled:
            self._translation_children.get(outcome, self._translation_children[OTHER]).inc()

    def published(self, messages: int = 1) -> None:
        """Messages published (a bundle's items each)."""
        if self.enabled:
            self._published.inc(messages)

    def settled(self, how: str) -> None:
        """A delivery acked, requeued, rejected (dead-lettered by the broker) or dead-lettered
        by its consumer (``dead_letter``)."""
        if self.enabled:
            self._settles[how].inc()

    def alert_raised(self, rule: str) -> None:
        """The monitor's anomaly engine found something (a new alert or a repeat)."""
        if self.enabled:
            self._alerts.labels(rule if rule in self._rules else OTHER).inc()

    def alert_acknowledged(self, rule: str) -> None:
        if self.enabled:
            self._acks.labels(rule if rule in self._rules else OTHER).inc()

    def http(self, outcome: str) -> None:
        """A request to the metrics endpoint (always counted: it only runs when enabled)."""
        self._https[outcome].inc()

    def hop(self, name: str) -> contextlib.AbstractContextManager[None]:
        """``with METRICS.hop("token"): …`` — its duration observed, in flight meanwhile."""
        if not self.enabled:
            return _NULL
        return self._timed(name)

    @contextlib.contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        seconds, in_flight = self._hops[name]
        in_flight.inc()
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds.observe(time.perf_counter() - start)
            in_flight.dec()


METRICS = Metrics()
