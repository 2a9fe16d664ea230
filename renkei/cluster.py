"""The layout of ``renkei cluster``: three RabbitMQ nodes and the services on one machine.

Pure: names, ports, folders, the nodes' configuration and every process's environment are
computed from the cluster's folder and its base port; ``cluster_commands.py`` does the I/O.
Node N (1–3, or node 1 alone) listens on 127.0.0.1 only: AMQP ``base+N``, the management API
``base+N+10000``, Erlang distribution ``base+N+20000`` (RabbitMQ's own rule for its default
ports), so the machine's default RabbitMQ (5672, 15672, 25672) and the cluster live side by
side. The token service's channel for the hubs is ``base+4`` on 127.0.0.1.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from yarl import URL

__all__ = [
    "ADMIN",
    "ENABLED_PLUGINS",
    "MANIFEST",
    "NODES",
    "READY",
    "VHOST",
    "Cluster",
    "Manifest",
    "Node",
    "Service",
]

NODES = 3
VHOST = "renkei"
MANIFEST = "cluster.json"
ADMIN = ("guest", "guest")  # each node's default administrator, reachable from loopback only
# RabbitMQ's enabled_plugins file is an Erlang term; management serves `renkei broker setup`
ENABLED_PLUGINS = "[rabbitmq_management].\n"
READY = "running on"  # what `renkei run` prints once the service serves


@dataclass(frozen=True, slots=True)
class Node:
    number: int
    name: str  # the Erlang node name, e.g. renkei-5681@localhost
    amqp: int
    management: int
    dist: int
    folder: Path

    @property
    def pid_file(self) -> Path:
        return self.folder / "pid"

    @property
    def log(self) -> Path:
        """What the node prints while it starts (its own logs are under ``log/``)."""
        return self.folder / "startup.log"

    def config(self) -> str:
        """Its rabbitmq.conf: the management API on loopback, the message size cap
        ``hub/bus/README.md`` asks of every broker of the network, and quorum queue leaders
        spread over the nodes (by default each would lead on the node that declared it: all
        on one, since ``broker setup`` declares them all on one connection)."""
        return (
            "management.tcp.ip = 127.0.0.1\n"
            f"management.tcp.port = {self.management}\n"
            "max_message_size = 262144\n"
            "queue_leader_locator = balanced\n"
        )

    def env(self, cookie_home: Path) -> dict[str, str]:
        """The RABBITMQ_* variables of this node (for rabbitmq-server and for rabbitmqctl).
        ``HOME`` holds the cluster's Erlang cookie (``.erlang.cookie``): RabbitMQ 3.10's
        server and CLI read it there. The machine's own files (/etc/rabbitmq) are not read;
        every listener is on 127.0.0.1."""
        f = self.folder
        return {
            "HOME": str(cookie_home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp),
            "RABBITMQ_DIST_PORT": str(self.dist),
            "RABBITMQ_MNESIA_BASE": str(f / "mnesia"),
            "RABBITMQ_LOG_BASE": str(f / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_CONFIG_FILE": str(f / "rabbitmq.conf"),
            "RABBITMQ_CONFIG_FILES": str(f / "conf.d"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(f / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(f / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(f / "enabled_plugins"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            # epmd, if no Erlang node started it yet, on loopback too (it outlives the cluster)
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }


@dataclass(frozen=True, slots=True)
class Service:
    """One ``renkei run`` process: ``hub-1``, ``token``, ``office-jlis``…"""

    name: str
    args: tuple[str, ...]


@dataclass(slots=True)
class Manifest:
    """What ``up`` chose and started, kept in ``<folder>/cluster.json`` for status and down."""

    base_port: int
    postgres: str  # the server's URL whose user creates and drops the cluster's database
    offices: tuple[str, ...]
    hubs: int
    joined: bool = False
    pids: dict[str, int] = field(default_factory=dict)  # service name → pid
    nodes: int = NODES  # RabbitMQ nodes (one: a private broker, as ``bench/faults.py`` runs)

    def dumps(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def loads(cls, text: str) -> Manifest:
        raw = json.loads(text)
        raw["offices"] = tuple(raw["offices"])
        return cls(**raw)


@dataclass(frozen=True, slots=True)
class Cluster:
    folder: Path  # absolute: it is the mark of the cluster's own processes
    manifest: Manifest

    @property
    def nodes(self) -> tuple[Node, ...]:
        base = self.manifest.base_port
        return tuple(
            Node(
                n,
                f"renkei-{base + n}@localhost",
                amqp=base + n,
                management=base + n + 10000,
                dist=base + n + 20000,
                folder=self.folder / f"rabbit-{n}",
            )
            for n in range(1, self.manifest.nodes + 1)
        )

    @property
    def services(self) -> tuple[Service, ...]:
        hubs = tuple(Service(f"hub-{n}", ("run", "hub")) for n in range(1, self.manifest.hubs + 1))
        offices = tuple(Service(f"office-{c}", ("run", "office", c)) for c in self.manifest.offices)
        return (Service("token", ("run", "token")), *hubs, *offices)

    @property
    def token_port(self) -> int:
        """The token service's channel (the hubs connect to it), after the nodes' AMQP ports."""
        return self.manifest.base_port + NODES + 1

    @property
    def database(self) -> str:
        return f"renkei_cluster_{self.manifest.base_port}"

    @property
    def broker_url(self) -> str:
        """Every node, as the services are told (``RENKEI_BROKER_URL``)."""
        return _on_every_node("amqp", [node.amqp for node in self.nodes]) + "/"

    @property
    def admin_url(self) -> str:
        """Every node's management API (``RENKEI_BROKER_ADMIN_URL``)."""
        return _on_every_node("http", [node.management for node in self.nodes])

    @property
    def db_url(self) -> str:
        return str(URL(self.manifest.postgres).with_path(f"/{self.database}"))

    @property
    def state_dir(self) -> Path:
        return self.folder / "state"

    def settings_env(self) -> dict[str, str]:
        """The RENKEI_* variables of every renkei process of the cluster (services, and the
        ``init``, ``broker setup`` and ``db migrate`` that ``up`` runs first)."""
        return {
            "RENKEI_BROKER_URL": self.broker_url,
            "RENKEI_BROKER_ADMIN_URL": self.admin_url,
            "RENKEI_BROKER_VHOST": VHOST,
            "RENKEI_DB_URL": self.db_url,
            "RENKEI_STATE_DIR": str(self.state_dir),
            "RENKEI_WITNESS_DIR": str(self.folder / "witness"),
            "RENKEI_TOKEN_ADDRESS": f"127.0.0.1:{self.token_port}",
        }

    def log_of(self, service: Service) -> Path:
        return self.folder / "logs" / f"{service.name}.log"


def _on_every_node(scheme: str, ports: list[int]) -> str:
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    return f"{scheme}://{ADMIN[0]}:{ADMIN[1]}@{hosts}"
