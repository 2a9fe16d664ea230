"""Broker setup through the RabbitMQ management HTTP API: ``renkei broker setup``.

:func:`setup_broker` makes a vhost match a :class:`~hub.bus.topology.Topology`: the vhost,
one broker user per identity (no tags, so none can use the management UI; but the
``replayer`` has ``impersonator``, to send a dead letter back as its sender), their
permissions, each office user's connection and channel limits, the policies, and the
exchanges, queues and bindings (declared over AMQP as the admin). Every step is a PUT or a
declare, so running it twice is harmless.

The administrator gets permissions in the vhost only for the time of the declarations
(:func:`vhost_access`) and keeps none: no one but the network's own identities can publish or
consume there. RabbitMQ's default user ``guest`` (password ``guest``, an administrator) is
left with no permissions in the vhost either; on a real broker the operator deletes ``guest``
or changes its password (``hub/bus/README.md``).

The dead-letter queue ``renkei.dead`` gets the policy ``renkei-dead``: at most 1,000,000
messages or 1 GiB, overflow ``reject-publish``. Rejecting rather than dropping the oldest
keeps every dead letter: explicit dead-letter publishes then fail (and the delivery is
retried), and the broker's at-least-once dead-lettering holds messages in their source
queue until there is room. An operator drains ``renkei.dead`` as the ``monitor`` identity.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from hub.bus.amqp import connect_amqp
from hub.bus.amqp_topology import declare_topology
from hub.bus.exceptions import BrokerAdminError, BusError
from hub.bus.topology import Topology
from hub.bus.urls import BrokerUrl

__all__ = [
    "BrokerNode",
    "QueueReplicas",
    "SetupReport",
    "broker_nodes",
    "delete_users",
    "delete_vhost",
    "purge_queues",
    "queue_replicas",
    "setup_broker",
    "vhost_access",
]

GUEST = "guest"  # RabbitMQ's default administrator, password "guest"
_FULL = {"configure": ".*", "write": ".*", "read": ".*"}


@dataclass(frozen=True, slots=True)
class SetupReport:
    vhost: str
    vhost_created: bool
    users: tuple[str, ...]
    policies: tuple[str, ...]
    exchanges: int
    queues: int
    bindings: int
    nodes: int  # the broker's nodes: with more than one, every queue is a quorum queue


@dataclass(frozen=True, slots=True)
class BrokerNode:
    name: str
    running: bool


@dataclass(frozen=True, slots=True)
class QueueReplicas:
    """Where a queue lives: a quorum queue's leader, members and the members online; a
    classic queue's one node (its leader and only member, online while the queue runs)."""

    name: str
    quorum: bool
    leader: str | None
    members: tuple[str, ...]
    online: tuple[str, ...]


_QUEUE_COLUMNS = "name,type,node,leader,members,online,state"


def _q(name: str) -> str:
    return quote(name, safe="")


class _Api:
    """A thin client of the management API: JSON in, status checked, clear errors out. With
    several hosts (a cluster's nodes, comma-separated as in a broker URL) it asks the first
    that answers, and stays with it."""

    def __init__(self, admin_url: str, timeout: float) -> None:
        self.broker = BrokerUrl.parse(admin_url)
        first = self.broker.nodes[0]
        self.user = first.user or GUEST
        self.password = first.password or GUEST
        self._bases = [
            str(node.with_user(None).with_path("").with_query(None)).rstrip("/") + "/api/"
            for node in self.broker.nodes
        ]
        self._at = 0
        self._auth = {"Authorization": aiohttp.encode_basic_auth(self.user, self.password)}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> _Api:
        self._session = aiohttp.ClientSession(headers=self._auth, timeout=self._timeout)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self, method: str, path: str, body: Any = None, *, missing_ok: bool = False
    ) -> int:
        return (await self._call(method, path, body, missing_ok=missing_ok))[0]

    async def get(self, path: str) -> Any:
        """The JSON of ``GET /api/{path}``."""
        return (await self._call("GET", path, None, read=True))[1]

    async def _call(
        self, method: str, path: str, body: Any, *, missing_ok: bool = False, read: bool = False
    ) -> tuple[int, Any]:
        assert self._session is not None
        unreachable = []
        for _ in self._bases:
            base = self._bases[self._at]
            try:
                async with self._session.request(
                    method, URL(base + path, encoded=True), json=body
                ) as resp:
                    if resp.status == 404 and missing_ok:
                        return 404, None
                    if resp.status >= 400:
                        detail = (await resp.text())[:300]
                        raise BrokerAdminError(
                            f"the management API refused {method} /api/{path}: {resp.status} "
                            f"{detail}"
                        )
                    return resp.status, (await resp.json() if read else None)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                unreachable.append(f"{base} ({exc!r})")
                self._at = (self._at + 1) % len(self._bases)
        raise BrokerAdminError(
            f"the management API is unreachable at {', '.join(unreachable)}; is the "
            "rabbitmq_management plugin enabled and the broker running?"
        )


