"""The network's broker topology as plain data: exchanges, queues, bindings, permissions.

Pure: no I/O. :func:`network_topology` builds it from the list of office codes; the AMQP side
declares it (:func:`hub.bus.amqp.declare_topology`, :func:`hub.bus.admin.setup_broker`) and
the in-process broker (:class:`hub.bus.memory.InMemoryBroker`) is built from the same value,
so both buses route, refuse and dead-letter alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = [
    "ALERTS_EXCHANGE",
    "ALERTS_MAX_LENGTH",
    "ALERTS_QUEUE",
    "DEAD_QUEUE",
    "DLX_EXCHANGE",
    "HUB_EXCHANGE",
    "HUB_INTERACTIVE",
    "HUB_REPLIES",
    "HUB_REQUESTS",
    "INBOX_MAX_BYTES",
    "INBOX_MAX_LENGTH",
    "INTERACTIVE_EXCHANGE",
    "MONITOR_SPANS",
    "OFFICES_EXCHANGE",
    "OFFICE_CODE",
    "OFFICE_MAX_CHANNELS",
    "OFFICE_MAX_CONNECTIONS",
    "REPLAYABLE",
    "REQUEST_KEYS",
    "RK_CHANGE",
    "RK_ENROLL",
    "RK_IDENTIFY",
    "RK_NOTICE",
    "RK_QUERY",
    "RK_REPLY",
    "SPANS_EXCHANGE",
    "SPANS_MAX_BYTES",
    "SPANS_MAX_LENGTH",
    "Binding",
    "Exchange",
    "Permission",
    "Policy",
    "Queue",
    "Topology",
    "UserLimits",
    "network_topology",
    "office_in",
    "office_replies",
    "validate_office_code",
]

HUB_EXCHANGE = "renkei.hub"
OFFICES_EXCHANGE = "renkei.offices"
DLX_EXCHANGE = "renkei.dlx"
HUB_REQUESTS = "hub.requests"
HUB_REPLIES = "hub.replies"
# the interactive lane: requests of the offices whose class is interactive (the portal, a clerk's
# desk), in a queue of their own that the hub serves first; only those offices may write it
INTERACTIVE_EXCHANGE = "renkei.interactive"
HUB_INTERACTIVE = "hub.interactive"
DEAD_QUEUE = "renkei.dead"
SPANS_EXCHANGE = "renkei.spans"  # every identity's spans, in batches, for the monitor
MONITOR_SPANS = "monitor.spans"
ALERTS_EXCHANGE = "monitor.alerts"  # the monitor's anomaly alerts: only the monitor writes here
ALERTS_QUEUE = "oversight.alerts"  # the oversight's feed of them (the monitor's user reads it)
RK_QUERY = "query"
RK_ENROLL = "enroll"
RK_REPLY = "reply"
RK_CHANGE = "change"
RK_IDENTIFY = "identify"  # the portal: who holds this authentication certificate
RK_NOTICE = "notice"  # an office's notice to a resident, for the portal
REQUEST_KEYS = (RK_QUERY, RK_ENROLL, RK_CHANGE, RK_IDENTIFY, RK_NOTICE)  # on either lane

OFFICE_CODE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
RESERVED = frozenset({"hub", "token", "monitor", "replayer"})
REPLAYABLE = r"^(renkei\.hub|renkei\.interactive|renkei\.offices)$"
"""The exchanges a dead letter may be replayed to (the ``replayer``'s write permission); a
replay goes there only if its original sender may write the exchange itself."""
DEAD_MAX_LENGTH = 1_000_000
DEAD_MAX_BYTES = 1 << 30
INBOX_MAX_LENGTH = 200_000
"""What the hub's inbound queues (``hub.requests``, ``hub.interactive``, ``hub.replies``) hold at
most: about
seven minutes of a claim season's peak with no hub worker running; past it, or past
:data:`INBOX_MAX_BYTES`, publishers get ``Rejected`` (publisher nacks) instead of the broker
filling its disk."""
INBOX_MAX_BYTES = 512 << 20
SPANS_MAX_LENGTH = 10_000
"""Span batches ``monitor.spans`` holds at most (about a minute of a claim season's peak with
the monitor down); past it, or past :data:`SPANS_MAX_BYTES`, the broker refuses more
(``reject-publish``) and each process drops and counts its spans."""
SPANS_MAX_BYTES = 256 << 20
ALERTS_MAX_LENGTH = 10_000
"""Alerts ``oversight.alerts`` holds at most; past it the broker refuses more and the monitor
counts them (every alert is in the monitor's store as well)."""
OFFICE_MAX_CONNECTIONS = 16
"""Connections one office's broker user may hold (a bus is one connection)."""
OFFICE_MAX_CHANNELS = 128
"""Channels one office's broker user may hold in all (a bus uses one, plus one per
subscription: three for an office)."""

ArgValue = str | int
DELIVERY_LIMIT = 5
"""Deliveries of a message that failed before the broker dead-letters it (the work queues')."""


@dataclass(frozen=True, slots=True)
class Exchange:
    name: str
    type: Literal["direct", "fanout"]
    durable: bool = True


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    quorum: bool = True
    arguments: Mapping[str, ArgValue] = field(default_factory=dict)

    @property
    def declare_arguments(self) -> dict[str, ArgValue]:
        """The ``x-`` arguments to declare the queue with (queue type included)."""
        args: dict[str, ArgValue] = {"x-queue-type": "quorum"} if self.quorum else {}
        args.update(self.arguments)
        return args

    @property
    def delivery_limit(self) -> int | None:
        limit = self.arguments.get("x-delivery-limit")
        return limit if isinstance(limit, int) else None

    @property
    def dead_letter_exchange(self) -> str | None:
        dlx = self.arguments.get("x-dead-letter-exchange")
        return dlx if isinstance(dlx, str) else None


@dataclass(frozen=True, slots=True)
class Binding:
    exchange: str
    queue: str
    routing_key: str


@dataclass(frozen=True, slots=True)
class Permission:
    """RabbitMQ permissions of one identity (broker user) in the vhost: regexes matched
    against exchange names (write), queue names (read) and names it may declare (configure).
    The default exchange is named ``amq.default`` here, as RabbitMQ checks it."""

    identity: str
    configure: str
    write: str
    read: str

    def may_write(self, exchange: str) -> bool:
        return re.search(self.write, exchange or "amq.default") is not None

    def may_read(self, queue: str) -> bool:
        return re.search(self.read, queue) is not None


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    pattern: str
    definition: Mapping[str, ArgValue]
    apply_to: Literal["queues", "exchanges", "all"] = "queues"
    priority: int = 0


@dataclass(frozen=True, slots=True)
class UserLimits:
    """RabbitMQ per-user limits of one identity (totals across all its connections)."""

    identity: str
    max_connections: int
    max_channels: int

    @property
    def definition(self) -> dict[str, int]:
        """As the management API names them (``/api/user-limits/{user}/{name}``)."""
        return {"max-connections": self.max_connections, "max-channels": self.max_channels}


@dataclass(frozen=True, slots=True)
class Topology:
    exchanges: tuple[Exchange, ...]
    queues: tuple[Queue, ...]
    bindings: tuple[Binding, ...]
    permissions: tuple[Permission, ...]
    policies: tuple[Policy, ...] = ()
    offices: tuple[str, ...] = ()
    identity_prefix: str = ""
    user_limits: tuple[UserLimits, ...] = ()
    impersonators: tuple[str, ...] = ()
    """Identities with RabbitMQ's ``impersonator`` tag: they may publish with another
    user's ``user_id`` (the ``replayer``, sending a dead letter back as its sender)."""

    @property
    def identities(self) -> tuple[str, ...]:
        return tuple(p.identity for p in self.permissions)

    @property
    def hub_identity(self) -> str:
        return f"{self.identity_prefix}hub"

    @property
    def token_identity(self) -> str:
        return f"{self.identity_prefix}token"

    @property
    def monitor_identity(self) -> str:
        return f"{self.identity_prefix}monitor"

    @property
    def replayer_identity(self) -> str:
        return f"{self.identity_prefix}replayer"

    def office_identity(self, office: str) -> str:
        if office not in self.offices:
            raise KeyError(f"office {office!r} is not in this topology")
        return f"{self.identity_prefix}{office}"

    def office_of(self, user_id: str | None) -> str | None:
        """The office code a broker-vouched ``user_id`` belongs to, or None (hub, token,
        monitor, unknown)."""
        if user_id is None or not user_id.startswith(self.identity_prefix):
            return None
        code = user_id[len(self.identity_prefix) :]
        return code if code in self.offices else None

    def permission(self, identity: str) -> Permission | None:
        for perm in self.permissions:
            if perm.identity == identity:
                return perm
        return None

    def queue(self, name: str) -> Queue | None:
        for queue in self.queues:
            if queue.name == name:
                return queue
        return None

    def replicated(self) -> Topology:
        """The same topology with every queue a quorum queue, for a cluster of RabbitMQ nodes:
        a classic queue (``oversight.alerts``) lives on one node and is down with it."""
        queues = tuple(replace(queue, quorum=True) for queue in self.queues)
        return replace(self, queues=queues)


def validate_office_code(code: str) -> str:
    if not OFFICE_CODE.fullmatch(code):
        raise ValueError(
            f"office code {code!r} must be lowercase letters and digits in dash-separated "
            "words (like 'tax-osaka' or '131016')"
        )
    if code in RESERVED:
        raise ValueError(f"office code {code!r} is reserved for a network service")
    return code


def office_in(code: str) -> str:
    """The queue (and routing key on ``renkei.offices``) of messages to office ``code``."""
    return f"office.{code}.in"


def office_replies(code: str) -> str:
    """The queue (and routing key on ``renkei.offices``) of replies to office ``code``."""
    return f"office.{code}.replies"


def network_topology(
    offices: Iterable[str],
    *,
    delivery_limit: int = DELIVERY_LIMIT,
    identity_prefix: str = "",
    inbox_max_length: int = INBOX_MAX_LENGTH,
    inbox_max_bytes: int = INBOX_MAX_BYTES,
    office_connections: int = OFFICE_MAX_CONNECTIONS,
    office_channels: int = OFFICE_MAX_CHANNELS,
    interactive: Iterable[str] = (),
) -> Topology:
    """The whole network: see ``hub/bus/README.md`` for the table.

    ``identity_prefix`` prefixes every broker user name (RabbitMQ users are global to the
    broker, so tests on a shared broker use a unique prefix; production leaves it empty).
    ``inbox_max_*`` bound the hub's inbound queues; ``office_*`` are each office user's
    connection and channel limits. ``interactive``: the offices that may write the
    interactive lane (``renkei.interactive`` → ``hub.interactive``, which the hub serves first):
    the broker refuses any other office's publish there (``AccessRefused``).
    """
    codes = tuple(validate_office_code(c) for c in offices)
    if len(set(codes)) != len(codes):
        raise ValueError("office codes must be unique")
    fast = frozenset(interactive)
    if not fast <= set(codes):
        raise ValueError(f"interactive offices not in the network: {sorted(fast - set(codes))}")
    if delivery_limit < 0:
        raise ValueError("delivery_limit must be >= 0")
    bounds = (inbox_max_length, inbox_max_bytes, office_connections, office_channels)
    if min(bounds) < 1:
        raise ValueError("the inbox bounds and the office limits must be >= 1")
    work_args: dict[str, ArgValue] = {
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": DLX_EXCHANGE,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    p = identity_prefix

    def work(name: str) -> Queue:
        return Queue(name, arguments=dict(work_args))

    exchanges = (
        Exchange(HUB_EXCHANGE, "direct"),
        Exchange(INTERACTIVE_EXCHANGE, "direct"),
        Exchange(OFFICES_EXCHANGE, "direct"),
        Exchange(DLX_EXCHANGE, "fanout"),
        Exchange(SPANS_EXCHANGE, "fanout"),
        Exchange(ALERTS_EXCHANGE, "fanout"),
    )
    # monitor.spans is a classic queue without dead-lettering, taking transient messages:
    # spans are telemetry, dropped (and counted by their senders) rather than kept at a cost
    spans_queue = Queue(MONITOR_SPANS, quorum=False)
    # oversight.alerts: classic, durable, bounded; alerts are kept in the monitor's store too
    alerts_queue = Queue(ALERTS_QUEUE, quorum=False)
    queues = [
        work(HUB_REQUESTS),
        work(HUB_INTERACTIVE),
        work(HUB_REPLIES),
        Queue(DEAD_QUEUE),
        spans_queue,
        alerts_queue,
    ]
    bindings = [
        *(Binding(HUB_EXCHANGE, HUB_REQUESTS, key) for key in REQUEST_KEYS),
        *(Binding(INTERACTIVE_EXCHANGE, HUB_INTERACTIVE, key) for key in REQUEST_KEYS),
        Binding(HUB_EXCHANGE, HUB_REPLIES, RK_REPLY),
        Binding(DLX_EXCHANGE, DEAD_QUEUE, ""),
        Binding(SPANS_EXCHANGE, MONITOR_SPANS, ""),
        Binding(ALERTS_EXCHANGE, ALERTS_QUEUE, ""),
    ]
    permissions = [
        Permission(
            f"{p}hub",
            configure="^$",
            write=r"^(renkei\.offices|renkei\.dlx|renkei\.spans)$",
            read=r"^hub\.(requests|interactive|replies)$",
        ),
        # the token service answers the hub over a channel of its own (token_service/README.md):
        # on the broker it only sends its spans
        Permission(f"{p}token", configure="^$", write=r"^renkei\.spans$", read="^$"),
        Permission(
            f"{p}monitor",
            configure="^$",
            write=r"^monitor\.alerts$",
            read=r"^(renkei\.dead|monitor\.spans|oversight\.alerts)$",
        ),
        # the dead-letter replay (monitor/README.md): takes a message out of renkei.dead and
        # publishes it back, as its original sender (the impersonator tag), to its original
        # exchange — only one of these, and only one its sender may write itself
        Permission(f"{p}replayer", configure="^$", write=REPLAYABLE, read=r"^renkei\.dead$"),
    ]
    for code in codes:
        for name in (office_in(code), office_replies(code)):
            queues.append(work(name))
            bindings.append(Binding(OFFICES_EXCHANGE, name, name))
        lane = r"|renkei\.interactive" if code in fast else ""
        permissions.append(
            Permission(
                f"{p}{code}",
                configure="^$",
                write=rf"^(renkei\.hub{lane}|renkei\.dlx|renkei\.spans)$",
                read=rf"^office\.{code}\.(in|replies)$",  # code is [a-z0-9-]: no escaping
            )
        )
    dead_policy = Policy(
        "renkei-dead",
        pattern=r"^renkei\.dead$",
        definition={
            "max-length": DEAD_MAX_LENGTH,
            "max-length-bytes": DEAD_MAX_BYTES,
            "overflow": "reject-publish",
        },
    )
    inbox_policy = Policy(
        "renkei-inbox",
        pattern=r"^hub\.(requests|interactive|replies)$",
        definition={
            "max-length": inbox_max_length,
            "max-length-bytes": inbox_max_bytes,
            "overflow": "reject-publish",
        },
    )
    spans_policy = Policy(
        "renkei-spans",
        pattern=r"^monitor\.spans$",
        definition={
            "max-length": SPANS_MAX_LENGTH,
            "max-length-bytes": SPANS_MAX_BYTES,
            "overflow": "reject-publish",
        },
    )
    alerts_policy = Policy(
        "renkei-alerts",
        pattern=r"^oversight\.alerts$",
        definition={"max-length": ALERTS_MAX_LENGTH, "overflow": "reject-publish"},
    )
    limits = tuple(UserLimits(f"{p}{code}", office_connections, office_channels) for code in codes)
    return Topology(
        exchanges=exchanges,
        queues=tuple(queues),
        bindings=tuple(bindings),
        permissions=tuple(permissions),
        policies=(dead_policy, inbox_policy, spans_policy, alerts_policy),
        offices=codes,
        identity_prefix=p,
        user_limits=limits,
        impersonators=(f"{p}replayer",),
    )
