"""Broker setup through the RabbitMQ management HTTP API: ``renkei broker setup``.

:func:`setup_broker` makes a vhost match a :class:`~hub.bus.topology.Topology`: the vhost,
one broker user per identity (no tags: they cannot use the management UI), their
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

__all__ = [
    "SetupReport",
    "delete_users",
    "delete_vhost",
    "purge_queues",
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


def _q(name: str) -> str:
    return quote(name, safe="")


class _Api:
    """A thin client of the management API: JSON in, status checked, clear errors out."""

    def __init__(self, admin_url: str, timeout: float) -> None:
        url = URL(admin_url)
        if not url.host:
            raise ValueError("admin_url needs a host, like http://guest:guest@127.0.0.1:15672")
        self.user = url.user or "guest"
        self.password = url.password or "guest"
        self.host = url.host
        self.base = str(url.with_user(None).with_path("").with_query(None)).rstrip("/") + "/api/"
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
        assert self._session is not None
        url = URL(self.base + path, encoded=True)
        try:
            async with self._session.request(method, url, json=body) as resp:
                if resp.status == 404 and missing_ok:
                    return 404
                if resp.status >= 400:
                    detail = (await resp.text())[:300]
                    raise BrokerAdminError(
                        f"the management API refused {method} /api/{path}: {resp.status} {detail}"
                    )
                return resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise BrokerAdminError(
                f"the management API at {self.base} is unreachable ({exc!r}); is the "
                "rabbitmq_management plugin enabled and the broker running?"
            ) from exc


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
    ``amqp_url``: where to declare over AMQP (default: the admin's host, port 5672); its
    credentials and path are replaced by the admin's and ``vhost``.
    """
    missing = sorted(set(topology.identities) - set(passwords))
    if missing:
        raise ValueError(f"no password given for broker users {missing}")
    async with _Api(admin_url, timeout) as api:
        v = _q(vhost)
        created = await api.request("PUT", f"vhosts/{v}", {}) == 201
        for perm in topology.permissions:
            user = {"password": passwords[perm.identity], "tags": ""}
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
    )


async def _declare(api: _Api, vhost: str, topology: Topology, amqp_url: str | None) -> None:
    base = URL(amqp_url) if amqp_url else URL.build(scheme="amqp", host=api.host, port=5672)
    target = base.with_user(api.user).with_password(api.password)
    url = str(target.with_path("")) + "/" + _q(vhost)
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