async def setup_broker(
    admin_url: str,
    vhost: str,
    topology: Topology,
    passwords: Mapping[str, str],
    *,
    amqp_url: str | None = None,
    timeout: float = 30.0,  # noqa: ASYNC109 - one budget for each HTTP request
) -> SetupReport:
    """Create or update ``vhost`` to match ``topology``.

    ``admin_url``: the management API with an administrator's credentials, e.g.
    ``http://guest:guest@127.0.0.1:15672``. ``passwords``: one per topology identity.
    ``amqp_url``: where to declare over AMQP (default: the admin's hosts, port 5672); its
    credentials and path are replaced by the admin's and ``vhost``.

    On a cluster (the management API lists more than one node) every queue is declared a
    quorum queue (:meth:`Topology.replicated`), replicated on every node.
    """
    missing = sorted(set(topology.identities) - set(passwords))
    if missing:
        raise ValueError(f"no password given for broker users {missing}")
    async with _Api(admin_url, timeout) as api:
        nodes = len(await api.get("nodes"))
        if nodes > 1:
            topology = topology.replicated()
        v = _q(vhost)
        created = await api.request("PUT", f"vhosts/{v}", {}) == 201
        for perm in topology.permissions:
            tags = "impersonator" if perm.identity in topology.impersonators else ""
            user = {"password": passwords[perm.identity], "tags": tags}
            await api.request("PUT", f"users/{_q(perm.identity)}", user)
            rights = {"configure": perm.configure, "write": perm.write, "read": perm.read}
            await api.request("PUT", f"permissions/{v}/{_q(perm.identity)}", rights)
        for limits in topology.user_limits:
            for name, value in limits.definition.items():
                path = f"user-limits/{_q(limits.identity)}/{name}"
                await api.request("PUT", path, {"value": value})
        for policy in topology.policies:
            body = {
                "pattern": policy.pattern,
                "definition": dict(policy.definition),
                "priority": policy.priority,
                "apply-to": policy.apply_to,
            }
            await api.request("PUT", f"policies/{v}/{_q(policy.name)}", body)
        async with _access(api, vhost):
            await _declare(api, vhost, topology, amqp_url)
        if api.user != GUEST and GUEST not in topology.identities:
            await api.request("DELETE", f"permissions/{v}/{GUEST}", missing_ok=True)
    return SetupReport(
        vhost=vhost,
        vhost_created=created,
        users=topology.identities,
        policies=tuple(p.name for p in topology.policies),
        exchanges=len(topology.exchanges),
        queues=len(topology.queues),
        bindings=len(topology.bindings),
        nodes=nodes,
    )


async def _declare(api: _Api, vhost: str, topology: Topology, amqp_url: str | None) -> None:
    base = BrokerUrl.parse(amqp_url) if amqp_url else api.broker.with_service("amqp", 5672)
    url = str(base.with_login(api.user, api.password).with_vhost(vhost))
    try:
        bus = await connect_amqp(url, identity=api.user)
        try:
            await declare_topology(bus, topology)
        finally:
            await bus.close()
    except BusError as exc:
        raise BrokerAdminError(f"declaring the topology in vhost {vhost!r} failed: {exc}") from exc


@asynccontextmanager
async def _access(api: _Api, vhost: str) -> AsyncIterator[None]:
    v = _q(vhost)
    await api.request("PUT", f"permissions/{v}/{_q(api.user)}", _FULL)
    try:
        yield
    finally:
        await api.request("DELETE", f"permissions/{v}/{_q(api.user)}", missing_ok=True)


