"""Broker URLs with several nodes: ``amqp://user:pass@host1:5672,host2:5672,host3:5672/vhost``.

Pure: no I/O. The authority may hold several ``host:port`` pairs, comma-separated, as libpq
takes them; everything else (scheme, login, vhost, query) is shared by every node. yarl
parses and quotes each node's URL, so a vhost of ``/``, an IPv6 host (``[::1]:5672``) or a
password with reserved characters round-trip.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from yarl import URL

__all__ = ["BrokerUrl"]

_SHAPE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>.*)",
    re.S,
)
_FORM = "like amqp://user:password@host1:5672,host2:5672/vhost"


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """One URL per node, equal but for host and port (:meth:`parse` makes them)."""

    nodes: tuple[URL, ...]

    @classmethod
    def parse(cls, text: str) -> BrokerUrl:
        """Split ``text`` into one URL per node. A ValueError says what is wrong without
        repeating the text (it holds a password)."""
        shape = _SHAPE.fullmatch(text.strip())
        if shape is None:
            raise ValueError(f"a broker URL needs a scheme and a host, {_FORM}")
        userinfo, at, hosts = shape["authority"].rpartition("@")
        nodes = []
        for number, host in enumerate(hosts.split(","), start=1):
            try:
                node = URL(f"{shape['scheme']}://{userinfo}{at}{host}{shape['rest']}")
            except ValueError as exc:
                raise ValueError(f"host {number} of the broker URL: {exc} ({_FORM})") from None
            if not node.host:
                raise ValueError(f"host {number} of the broker URL is empty ({_FORM})")
            nodes.append(node)
        return cls(tuple(nodes))

    def __str__(self) -> str:
        first = self.nodes[0]
        start = f"{first.scheme}://{first.raw_authority}"
        login, at, _ = first.raw_authority.rpartition("@")
        return f"{first.scheme}://{login}{at}{','.join(self.hosts)}{str(first)[len(start) :]}"

    @property
    def hosts(self) -> tuple[str, ...]:
        """``host:port`` of each node (IPv6 hosts in brackets), as written."""
        return tuple(node.host_port_subcomponent or "" for node in self.nodes)

    def redacted(self) -> str:
        """The URL with its password replaced by ``***`` (for messages and logs)."""
        return str(self._each(lambda n: n.with_password("***") if n.password else n))

    def with_login(self, user: str, password: str) -> BrokerUrl:
        return self._each(lambda n: n.with_user(user).with_password(password))

    def with_vhost(self, vhost: str) -> BrokerUrl:
        """The same nodes and login in ``vhost`` (quoted whole: ``/`` is ``%2F``)."""
        path = "/" + quote(vhost, safe="")
        return self._each(lambda n: n.with_path(path, encoded=True))

    def with_service(self, scheme: str, port: int) -> BrokerUrl:
        """Another service on the same hosts and login (``http``, 15672: the management API),
        with no path and no query."""
        return self._each(
            lambda n: n.with_scheme(scheme).with_port(port).with_path("").with_query(None)
        )

    def _each(self, change: Callable[[URL], URL]) -> BrokerUrl:
        return BrokerUrl(tuple(change(node) for node in self.nodes))