@asynccontextmanager
async def vhost_access(
    admin_url: str,
    vhost: str,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - one budget for each HTTP request
) -> AsyncIterator[None]:
    """The administrator's full permissions in ``vhost`` for the time of the block (to purge
    or inspect its queues over AMQP); removed afterwards, as :func:`setup_broker` leaves it.
    Not re-entrant: the first block to end removes them."""
    async with _Api(admin_url, timeout) as api, _access(api, vhost):
        yield


async def delete_vhost(admin_url: str, vhost: str, *, timeout: float = 30.0) -> bool:  # noqa: ASYNC109
    """Delete ``vhost`` and everything in it; False if it did not exist."""
    async with _Api(admin_url, timeout) as api:
        return await api.request("DELETE", f"vhosts/{_q(vhost)}", missing_ok=True) != 404


async def delete_users(admin_url: str, users: Iterable[str], *, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    async with _Api(admin_url, timeout) as api:
        for user in users:
            await api.request("DELETE", f"users/{_q(user)}", missing_ok=True)


async def purge_queues(
    admin_url: str,
    vhost: str,
    queues: Iterable[str],
    *,
    timeout: float = 30.0,  # noqa: ASYNC109
) -> None:
    """Drop the ready messages of ``queues`` (tests start from empty queues this way)."""
    async with _Api(admin_url, timeout) as api, _access(api, vhost):
        for queue in queues:
            await api.request("DELETE", f"queues/{_q(vhost)}/{_q(queue)}/contents")


async def queue_depths(
    admin_url: str,
    vhost: str,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109
) -> dict[str, int]:
    """Messages in each queue of ``vhost`` (ready and unacknowledged), as the management API
    counts them (its statistics lag by a few seconds): what a replay plots."""
    async with _Api(admin_url, timeout) as api:
        queues = await api.get(f"queues/{_q(vhost)}?columns=name,messages")
    return {q["name"]: int(q.get("messages") or 0) for q in queues}


async def peek_messages(
    admin_url: str,
    vhost: str,
    queue: str,
    *,
    count: int = 10_000,
    timeout: float = 30.0,  # noqa: ASYNC109
) -> list[dict[str, Any]]:
    """The first ``count`` messages of ``queue`` with their properties and headers (bodies cut
    to 2,000 bytes), left in the queue (a get that requeues them): how a replay lists the dead
    letters it caused without taking them from the operator."""
    body = {"count": count, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 2000}
    async with _Api(admin_url, timeout) as api, _access(api, vhost):
        status, got = await api._call(
            "POST", f"queues/{_q(vhost)}/{_q(queue)}/get", body, missing_ok=True, read=True
        )
    return [] if status == 404 or not got else list(got)


async def broker_nodes(admin_url: str, *, timeout: float = 30.0) -> tuple[BrokerNode, ...]:  # noqa: ASYNC109
    """The broker's nodes (a cluster's members, stopped ones too), by name."""
    async with _Api(admin_url, timeout) as api:
        nodes = await api.get("nodes")
    found = (BrokerNode(n["name"], bool(n.get("running"))) for n in nodes)
    return tuple(sorted(found, key=lambda n: n.name))


async def queue_replicas(
    admin_url: str,
    vhost: str,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109
) -> tuple[QueueReplicas, ...]:
    """Each queue of ``vhost``, by name, with its replicas (what ``renkei cluster status``
    shows, and what a test checks after a node was lost)."""
    async with _Api(admin_url, timeout) as api:
        queues = await api.get(
            f"queues/{_q(vhost)}?columns=name,type,node,leader,members,online,state"
        )
    out = []
    for q in queues:
        if q.get("type") == "quorum":
            members, online = q.get("members") or [], q.get("online") or []
            out.append(
                QueueReplicas(q["name"], True, q.get("leader"), tuple(members), tuple(online))
            )
        else:
            node = q.get("node")
            up = (node,) if node and q.get("state") == "running" else ()
            out.append(QueueReplicas(q["name"], False, node, (node,) if node else (), up))
    return tuple(sorted(out, key=lambda r: r.name))
